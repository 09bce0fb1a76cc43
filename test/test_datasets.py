"""Dataset readers on the real frames in ../shared/data."""
from __future__ import annotations

import numpy as np
import pytest

from depth_completion_ros.datasets import MATTERPORT_MIN_DEPTH, detect_layout, discover_frames, load_frame
from depth_completion_ros.depth_io import DepthIOError, write_color, write_depth


def test_matterport(matterport_root):
    frames = discover_frames(matterport_root)
    assert len(frames) == 3 and {f.layout for f in frames} == {"matterport"}
    for frame in frames:
        sample = load_frame(frame)
        assert sample.depth.shape == sample.gt.shape == sample.rgb.shape[:2] == (256, 320)
        valid = sample.depth[sample.depth > 0]
        assert valid.min() >= MATTERPORT_MIN_DEPTH  # the resize rim is gone
        assert (sample.gt > 0).mean() > 0.9 and (sample.gt > 0).mean() > (sample.depth > 0).mean()
        # raw and rendered GT agree where both are valid (same units: a unit error would be 4x off)
        both = (sample.depth > 0) & (sample.gt > 0)
        assert np.median(np.abs(sample.depth[both] / sample.gt[both] - 1)) < 0.1


def test_frame_sequence(redkitchen_root):
    frames = discover_frames(redkitchen_root)
    assert len(frames) == 300 and frames[0].name == "frame-000000" and frames[-1].name == "frame-000299"
    sample = load_frame(frames[10])
    assert sample.rgb.shape == (480, 640, 3) and sample.gt is None
    assert sample.intrinsics.fx == 585.0
    assert 0.5 < np.median(sample.depth[sample.depth > 0]) < 4.0  # metres, not millimetres


def test_cleargrasp(cleargrasp_root):
    frames = discover_frames(cleargrasp_root)
    assert detect_layout(cleargrasp_root) == "cleargrasp" and len(frames) == 2
    sample = load_frame(frames[0])
    assert sample.mask.dtype == bool and 0 < sample.mask.mean() < 0.5
    # transparent objects: raw depth is missing or wrong far more often inside the mask
    assert (sample.depth[sample.mask] == 0).mean() > (sample.depth[~sample.mask] == 0).mean()
    assert sample.intrinsics.width == 1280


def test_depth_folder_and_mismatched_sizes(tmp_path):
    for i in range(3):
        write_depth(tmp_path / f"{i:03d}.png", np.full((6, 8), 1.5, np.float32))
    frames = discover_frames(tmp_path)
    assert [f.name for f in frames] == ["000", "001", "002"] and frames[0].layout == "depth_folder"
    np.testing.assert_allclose(load_frame(frames[0]).depth, 1.5)

    seq = tmp_path / "seq"
    write_depth(seq / "frame-000000.depth.png", np.ones((6, 8), np.float32))
    write_color(seq / "frame-000000.color.png", np.zeros((5, 8, 3), np.uint8))
    with pytest.raises(DepthIOError, match="register colour to depth"):
        load_frame(discover_frames(seq)[0])


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        discover_frames(tmp_path / "nope")
    with pytest.raises(ValueError, match="no known RGB-D layout"):
        discover_frames(tmp_path)
    with pytest.raises(ValueError, match="unknown layout"):
        discover_frames(tmp_path, layout="kitti")
