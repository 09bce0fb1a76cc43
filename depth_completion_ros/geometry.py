"""Camera intrinsics and hole-safe resizing/cropping of depth images.

Depth must never be interpolated across holes: a bilinear or area resize blends a valid
depth with the zeros of a hole and invents small fake depths along every hole border (the rim
artefact of Matterport3D's resized depth images, and one cause of the first prototype's REL 0.65).
Every resize here is nearest-neighbour or a valid-aware minimum, and every crop or resize
has a matching intrinsics update so published camera_info stays consistent.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

Box = tuple[int, int, int, int]  # x, y, width, height


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics (pixels) for an image of ``width`` x ``height``."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the conventional name
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, width: int, height: int) -> CameraIntrinsics:
        """Intrinsics of the same view resized to ``width`` x ``height`` (pixel-centre convention)."""
        sx, sy = width / self.width, height / self.height
        return CameraIntrinsics(
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
            width=int(width),
            height=int(height),
        )

    def cropped(self, x: int, y: int, width: int, height: int) -> CameraIntrinsics:
        """Intrinsics of the sub-image whose top-left corner is at (x, y)."""
        return replace(self, cx=self.cx - x, cy=self.cy - y, width=int(width), height=int(height))

    @classmethod
    def from_camera_info(cls, msg: Any) -> CameraIntrinsics:
        """From a sensor_msgs/CameraInfo (rclpy or rosbags); K is row-major 3x3."""
        k = [float(v) for v in msg.k]
        return cls(fx=k[0], fy=k[4], cx=k[2], cy=k[5], width=int(msg.width), height=int(msg.height))

    def camera_info_fields(self) -> dict[str, Any]:
        """Field values for a sensor_msgs/CameraInfo of an undistorted (rectified) image."""
        k = [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]
        return {
            "width": self.width,
            "height": self.height,
            "distortion_model": "plumb_bob",
            "d": [0.0] * 5,
            "k": k,
            "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            "p": [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0],
        }


def read_intrinsics(
    path: str | os.PathLike[str], width: int | None = None, height: int | None = None
) -> CameraIntrinsics:
    """Read intrinsics from a 3x3 matrix text file (7-Scenes), a flat YAML with fx/fy/cx/cy
    (ClearGrasp), or a ROS camera_info YAML (``camera_matrix.data``).

    Text matrices carry no image size, so ``width``/``height`` must be given for them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such intrinsics file")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc})") from exc
        if "camera_matrix" in data:
            k = [float(v) for v in data["camera_matrix"]["data"]]
            fx, fy, cx, cy = k[0], k[4], k[2], k[5]
            width = int(data.get("image_width", width or 0))
            height = int(data.get("image_height", height or 0))
        else:
            try:
                fx, fy, cx, cy = (float(data[key]) for key in ("fx", "fy", "cx", "cy"))
            except KeyError as exc:
                raise ValueError(f"{path}: missing intrinsics key {exc}") from exc
            width = int(data.get("xres", data.get("width", width or 0)))
            height = int(data.get("yres", data.get("height", height or 0)))
    else:
        try:
            matrix = np.loadtxt(path, dtype=np.float64).reshape(-1)
        except ValueError as exc:
            raise ValueError(f"{path}: expected a 3x3 matrix of numbers ({exc})") from exc
        if matrix.size != 9:
            raise ValueError(f"{path}: expected a 3x3 matrix, got {matrix.size} numbers")
        fx, fy, cx, cy = matrix[0], matrix[4], matrix[2], matrix[5]
    if not width or not height:
        raise ValueError(f"{path}: image size unknown; pass width and height")
    return CameraIntrinsics(
        fx=float(fx), fy=float(fy), cx=float(cx), cy=float(cy), width=int(width), height=int(height)
    )


def resize_depth(depth: np.ndarray, width: int, height: int, mode: str = "nearest") -> np.ndarray:
    """Resize depth (H, W) or (B, H, W) without blending valid depth with holes.

    ``nearest`` picks one source pixel per output pixel. ``min`` (for downsampling) takes the
    nearest valid surface in each output pixel's footprint, so thin structures and sparse
    measurements survive; a pixel is a hole only if its whole footprint is.
    """
    depth = np.asarray(depth)
    if depth.ndim == 3:
        return np.stack([resize_depth(d, width, height, mode) for d in depth])
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W) or (B, H, W), got shape {depth.shape}")
    if width <= 0 or height <= 0:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    src_h, src_w = depth.shape
    if (src_w, src_h) == (width, height):
        return depth.copy()
    if mode == "nearest":
        return cv2.resize(depth, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    if mode != "min":
        raise ValueError(f"unknown resize mode {mode!r} (use 'nearest' or 'min')")
    kx, ky = max(1, int(np.ceil(src_w / width))), max(1, int(np.ceil(src_h / height)))
    if kx == 1 and ky == 1:
        return cv2.resize(depth, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    big = np.iinfo(depth.dtype).max if np.issubdtype(depth.dtype, np.integer) else np.inf
    filled = np.where(depth > 0, depth, big).astype(depth.dtype)
    nearest_in_footprint = cv2.erode(filled, np.ones((ky, kx), np.uint8), borderType=cv2.BORDER_REPLICATE)
    resized = cv2.resize(nearest_in_footprint, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    resized[resized == big] = 0
    return resized


def resize_color(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize colour with area averaging when shrinking and bilinear when enlarging."""
    rgb = np.asarray(rgb)
    shrinking = width < rgb.shape[1] or height < rgb.shape[0]
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def fit_box(width: int, height: int, aspect: float) -> Box:
    """Largest centred box of ``aspect`` (= width / height) inside a ``width`` x ``height`` image.

    For the network's 320x256 (5:4) input a 1920x1080 frame gives a 1350x1080 box. (The first
    prototype cut 864x1080, which is 4:5 portrait: it did not match the landscape input.)
    """
    if aspect <= 0:
        raise ValueError(f"aspect ratio must be positive, got {aspect}")
    if width / height > aspect:
        box_w, box_h = round(height * aspect), height
    else:
        box_w, box_h = width, round(width / aspect)
    return (width - box_w) // 2, (height - box_h) // 2, box_w, box_h


def crop(image: np.ndarray, box: Box, batched: bool = False) -> np.ndarray:
    """Crop an (H, W) or (H, W, C) image, or with ``batched`` a (B, H, W[, C]) stack, to ``box``."""
    x, y, w, h = box
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise ValueError(f"invalid crop box {box}")
    rows, cols = (image.shape[1], image.shape[2]) if batched else image.shape[:2]
    if x + w > cols or y + h > rows:
        raise ValueError(f"crop box {box} exceeds the {cols}x{rows} image")
    return image[:, y : y + h, x : x + w] if batched else image[y : y + h, x : x + w]
