"""Every dataset layout read back from frames the project renders itself (no ../shared needed).

The generated folders (conftest.py) store each rendered frame the way the real dataset of that
layout does, so reading them back must give the rendered arrays: depth to the storage
quantum, colour within JPEG error, masks, intrinsics and poses exactly.
"""
from __future__ import annotations

import numpy as np
import pytest
from generated_datasets import (
    KITCHEN_FRAMES,
    KITCHEN_SENTINEL_FRAMES,
    cleargrasp_samples,
    cup_samples,
    kitchen_samples,
    matterport_scenes,
)

from depth_completion_ros.datasets import MATTERPORT_MIN_DEPTH, detect_layout, discover_frames, frame_pose, load_frame
from depth_completion_ros.depth_io import UINT16_SENTINEL, read_depth_raw


def _assert_depth_close(read: np.ndarray, rendered: np.ndarray, quantum_m: float) -> None:
    np.testing.assert_array_equal(read > 0, rendered > 0)
    np.testing.assert_allclose(read, rendered, atol=quantum_m / 2 + 1e-6)


def _assert_jpeg_close(read: np.ndarray, rendered: np.ndarray) -> None:
    assert read.shape == rendered.shape and read.dtype == np.uint8
    assert np.abs(read.astype(int) - rendered.astype(int)).mean() < 4.0


def test_frame_sequence_reads_back_depth_colour_intrinsics_and_poses(generated_kitchen):
    frames = discover_frames(generated_kitchen)
    assert detect_layout(generated_kitchen) == "frames"
    assert [f.name for f in frames] == [f"frame-{i:06d}" for i in range(KITCHEN_FRAMES)]
    for frame, rendered in zip(frames, kitchen_samples(), strict=True):
        sample = load_frame(frame)
        _assert_depth_close(sample.depth, rendered.raw, 1e-3)
        _assert_jpeg_close(sample.rgb, rendered.rgb)
        assert sample.gt is None and sample.intrinsics == rendered.intrinsics
        np.testing.assert_allclose(frame_pose(frame), rendered.pose, atol=1e-8)
    # 65535 marks "no return" in Kinect recordings: stored as such, read as a hole.
    for index in KITCHEN_SENTINEL_FRAMES:
        raw = read_depth_raw(frames[index].depth)
        assert (raw == UINT16_SENTINEL).any() and not (raw == 0).any()
        assert (load_frame(frames[index]).depth[raw == UINT16_SENTINEL] == 0).all()


def test_matterport_reads_raw_and_rendered_ground_truth(generated_matterport):
    frames = discover_frames(generated_matterport)
    assert detect_layout(generated_matterport) == "matterport" and len(frames) == 3
    rendered = [sample for samples in matterport_scenes().values() for sample in samples]
    for frame, expected in zip(frames, rendered, strict=True):
        sample = load_frame(frame)
        assert sample.depth.shape == sample.gt.shape == sample.rgb.shape[:2] == (256, 320)
        # Raw depth below MATTERPORT_MIN_DEPTH is the benchmark's resize rim: dropped on reading.
        raw = np.where(expected.raw >= MATTERPORT_MIN_DEPTH, expected.raw, 0)
        _assert_depth_close(sample.depth, raw, 1 / 4000)
        _assert_depth_close(sample.gt, expected.gt, 1 / 4000)
        assert (sample.gt > 0).mean() > (sample.depth > 0).mean()
        assert sample.intrinsics is None  # Matterport frames ship without intrinsics


def test_cleargrasp_reads_exr_metres_masks_and_references(generated_cleargrasp):
    frames = discover_frames(generated_cleargrasp)
    assert detect_layout(generated_cleargrasp) == "cleargrasp" and len(frames) == 2
    for frame, rendered in zip(frames, cleargrasp_samples(), strict=True):
        sample = load_frame(frame)
        np.testing.assert_array_equal(sample.depth, rendered.raw)  # float32 EXR: exact, NaN read as 0
        np.testing.assert_array_equal(sample.gt, rendered.gt)
        np.testing.assert_array_equal(sample.mask, rendered.transparent)
        assert sample.intrinsics == rendered.intrinsics
    stored = read_depth_raw(frames[0].depth)  # the first channel of three, NaN kept as stored
    assert stored.dtype == np.float32 and np.isnan(stored).any()
    # Glass loses its depth far more often than the rest of the table scene.
    sample = load_frame(frames[1])
    assert sample.mask.any()
    assert (sample.depth[sample.mask] == 0).mean() > (sample.depth[~sample.mask] == 0).mean()


@pytest.mark.parametrize("fixture, layout, samples", [("generated_color_depth", "color_depth", cup_samples),
                                                      ("generated_depth_folder", "depth_folder", kitchen_samples)])
def test_user_recording_layouts(request, fixture, layout, samples):
    root = request.getfixturevalue(fixture)
    frames = discover_frames(root)
    assert detect_layout(root) == layout and 3 <= len(frames) <= len(samples())
    for frame, rendered in zip(frames, samples(), strict=False):
        sample = load_frame(frame)
        _assert_depth_close(sample.depth, rendered.raw, 1e-3)
        assert (sample.rgb is not None) == (layout == "color_depth")
        assert sample.intrinsics is None


def test_tabletop_frames_are_registered_realsense_views(generated_tabletop):
    sample = load_frame(discover_frames(generated_tabletop)[0])
    assert sample.rgb.shape == (480, 640, 3) and sample.intrinsics.fx == pytest.approx(615.0, rel=0.01)
    assert 0.3 < np.median(sample.depth[sample.depth > 0]) < 3.0  # a table in front of the camera
