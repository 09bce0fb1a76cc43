"""Dataset readers on the real frames in ../shared/data."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_data_root

from depth_completion_ros.datasets import MATTERPORT_MIN_DEPTH, detect_layout, discover_frames, frame_pose, load_frame
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


def write_tum(root, stamps, rgb_stamps, scale=5000.0):
    """A small TUM RGB-D folder: depth = 1 m + index cm, colour value = index, list files with comments."""
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    depth_lines, rgb_lines = ["# depth maps", "# timestamp filename"], ["# color images"]
    for index, stamp in enumerate(stamps):
        write_depth(root / "depth" / f"{stamp:.6f}.png", np.full((6, 8), 1.0 + index / 100, np.float32), scale=scale)
        depth_lines.append(f"{stamp:.6f} depth/{stamp:.6f}.png")
    for index, stamp in enumerate(rgb_stamps):
        write_color(root / "rgb" / f"{stamp:.6f}.png", np.full((6, 8, 3), index, np.uint8))
        rgb_lines.append(f"{stamp:.6f} rgb/{stamp:.6f}.png")
    (root / "depth.txt").write_text("\n".join(depth_lines) + "\n")
    (root / "rgb.txt").write_text("\n".join(rgb_lines) + "\n")


def test_tum_association_scale_and_poses(tmp_path):
    # Depth at 30 Hz, colour offset by a few ms; the last depth frame has no colour within 20 ms.
    depth_stamps = [100.0, 100.033, 100.066, 100.2]
    write_tum(tmp_path, depth_stamps, [100.004, 100.030, 100.071, 100.15])
    # Camera-to-world: 90 degrees about z (qz = qw = sqrt(1/2)), then identity; 100 Hz like TUM's.
    half = np.sqrt(0.5)
    (tmp_path / "groundtruth.txt").write_text(
        "# timestamp tx ty tz qx qy qz qw\n"
        f"100.001 1 2 3 0 0 {half} {half}\n"
        "100.031 4 5 6 0 0 0 1\n"
    )
    frames = discover_frames(tmp_path)
    assert detect_layout(tmp_path) == "tum" and [f.name for f in frames] == [f"{t:.6f}" for t in depth_stamps]
    colors = [f.color.name if f.color else None for f in frames]
    assert colors == ["100.004000.png", "100.030000.png", "100.071000.png", None]
    sample = load_frame(frames[2])
    np.testing.assert_allclose(sample.depth, 1.02, atol=1e-4)  # 1/5000 m by default
    assert sample.rgb.max() == 2
    np.testing.assert_allclose(load_frame(discover_frames(tmp_path, depth_scale=1000.0)[0]).depth, 5.0)

    pose = frame_pose(frames[0])
    np.testing.assert_allclose(pose[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(pose[:3, 3], [1, 2, 3])
    np.testing.assert_allclose(frame_pose(frames[1])[:3, 3], [4, 5, 6])
    assert frame_pose(frames[2]) is None and frame_pose(frames[3]) is None  # no pose within 20 ms


def test_tum_associations_file_and_timestamped_names(tmp_path):
    write_tum(tmp_path, [5.0, 5.1], [5.001, 5.101])
    (tmp_path / "rgb.txt").unlink()
    (tmp_path / "depth.txt").unlink()
    # ORB-SLAM2's associations.txt: t_rgb rgb_path t_depth depth_path (pairs it names, even far apart).
    (tmp_path / "associations.txt").write_text(
        "5.101000 rgb/5.101000.png 5.000000 depth/5.000000.png\n5.001000 rgb/5.001000.png 5.100000 depth/5.100000.png\n"
    )
    frames = discover_frames(tmp_path)
    assert [(f.name, f.color.name) for f in frames] == [("5.000000", "5.101000.png"), ("5.100000", "5.001000.png")]
    # Without any list, the image names are the timestamps (colour and depth names differ).
    (tmp_path / "associations.txt").unlink()
    assert detect_layout(tmp_path) == "tum"
    frames = discover_frames(tmp_path)
    assert [(f.name, f.color.name) for f in frames] == [("5.000000", "5.001000.png"), ("5.100000", "5.101000.png")]


def test_tum_errors_name_file_and_line(tmp_path):
    write_tum(tmp_path, [1.0], [1.0])
    (tmp_path / "depth.txt").write_text("# header\n1.0\n")
    with pytest.raises(ValueError, match=r"depth\.txt:2: expected 2 columns"):
        discover_frames(tmp_path)
    (tmp_path / "depth.txt").write_text("1.0 depth/1.000000.png\n")
    (tmp_path / "groundtruth.txt").write_text("1.0 0 0 0 0 0 0 0\n")
    with pytest.raises(ValueError, match=r"groundtruth\.txt:1: the quaternion is zero"):
        discover_frames(tmp_path)


def test_color_depth_folders(tmp_path):
    for index in range(3):
        write_depth(tmp_path / "depth" / f"{index:05d}.png", np.full((6, 8), 0.5 * (index + 1), np.float32))
        if index != 1:
            write_color(tmp_path / "color" / f"{index:05d}.jpg", np.zeros((6, 8, 3), np.uint8))
    np.savetxt(tmp_path / "camera-intrinsics.txt", [[10, 0, 4], [0, 10, 3], [0, 0, 1]])
    frames = discover_frames(tmp_path)
    assert detect_layout(tmp_path) == "color_depth" and [f.name for f in frames] == ["00000", "00001", "00002"]
    assert [f.color is not None for f in frames] == [True, False, True]
    sample = load_frame(frames[2])
    np.testing.assert_allclose(sample.depth, 1.5)
    assert sample.rgb.shape == (6, 8, 3) and sample.intrinsics.fx == 10
    # Unknown units: a recording in 1/4000 m read with depth_scale.
    np.testing.assert_allclose(load_frame(discover_frames(tmp_path, depth_scale=4000.0)[2]).depth, 0.375)


def test_cup_sequence():
    root = shared_data_root() / "cup_sequence"
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set DC_SHARED_DATA to the shared data folder)")
    frames = discover_frames(root)
    assert len(frames) == 207 and {f.layout for f in frames} == {"color_depth"}
    assert frames[0].name == "00000" and all(f.color is not None for f in frames)
    sample = load_frame(frames[100])
    assert sample.depth.shape == sample.rgb.shape[:2] == (360, 640)
    assert 0.3 < np.median(sample.depth[sample.depth > 0]) < 2.0  # a tabletop in metres: millimetre units
