"""sensor_msgs/Image buffers <-> numpy, without cv_bridge and without per-element Python.

Works on any object with the Image fields (``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``): rclpy messages, ``rosbags`` messages, or a plain
:class:`ImageBuffer`. Decoding views the message buffer directly (``np.frombuffer``), honours
row padding (``step``) and byte order, and rejects truncated buffers. Encoding returns
``bytes`` because assigning ``bytes`` to an rclpy ``data`` field is ~250x faster than
assigning an ndarray (docs/ros2.md).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .depth_io import depth_to_units, sanitize_depth

#: Depth encodings: (numpy dtype, units per metre or None for metres).
DEPTH_ENCODINGS: dict[str, tuple[np.dtype, float | None]] = {
    "16UC1": (np.dtype(np.uint16), 1000.0),
    "mono16": (np.dtype(np.uint16), 1000.0),
    "32FC1": (np.dtype(np.float32), None),
}
#: Colour encodings: (channels, channel order to RGB(A) indices).
COLOR_ENCODINGS: dict[str, tuple[int, tuple[int, ...]]] = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, (0, 0, 0)),
}


class ImageEncodingError(ValueError):
    """An Image message cannot be decoded: unsupported encoding, bad size, step or truncated data."""


@dataclass(frozen=True)
class ImageBuffer:
    """The payload fields of a sensor_msgs/Image, ready to copy into any message type."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: bytes


def _pixels(msg: Any, dtype: np.dtype, channels: int) -> np.ndarray:
    """View the message buffer as (H, W, C) of ``dtype``, honouring step and endianness."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageEncodingError(f"image has no pixels ({width}x{height})")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageEncodingError(f"step {step} is smaller than a row of {width} {msg.encoding} pixels ({row_bytes} bytes)")
    try:
        buffer = np.frombuffer(msg.data, dtype=np.uint8)
    except TypeError:  # a plain sequence of ints rather than a buffer
        buffer = np.asarray(msg.data, dtype=np.uint8)
    needed = step * (height - 1) + row_bytes
    if buffer.size < needed:
        raise ImageEncodingError(
            f"truncated image data: {buffer.size} bytes for {width}x{height} {msg.encoding} with step {step} "
            f"(needs {needed})"
        )
    rows = np.lib.stride_tricks.as_strided(buffer, shape=(height, row_bytes), strides=(step, 1), writeable=False)
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<") if dtype.itemsize > 1 else dtype
    pixels = rows.view(wire) if step == row_bytes else np.ascontiguousarray(rows).view(wire)
    if not wire.isnative:
        pixels = pixels.astype(dtype)
    return pixels.reshape(height, width, channels)


def depth_from_msg(msg: Any, min_depth: float = 0.0, max_depth: float = float("inf")) -> np.ndarray:
    """Decode a depth Image (16UC1/mono16 millimetres or 32FC1 metres) to float32 metres, 0 = invalid."""
    try:
        dtype, scale = DEPTH_ENCODINGS[msg.encoding]
    except KeyError:
        raise ImageEncodingError(
            f"unsupported depth encoding {msg.encoding!r} (expected one of {', '.join(DEPTH_ENCODINGS)})"
        ) from None
    raw = _pixels(msg, dtype, 1)[..., 0]
    return sanitize_depth(raw, scale=scale, min_depth=min_depth, max_depth=max_depth)


def color_from_msg(msg: Any) -> np.ndarray:
    """Decode a colour Image (rgb8, bgr8, rgba8, bgra8, mono8) to contiguous uint8 RGB (H, W, 3)."""
    try:
        channels, order = COLOR_ENCODINGS[msg.encoding]
    except KeyError:
        raise ImageEncodingError(
            f"unsupported colour encoding {msg.encoding!r} (expected one of {', '.join(COLOR_ENCODINGS)})"
        ) from None
    pixels = _pixels(msg, np.dtype(np.uint8), channels)
    return np.ascontiguousarray(pixels[..., list(order)])


def depth_to_buffer(depth_m: np.ndarray, encoding: str = "16UC1") -> ImageBuffer:
    """Encode float metres as 16UC1/mono16 millimetres (0 invalid) or 32FC1 metres (NaN invalid, REP 118)."""
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2:
        raise ImageEncodingError(f"depth to encode must be 2-D, got shape {depth_m.shape}")
    if encoding not in DEPTH_ENCODINGS:
        raise ImageEncodingError(f"unsupported depth encoding {encoding!r} (expected one of {', '.join(DEPTH_ENCODINGS)})")
    dtype, scale = DEPTH_ENCODINGS[encoding]
    if scale is None:
        values = depth_m.astype(np.float32, copy=True)
        values[~(values > 0)] = np.nan
    else:
        values = depth_to_units(depth_m, scale)
    height, width = values.shape
    return _buffer(values, encoding, height, width, dtype.itemsize)


def units_to_buffer(units: np.ndarray) -> ImageBuffer:
    """Encode 16-bit depth exactly as stored (e.g. a millimetre PNG, sentinels included) as 16UC1."""
    units = np.asarray(units)
    if units.ndim != 2 or units.dtype != np.uint16:
        raise ImageEncodingError(f"16-bit depth to encode must be uint16 (H, W), got {units.dtype} {units.shape}")
    height, width = units.shape
    return _buffer(units, "16UC1", height, width, 2)


def float_to_buffer(values: np.ndarray) -> ImageBuffer:
    """Encode any float map (e.g. a 0-1 confidence) as 32FC1 as it is: unlike depth, 0 stays 0."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ImageEncodingError(f"float image to encode must be 2-D, got shape {values.shape}")
    height, width = values.shape
    return _buffer(values, "32FC1", height, width, 4)


def color_to_buffer(rgb: np.ndarray, encoding: str = "rgb8") -> ImageBuffer:
    """Encode uint8 RGB (H, W, 3) as rgb8, bgr8, rgba8 (alpha 255), bgra8 or mono8."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageEncodingError(f"colour to encode must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    if encoding not in COLOR_ENCODINGS:
        raise ImageEncodingError(f"unsupported colour encoding {encoding!r} (expected one of {', '.join(COLOR_ENCODINGS)})")
    channels, order = COLOR_ENCODINGS[encoding]
    height, width = rgb.shape[:2]
    if channels == 1:
        pixels = (rgb.astype(np.uint16) @ np.array([77, 150, 29], np.uint16) >> 8).astype(np.uint8)
    else:
        pixels = np.empty((height, width, channels), np.uint8)
        pixels[..., list(order)] = rgb
        if channels == 4:
            pixels[..., 3] = 255
    return _buffer(pixels, encoding, height, width, channels)


def _buffer(pixels: np.ndarray, encoding: str, height: int, width: int, bytes_per_pixel: int) -> ImageBuffer:
    return ImageBuffer(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(sys.byteorder == "big"),
        step=width * bytes_per_pixel,
        data=np.ascontiguousarray(pixels).tobytes(),
    )


def fill_image_msg(msg: Any, buffer: ImageBuffer) -> Any:
    """Copy an :class:`ImageBuffer` into an Image message in place (header untouched) and return it."""
    msg.height = buffer.height
    msg.width = buffer.width
    msg.encoding = buffer.encoding
    msg.is_bigendian = buffer.is_bigendian
    msg.step = buffer.step
    msg.data = buffer.data
    return msg
