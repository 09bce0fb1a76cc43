"""sensor_msgs/Image conversions on raw buffers: every encoding, padding, byte order, bad input."""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import pytest

from depth_completion_ros.depth_io import sanitize_depth
from depth_completion_ros.ros_image import (
    ImageBuffer,
    ImageEncodingError,
    color_from_msg,
    color_to_buffer,
    depth_from_msg,
    depth_to_buffer,
    fill_image_msg,
    float_to_buffer,
    units_to_buffer,
)


@dataclass
class FakeImage:
    """The Image fields only: the conversions must not care which message class carries them."""

    height: int = 0
    width: int = 0
    encoding: str = ""
    is_bigendian: int = 0
    step: int = 0
    data: bytes = b""


def _msg(buffer: ImageBuffer) -> FakeImage:
    return fill_image_msg(FakeImage(), buffer)


@pytest.fixture
def depth():
    rng = np.random.default_rng(1)
    d = rng.uniform(0.2, 8.0, (7, 5)).astype(np.float32)
    d[rng.random(d.shape) < 0.3] = 0
    return d


@pytest.mark.parametrize("encoding, tolerance", [("16UC1", 5e-4), ("mono16", 5e-4), ("32FC1", 0.0)])
def test_depth_round_trip(depth, encoding, tolerance):
    buffer = depth_to_buffer(depth, encoding)
    assert buffer.step == 5 * (4 if encoding == "32FC1" else 2)
    back = depth_from_msg(_msg(buffer))
    np.testing.assert_array_equal(back > 0, depth > 0)
    assert np.abs(back - depth).max() <= tolerance + 1e-7


def test_32fc1_invalid_is_nan_on_the_wire(depth):
    wire = np.frombuffer(depth_to_buffer(depth, "32FC1").data, np.float32).reshape(depth.shape)
    assert np.isnan(wire[depth == 0]).all()


def test_depth_from_msg_sanitises_nan_inf_and_sentinel():
    values = np.array([[np.nan, np.inf, -1.0, 2.5]], np.float32)
    msg = FakeImage(1, 4, "32FC1", 0, 16, values.tobytes())
    np.testing.assert_array_equal(depth_from_msg(msg), [[0, 0, 0, 2.5]])
    mm = np.array([[65535, 1500, 0]], np.uint16)
    np.testing.assert_allclose(depth_from_msg(FakeImage(1, 3, "16UC1", 0, 6, mm.tobytes())), [[0, 1.5, 0]])


def test_step_padding_is_honoured():
    mm = np.arange(1, 13, dtype=np.uint16).reshape(3, 4) * 100
    padded = np.zeros((3, 6), np.uint16)  # 4 bytes of padding per row
    padded[:, :4] = mm
    msg = FakeImage(3, 4, "16UC1", 0, 12, padded.tobytes())
    np.testing.assert_allclose(depth_from_msg(msg), mm / 1000.0, rtol=1e-6)


def test_big_endian_buffers():
    mm = np.array([[1000, 2500]], dtype=">u2")
    np.testing.assert_allclose(depth_from_msg(FakeImage(1, 2, "16UC1", 1, 4, mm.tobytes())), [[1.0, 2.5]])
    metres = np.array([[1.25, 3.5]], dtype=">f4")
    np.testing.assert_allclose(depth_from_msg(FakeImage(1, 2, "32FC1", 1, 8, metres.tobytes())), [[1.25, 3.5]])


def test_encoder_reports_native_byte_order(depth):
    assert depth_to_buffer(depth).is_bigendian == int(sys.byteorder == "big")


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_color_round_trip(encoding):
    rgb = np.random.default_rng(2).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    back = color_from_msg(_msg(color_to_buffer(rgb, encoding)))
    np.testing.assert_array_equal(back, rgb)
    assert back.flags.c_contiguous


def test_bgr_channel_order_on_the_wire():
    rgb = np.zeros((1, 1, 3), np.uint8)
    rgb[0, 0] = (10, 20, 30)
    assert color_to_buffer(rgb, "bgr8").data == bytes([30, 20, 10])
    assert color_to_buffer(rgb, "bgra8").data == bytes([30, 20, 10, 255])


def test_mono8_expands_to_grey_rgb():
    msg = FakeImage(1, 2, "mono8", 0, 2, bytes([0, 200]))
    np.testing.assert_array_equal(color_from_msg(msg), [[[0, 0, 0], [200, 200, 200]]])


