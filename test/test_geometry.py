"""Intrinsics updates and hole-safe resizing."""
from __future__ import annotations

import numpy as np
import pytest
from generated_datasets import cleargrasp_samples, kitchen_samples

from depth_completion_ros.geometry import CameraIntrinsics, crop, fit_box, read_intrinsics, resize_color, resize_depth


def _project(k: CameraIntrinsics, point: np.ndarray) -> np.ndarray:
    return np.array([k.fx * point[0] / point[2] + k.cx, k.fy * point[1] / point[2] + k.cy])


def test_scaled_and_cropped_intrinsics_follow_the_pixels():
    k = CameraIntrinsics(585.0, 585.0, 320.0, 240.0, 640, 480)
    point = np.array([0.3, -0.2, 2.0])
    u, v = _project(k, point)
    half = k.scaled(320, 240)
    # pixel-centre convention: pixel centre u maps to (u + 0.5) / 2 - 0.5
    np.testing.assert_allclose(_project(half, point), [(u + 0.5) / 2 - 0.5, (v + 0.5) / 2 - 0.5])
    box = fit_box(640, 480, 1.25)
    cut = k.cropped(*box)
    np.testing.assert_allclose(_project(cut, point), [u - box[0], v - box[1]])
    assert (cut.width, cut.height) == box[2:]


def test_fit_box():
    assert fit_box(1920, 1080, 320 / 256) == (285, 0, 1350, 1080)
    assert fit_box(640, 480, 1.25) == (20, 0, 600, 480)
    assert fit_box(320, 256, 1.25) == (0, 0, 320, 256)
    assert fit_box(400, 800, 1.25) == (0, 240, 400, 320)


def test_nearest_resize_never_invents_depths():
    rng = np.random.default_rng(0)
    depth = np.where(rng.random((48, 64)) < 0.5, rng.uniform(1, 5, (48, 64)), 0).astype(np.float32)
    for size in [(32, 24), (100, 75), (64, 48)]:
        out = resize_depth(depth, *size)
        assert out.shape == size[::-1]
        assert set(np.unique(out)) <= set(np.unique(depth))


def test_min_resize_keeps_sparse_points_and_nearest_surface():
    depth = np.zeros((40, 40), np.float32)
    depth[::5, ::5] = 3.0
    depth[10, 10] = 1.0
    nearest = resize_depth(depth, 8, 8, "nearest")
    smallest = resize_depth(depth, 8, 8, "min")
    assert (smallest > 0).mean() == 1.0 > (nearest > 0).mean()
    assert smallest.min() == 1.0 and set(np.unique(smallest)) == {1.0, 3.0}
    batch = resize_depth(np.stack([depth, depth * 2]), 8, 8, "min")
    np.testing.assert_array_equal(batch[1], smallest * 2)


def test_uint16_min_resize_and_bad_arguments():
    depth = np.zeros((8, 8), np.uint16)
    depth[0, 0] = 1200
    assert resize_depth(depth, 2, 2, "min").tolist() == [[1200, 0], [0, 0]]
    with pytest.raises(ValueError, match="mode"):
        resize_depth(depth, 2, 2, "bilinear")
    with pytest.raises(ValueError, match="positive"):
        resize_depth(depth, 0, 2)
    with pytest.raises(ValueError, match="shape"):
        resize_depth(np.zeros(5), 2, 2)


def test_crop_and_resize_color():
    rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    assert crop(rgb, (1, 1, 3, 2)).shape == (2, 3, 3)
    assert crop(np.zeros((2, 4, 6)), (1, 1, 3, 2), batched=True).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="exceeds"):
        crop(rgb, (4, 0, 3, 2))
    assert resize_color(rgb, 3, 2).shape == (2, 3, 3)


def test_read_intrinsics_formats(tmp_path, generated_kitchen, generated_cleargrasp):
    # A 3x3 text matrix (7-Scenes) needs the image size; a flat YAML (ClearGrasp) carries it.
    kitchen = read_intrinsics(generated_kitchen / "camera-intrinsics.txt", 640, 480)
    assert kitchen == kitchen_samples()[0].intrinsics
    clear = read_intrinsics(generated_cleargrasp / "camera_intrinsics.yaml")
    assert clear == cleargrasp_samples()[0].intrinsics
    ros = tmp_path / "camera.yaml"
    ros.write_text("image_width: 640\nimage_height: 480\n"
                   "camera_matrix:\n  rows: 3\n  cols: 3\n  data: [500, 0, 319.5, 0, 501, 239.5, 0, 0, 1]\n")
    assert read_intrinsics(ros) == CameraIntrinsics(500.0, 501.0, 319.5, 239.5, 640, 480)
    with pytest.raises(ValueError, match="image size unknown"):
        read_intrinsics(generated_kitchen / "camera-intrinsics.txt")
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    with pytest.raises(ValueError, match="3x3"):
        read_intrinsics(tmp_path / "bad.txt", 4, 4)
    with pytest.raises(FileNotFoundError):
        read_intrinsics(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="positive"):
        CameraIntrinsics(0.0, 1.0, 0.0, 0.0, 4, 4)


def test_camera_info_fields_round_trip():
    sensor_msgs = pytest.importorskip("sensor_msgs.msg", reason="sensor_msgs (ROS 2) not installed")
    k = CameraIntrinsics(600.0, 601.0, 330.0, 250.0, 640, 480)
    info = sensor_msgs.CameraInfo(**k.camera_info_fields())
    assert CameraIntrinsics.from_camera_info(info) == k
