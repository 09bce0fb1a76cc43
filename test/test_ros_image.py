"""sensor_msgs/Image conversions on raw buffers: every encoding, padding, byte order, bad input."""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import pytest

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


def test_real_rclpy_message_round_trip(redkitchen_root):
    sensor_msgs = pytest.importorskip("sensor_msgs.msg", reason="sensor_msgs (ROS 2) not installed")
    from depth_completion_ros.depth_io import read_depth

    depth = read_depth(redkitchen_root / "frame-000000.depth.png", scale=1000.0)
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


def test_units_keep_every_stored_value(redkitchen_root):
    from depth_completion_ros.depth_io import read_depth_raw

    raw = read_depth_raw(redkitchen_root / "frame-000000.depth.png")
    back = np.frombuffer(units_to_buffer(raw).data, np.uint16).reshape(raw.shape)
    np.testing.assert_array_equal(back, raw)  # sentinels and all, bit for bit
    with pytest.raises(ImageEncodingError, match="uint16"):
        units_to_buffer(raw.astype(np.float32))
