"""Depth image -> organised sensor_msgs/PointCloud2 (xyz or xyzrgb), vectorised with numpy.

The cloud keeps the image layout (height x width, one point per pixel, NaN where there is no
depth, ``is_dense = False``) like depth_image_proc's point_cloud_xyz(rgb), so a consumer can go
from a pixel to its point. Coordinates are in the camera's optical frame (REP 103: x right,
y down, z forward), in metres. Colour uses the PCL convention RViz expects: one float32 field
``rgb`` whose bits are the packed ``0x00RRGGBB`` integer.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .geometry import CameraIntrinsics

#: sensor_msgs/PointField datatype code for float32.
POINTFIELD_FLOAT32 = 7
_XYZ = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
POINT_DTYPE_XYZ = np.dtype(_XYZ)
#: ``rgb`` holds the packed bits as uint32 so no float operation can touch them (denormal flushing);
#: the PointField still says FLOAT32, as PCL and RViz expect.
POINT_DTYPE_XYZRGB = np.dtype([*_XYZ, ("rgb", "<u4")])


@dataclass(frozen=True)
class PointCloudBuffer:
    """The payload fields of a sensor_msgs/PointCloud2 (``fields`` as (name, offset, datatype, count))."""

    height: int
    width: int
    fields: tuple[tuple[str, int, int, int], ...]
    is_bigendian: bool
    point_step: int
    row_step: int
    data: bytes
    is_dense: bool


def depth_to_points(depth_m: np.ndarray, intrinsics: CameraIntrinsics, rgb: np.ndarray | None = None) -> np.ndarray:
    """Back-project float metres (0 = invalid) to an (H, W) structured array of x, y, z [, rgb].

    Pixels without depth get NaN coordinates. ``intrinsics`` must describe this image size.
    """
    depth_m = np.asarray(depth_m, dtype=np.float32)
    if depth_m.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {depth_m.shape}")
    height, width = depth_m.shape
    if (intrinsics.width, intrinsics.height) != (width, height):
        raise ValueError(
            f"intrinsics are for {intrinsics.width}x{intrinsics.height} but the depth image is {width}x{height}"
        )
    if rgb is not None and (rgb.dtype != np.uint8 or rgb.shape != (height, width, 3)):
        raise ValueError(f"colour must be uint8 ({height}, {width}, 3) like the depth, got {rgb.dtype} {rgb.shape}")
    z = np.where(depth_m > 0, depth_m, np.float32(np.nan))
    ray_x = ((np.arange(width, dtype=np.float32) - np.float32(intrinsics.cx)) / np.float32(intrinsics.fx))[None, :]
    ray_y = ((np.arange(height, dtype=np.float32) - np.float32(intrinsics.cy)) / np.float32(intrinsics.fy))[:, None]
    points = np.empty((height, width), POINT_DTYPE_XYZ if rgb is None else POINT_DTYPE_XYZRGB)
    points["x"] = z * ray_x
    points["y"] = z * ray_y
    points["z"] = z
    if rgb is not None:
        points["rgb"] = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    return points


def pointcloud_buffer(points: np.ndarray) -> PointCloudBuffer:
    """Describe an (H, W) structured array from :func:`depth_to_points` as PointCloud2 fields."""
    if points.ndim != 2 or points.dtype not in (POINT_DTYPE_XYZ, POINT_DTYPE_XYZRGB):
        raise ValueError(f"expected (H, W) points from depth_to_points, got {points.dtype} {points.shape}")
    height, width = points.shape
    layout = points.dtype.fields
    assert layout is not None  # one of the structured point dtypes, checked above
    fields = tuple((name, layout[name][1], POINTFIELD_FLOAT32, 1) for name in layout)
    point_step = points.dtype.itemsize
    return PointCloudBuffer(
        height=height,
        width=width,
        fields=fields,
        is_bigendian=False,  # the dtypes above are little-endian on every host
        point_step=point_step,
        row_step=point_step * width,
        data=np.ascontiguousarray(points).tobytes(),
        is_dense=False,
    )


def fill_pointcloud2_msg(msg: Any, buffer: PointCloudBuffer, point_field: Callable[..., Any]) -> Any:
    """Copy ``buffer`` into a PointCloud2 message in place (header untouched) and return it.

    ``point_field`` is the PointField message class of the same library as ``msg`` (rclpy or
    rosbags), so this works for live topics and for bag files alike.
    """
    msg.height = buffer.height
    msg.width = buffer.width
    msg.fields = [
        point_field(name=name, offset=offset, datatype=datatype, count=count)
        for name, offset, datatype, count in buffer.fields
    ]
    msg.is_bigendian = buffer.is_bigendian
    msg.point_step = buffer.point_step
    msg.row_step = buffer.row_step
    msg.data = buffer.data
    msg.is_dense = buffer.is_dense
    return msg