def test_plain_int_sequences_are_accepted():
    msg = FakeImage(1, 1, "16UC1", 0, 2, [0xE8, 0x03])  # 1000 little-endian
    np.testing.assert_allclose(depth_from_msg(msg), [[1.0]])


@pytest.mark.parametrize(
    "msg, message",
    [
        (FakeImage(2, 2, "16UC1", 0, 4, bytes(6)), "truncated"),
        (FakeImage(2, 2, "16UC1", 0, 2, bytes(8)), "step 2 is smaller"),
        (FakeImage(0, 2, "16UC1", 0, 4, b""), "no pixels"),
        (FakeImage(2, 2, "8UC1", 0, 2, bytes(4)), "unsupported depth encoding '8UC1'"),
        (FakeImage(2, 2, "rgb8", 0, 6, bytes(12)), "unsupported depth encoding 'rgb8'"),
    ],
)
def test_bad_depth_messages(msg, message):
    with pytest.raises(ImageEncodingError, match=message):
        depth_from_msg(msg)


def test_bad_color_messages():
    with pytest.raises(ImageEncodingError, match="unsupported colour encoding '16UC1'"):
        color_from_msg(FakeImage(1, 1, "16UC1", 0, 2, bytes(2)))
    with pytest.raises(ImageEncodingError, match="truncated"):
        color_from_msg(FakeImage(2, 2, "rgb8", 0, 6, bytes(11)))


def test_bad_encoder_inputs(depth):
    with pytest.raises(ImageEncodingError, match="2-D"):
        depth_to_buffer(depth[None])
    with pytest.raises(ImageEncodingError, match="unsupported depth encoding"):
        depth_to_buffer(depth, "8UC1")
    with pytest.raises(ImageEncodingError, match="uint8"):
        color_to_buffer(depth)


def test_real_rclpy_message_round_trip(generated_kitchen):
    sensor_msgs = pytest.importorskip("sensor_msgs.msg", reason="sensor_msgs (ROS 2) not installed")
    from depth_completion_ros.depth_io import read_depth

    depth = read_depth(generated_kitchen / "frame-000000.depth.png", scale=1000.0)
    msg = fill_image_msg(sensor_msgs.Image(), depth_to_buffer(depth, "16UC1"))
    assert (msg.height, msg.width, msg.step) == (480, 640, 1280)
    np.testing.assert_allclose(depth_from_msg(msg), depth, atol=5e-4)


def test_float_images_keep_zero():
    confidence = np.array([[0.0, 0.25], [1.0, 0.5]], np.float32)
    buffer = float_to_buffer(confidence)
    assert buffer.encoding == "32FC1" and buffer.step == 8
    np.testing.assert_array_equal(np.frombuffer(buffer.data, np.float32).reshape(2, 2), confidence)
    with pytest.raises(ImageEncodingError, match="2-D"):
        float_to_buffer(confidence[None])


def test_units_keep_every_stored_value(generated_kitchen):
    from depth_completion_ros.depth_io import UINT16_SENTINEL, read_depth_raw

    raw = read_depth_raw(generated_kitchen / "frame-000004.depth.png")  # a frame storing 65535 sentinels
    assert (raw == UINT16_SENTINEL).any()
    back = np.frombuffer(units_to_buffer(raw).data, np.uint16).reshape(raw.shape)
    np.testing.assert_array_equal(back, raw)  # sentinels and all, bit for bit
    with pytest.raises(ImageEncodingError, match="uint16"):
        units_to_buffer(raw.astype(np.float32))


# ---- zero-copy decoding and encoding, against a row-by-row reading of the wire bytes ---------------


def _padded_msg(pixels: np.ndarray, encoding: str, padding: int, big_endian: bool) -> FakeImage:
    """``pixels`` (H, W[, C]) on the wire as a camera driver might send them: rows ``padding`` bytes apart."""
    height, width = pixels.shape[:2]
    if pixels.dtype.itemsize > 1:
        pixels = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = [pixels[row].tobytes() + bytes(padding) for row in range(height)]
    row_bytes = len(rows[0]) - padding
    return FakeImage(height, width, encoding, int(big_endian), row_bytes + padding, b"".join(rows))


