"""sensor_msgs/Image buffers <-> numpy, without cv_bridge and without per-element Python.

Works on any object with the Image fields (``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``): rclpy messages, ``rosbags`` messages, or a plain
:class:`ImageBuffer`. Decoding views the message buffer directly (``np.frombuffer`` with the
message's row ``step`` as stride, padded or not), honours byte order, and rejects truncated
buffers. rgb8 colour comes back as that read-only view, without a copy; the other encodings are
converted once (OpenCV's colour conversions, several times faster than numpy's channel
indexing: 8 ms -> under 1 ms for a 1920x1080 frame). Depth is converted to float metres, a new
array, in one step from the wire values, byte-swapped or not.

Encoding returns ``bytes`` (one copy of the encoded pixels): an rclpy message copies ``bytes``
into its ``data`` array at memcpy speed, while an ndarray would be converted element by element
(~250x slower). Reusing output buffers from frame to frame was measured not to matter here: a
4 MiB copy or allocation costs under 0.1 ms (1920x1080 16UC1, 2 cores), while converting metres to
millimetres costs several ms, and rclpy copies whatever it is given anyway.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .depth_io import depth_to_units, sanitize_depth

#: Depth encodings: (numpy dtype, units per metre or None for metres).
DEPTH_ENCODINGS: dict[str, tuple[np.dtype, float | None]] = {
    "16UC1": (np.dtype(np.uint16), 1000.0),
    "mono16": (np.dtype(np.uint16), 1000.0),
    "32FC1": (np.dtype(np.float32), None),
}
#: Colour encodings: (channels, OpenCV conversion to RGB or None, conversion from RGB or None).
COLOR_ENCODINGS: dict[str, tuple[int, int | None, int | None]] = {
    "rgb8": (3, None, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB, cv2.COLOR_RGB2BGR),
    "rgba8": (4, cv2.COLOR_RGBA2RGB, cv2.COLOR_RGB2RGBA),
    "bgra8": (4, cv2.COLOR_BGRA2RGB, cv2.COLOR_RGB2BGRA),
    "mono8": (1, cv2.COLOR_GRAY2RGB, None),
}
#: mono8 encoding weights (ITU-R BT.601 in 1/256): grey = (77 R + 150 G + 29 B) >> 8.
MONO_WEIGHTS = np.array([77, 150, 29], np.uint16)


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
    """A read-only (H, W, C) view of the message buffer in the wire byte order, rows ``step`` apart."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageEncodingError(f"image has no pixels ({width}x{height})")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageEncodingError(
            f"step {step} is smaller than a row of {width} {msg.encoding} pixels ({row_bytes} bytes)"
        )
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
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<") if dtype.itemsize > 1 else dtype
    # A step that is not a multiple of the pixel size gives an unaligned view: numpy handles it.
    pixels = np.ndarray(
        (height, width, channels), wire, buffer[:needed], strides=(step, channels * wire.itemsize, wire.itemsize)
    )
    pixels.flags.writeable = False
    return pixels


def depth_from_msg(msg: Any, min_depth: float = 0.0, max_depth: float = float("inf")) -> np.ndarray:
    """Decode a depth Image (16UC1/mono16 millimetres or 32FC1 metres) to new float32 metres, 0 = invalid.

    The conversion reads the wire values in place (padded rows and byte-swapped values
    included): it is the only pass over the pixels.
    """
    try:
        dtype, scale = DEPTH_ENCODINGS[msg.encoding]
    except KeyError:
        raise ImageEncodingError(
            f"unsupported depth encoding {msg.encoding!r} (expected one of {', '.join(DEPTH_ENCODINGS)})"
        ) from None
    raw = _pixels(msg, dtype, 1)[..., 0]
    return sanitize_depth(raw, scale=scale, min_depth=min_depth, max_depth=max_depth)


def color_from_msg(msg: Any) -> np.ndarray:
    """Decode a colour Image (rgb8, bgr8, rgba8, bgra8, mono8) to uint8 RGB (H, W, 3).

    rgb8 comes back as a read-only view of the message buffer (no copy; not C-contiguous when
    rows are padded); the other encodings as a new contiguous array.
    """
    try:
        channels, to_rgb, _ = COLOR_ENCODINGS[msg.encoding]
    except KeyError:
        raise ImageEncodingError(
            f"unsupported colour encoding {msg.encoding!r} (expected one of {', '.join(COLOR_ENCODINGS)})"
        ) from None
    pixels = _pixels(msg, np.dtype(np.uint8), channels)
    return pixels if to_rgb is None else cv2.cvtColor(pixels, to_rgb)


def depth_to_buffer(depth_m: np.ndarray, encoding: str = "16UC1") -> ImageBuffer:
    """Encode float metres as 16UC1/mono16 millimetres (0 invalid) or 32FC1 metres (NaN invalid, REP 118)."""
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2:
        raise ImageEncodingError(f"depth to encode must be 2-D, got shape {depth_m.shape}")
    if encoding not in DEPTH_ENCODINGS:
        raise ImageEncodingError(
            f"unsupported depth encoding {encoding!r} (expected one of {', '.join(DEPTH_ENCODINGS)})"
        )
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
        raise ImageEncodingError(
            f"unsupported colour encoding {encoding!r} (expected one of {', '.join(COLOR_ENCODINGS)})"
        )
    channels, _, from_rgb = COLOR_ENCODINGS[encoding]
    height, width = rgb.shape[:2]
    pixels: np.ndarray
    if channels == 1:
        pixels = (rgb.astype(np.uint16) @ MONO_WEIGHTS >> 8).astype(np.uint8)
    else:
        pixels = rgb if from_rgb is None else cv2.cvtColor(rgb, from_rgb)  # RGB -> RGBA sets alpha to 255
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
