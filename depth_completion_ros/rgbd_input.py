"""One depth (+ colour, + camera_info) input checked and decoded for completion, or rejected with a reason.

The checks a node applies to every received pair, kept apart from the ROS wiring so that any
adapter (the node, a bag tool) rejects the same inputs for the same, named reasons.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .geometry import CameraIntrinsics, resize_color
from .ros_image import ImageEncodingError, color_from_msg, depth_from_msg

#: Why an input was rejected; :attr:`InputRejected.source` says which input ("" = the pair).
INPUT_REJECT_REASONS = (
    "bad_depth_image",
    "bad_color_image",
    "size_mismatch",
    "empty_depth",
    "bad_camera_info",
    "camera_info_mismatch",
)


class InputRejected(ValueError):  # noqa: N818 - named like sync.StampRejected: a verdict on input
    """An input that must not be completed: ``reason`` (one of the reject reasons) and the input at fault."""

    def __init__(self, reason: str, source: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        #: "depth", "color" or "camera_info"; "" when the pair as a whole is at fault.
        self.source = source


def intrinsics_from_camera_info(msg: Any) -> CameraIntrinsics:
    """The intrinsics of a camera_info, or InputRejected ``bad_camera_info``: a K that is not 3x3, focal
    lengths that are not finite and positive, a principal point that is not finite, or no image size."""
    try:
        intrinsics = CameraIntrinsics.from_camera_info(msg)
    except (ValueError, IndexError, TypeError) as exc:
        raise InputRejected("bad_camera_info", "camera_info", str(exc)) from exc
    values = (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy)
    if not all(math.isfinite(value) for value in values):
        raise InputRejected(
            "bad_camera_info", "camera_info",
            f"K must be finite, got fx={intrinsics.fx}, fy={intrinsics.fy}, cx={intrinsics.cx}, cy={intrinsics.cy}",
        )
    return intrinsics


def decode_rgbd(
    depth_msg: Any,
    color_msg: Any | None,
    intrinsics: CameraIntrinsics | None,
    *,
    min_depth: float = 0.0,
    max_depth: float = float("inf"),
    resize_color_to_depth: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Depth (float32 m, 0 = hole) and colour (uint8 RGB or None) of an input that passes every check.

    The depth is sanitised with ``min_depth``/``max_depth``: a completer with the same range takes it
    with ``complete(depth, rgb, sanitized=True)`` and makes no second pass over it.

    Rejected (InputRejected): an undecodable image, depth without one valid pixel, colour of
    another size (unless ``resize_color_to_depth``, valid only for colour registered to the
    depth view) and ``intrinsics`` for another image size.
    """
    try:
        depth = depth_from_msg(depth_msg, min_depth=min_depth, max_depth=max_depth)
    except ImageEncodingError as exc:
        raise InputRejected("bad_depth_image", "depth", str(exc)) from exc
    height, width = depth.shape
    if not (depth > 0).any():
        raise InputRejected("empty_depth", "depth", f"no valid pixel in the {width}x{height} image")
    rgb = None
    if color_msg is not None:
        try:
            rgb = color_from_msg(color_msg)
        except ImageEncodingError as exc:
            raise InputRejected("bad_color_image", "color", str(exc)) from exc
        if rgb.shape[:2] != depth.shape:
            if not resize_color_to_depth:
                raise InputRejected(
                    "size_mismatch", "",
                    f"colour is {rgb.shape[1]}x{rgb.shape[0]} but depth is {width}x{height} (use a depth image "
                    f"registered to the colour camera, or set resize_color:=true if it already is)",
                )
            rgb = resize_color(rgb, width, height)
    if intrinsics is not None and (intrinsics.width, intrinsics.height) != (width, height):
        raise InputRejected(
            "camera_info_mismatch", "camera_info",
            f"is for {intrinsics.width}x{intrinsics.height} but depth is {width}x{height} "
            f"(is it the camera_info of this depth stream?)",
        )
    return depth, rgb