def _wire_rows(msg: FakeImage, dtype: str, channels: int) -> np.ndarray:
    """The message's pixels read the slow, obvious way: row by row, padding dropped, byte order applied."""
    row_bytes = msg.width * channels * np.dtype(dtype).itemsize
    data = bytes(msg.data)
    packed = b"".join(data[row * msg.step : row * msg.step + row_bytes] for row in range(msg.height))
    wire = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    return np.frombuffer(packed, wire).astype(dtype).reshape(msg.height, msg.width, channels)


#: 0: packed rows; 3: rows at odd offsets, so 16- and 32-bit pixels are unaligned; 64: a driver's alignment.
PADDINGS = (0, 3, 64)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("encoding", ["16UC1", "mono16", "32FC1"])
def test_depth_decoding_matches_a_row_by_row_reading(encoding, big_endian, padding):
    rng = np.random.default_rng(3)
    if encoding == "32FC1":
        values = rng.uniform(-1.0, 9.0, (6, 7)).astype(np.float32)
        values[rng.random(values.shape) < 0.2] = np.nan
        dtype, scale = "float32", None
    else:
        values = rng.integers(0, 65536, (6, 7)).astype(np.uint16)  # 0 and the 65535 sentinel included
        values[0, :2] = (0, 65535)
        dtype, scale = "uint16", 1000.0
    msg = _padded_msg(values, encoding, padding, big_endian)
    expected = sanitize_depth(_wire_rows(msg, dtype, 1)[..., 0], scale=scale, min_depth=0.3, max_depth=7.0)
    decoded = depth_from_msg(msg, min_depth=0.3, max_depth=7.0)
    assert decoded.dtype == np.float32 and decoded.dtype.isnative
    np.testing.assert_array_equal(decoded, expected)
    assert not np.shares_memory(decoded, np.frombuffer(msg.data, np.uint8)), "depth is converted, never aliased"


#: Each colour encoding as RGB, read from its wire channels.
TO_RGB = {
    "rgb8": lambda p: p,
    "bgr8": lambda p: p[..., ::-1],
    "rgba8": lambda p: p[..., :3],
    "bgra8": lambda p: p[..., 2::-1],
    "mono8": lambda p: np.repeat(p, 3, axis=2),
}
CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("encoding", list(TO_RGB))
def test_color_decoding_matches_a_row_by_row_reading(encoding, padding):
    channels = CHANNELS[encoding]
    pixels = np.random.default_rng(4).integers(0, 256, (5, 6, channels), dtype=np.uint8)
    msg = _padded_msg(pixels, encoding, padding, big_endian=False)
    decoded = color_from_msg(msg)
    assert decoded.shape == (5, 6, 3) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, TO_RGB[encoding](_wire_rows(msg, "uint8", channels)))


@pytest.mark.parametrize("padding", PADDINGS)
def test_rgb8_is_a_read_only_view_of_the_message_buffer(padding):
    pixels = np.random.default_rng(5).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    msg = _padded_msg(pixels, "rgb8", padding, big_endian=False)
    msg.data = bytearray(msg.data)  # a writable buffer, as rclpy's array.array is
    rgb = color_from_msg(msg)
    assert np.shares_memory(rgb, np.frombuffer(msg.data, np.uint8)), "rgb8 must not be copied"
    assert not rgb.flags.writeable, "a view of the message must not let the caller change the message"
    np.testing.assert_array_equal(rgb, pixels)


@pytest.mark.parametrize("encoding", list(TO_RGB))
def test_color_encoding_writes_the_expected_wire_bytes(encoding):
    rgb = np.random.default_rng(6).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    alpha = np.full((3, 4, 1), 255, np.uint8)
    red, green, blue = (rgb[..., channel].astype(np.int64) for channel in range(3))
    grey = ((77 * red + 150 * green + 29 * blue) >> 8).astype(np.uint8)
    expected = {
        "rgb8": rgb,
        "bgr8": rgb[..., ::-1],
        "rgba8": np.concatenate([rgb, alpha], axis=2),
        "bgra8": np.concatenate([rgb[..., ::-1], alpha], axis=2),
        "mono8": grey,
    }[encoding]
    buffer = color_to_buffer(rgb, encoding)
    assert (buffer.height, buffer.width, buffer.step) == (3, 4, 4 * CHANNELS[encoding])
    assert buffer.data == np.ascontiguousarray(expected).tobytes()
