"""TSDF fusion (issue 11) on a posed sequence from the synthetic generator and on real 7-Scenes frames."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from depth_completion_ros.cli import main as cli_main
from depth_completion_ros.datasets import FUSION_MANIFEST, REFERENCE_DIR, detect_layout, discover_frames, load_frame
from depth_completion_ros.depth_io import write_color, write_depth
from depth_completion_ros.evaluation import resolve_protocol
from depth_completion_ros.fusion import REPORT_JSON, FusionError, FusionOptions, fuse_sequence, import_open3d
from depth_completion_ros.synthetic import SyntheticSample, render_sequence

pytest.importorskip("open3d", reason="fusion needs Open3D: pip install -e .[fusion] (and Debian's libusb-1.0-0)")

FRAMES = 16
#: Stated tolerance inside the simulated holes (measured: median 6.4 mm, 91 % within 5 cm, 89 % of
#: the fillable holes referenced from 8 integrated frames): fused surfaces of 1 cm voxels from
#: noisy raw depth land within millimetres of the truth; occlusion edges and thin parts may not.
HOLE_MEDIAN_M = 0.01
HOLE_WITHIN_5CM = 0.85
HOLE_COVERAGE = 0.8


@pytest.fixture(scope="module")
def samples() -> list[SyntheticSample]:
    # 4 frames per second: ~5 cm between frames, enough parallax to see into each frame's holes.
    return list(render_sequence(seed=3, num_frames=FRAMES, width=160, height=128, fps=4.0))


def write_sequence(root: Path, samples: list[SyntheticSample], poses: bool = True) -> Path:
    """The synthetic frames as a posed ``frame-XXXXXX`` recording (7-Scenes naming)."""
    root.mkdir(parents=True)
    np.savetxt(root / "camera-intrinsics.txt", samples[0].intrinsics.K)
    for index, sample in enumerate(samples):
        write_depth(root / f"frame-{index:06d}.depth.png", sample.raw)
        write_color(root / f"frame-{index:06d}.color.png", sample.rgb)
        if poses:
            np.savetxt(root / f"frame-{index:06d}.pose.txt", sample.pose)
    return root


def quaternion_xyzw(rotation: np.ndarray) -> list[float]:
    """Unit quaternion (x, y, z, w) of a rotation matrix (TUM's order); w > 0 branch suffices here."""
    w = np.sqrt(max(1.0 + np.trace(rotation), 1e-12)) / 2
    x = (rotation[2, 1] - rotation[1, 2]) / (4 * w)
    y = (rotation[0, 2] - rotation[2, 0]) / (4 * w)
    z = (rotation[1, 0] - rotation[0, 1]) / (4 * w)
    return [x, y, z, w]


def write_tum_sequence(root: Path, samples: list[SyntheticSample]) -> Path:
    """The synthetic frames as a TUM RGB-D recording: 1/5000 m depth, timestamps, groundtruth.txt."""
    (root / "depth").mkdir(parents=True)
    (root / "rgb").mkdir()
    np.savetxt(root / "camera-intrinsics.txt", samples[0].intrinsics.K)
    lists = {"depth": [], "rgb": [], "groundtruth": []}
    for index, sample in enumerate(samples):
        stamp = f"{1000 + index / 4:.6f}"
        write_depth(root / "depth" / f"{stamp}.png", sample.raw, scale=5000.0)
        write_color(root / "rgb" / f"{stamp}.png", sample.rgb)
        lists["depth"].append(f"{stamp} depth/{stamp}.png")
        lists["rgb"].append(f"{stamp} rgb/{stamp}.png")
        pose = [*sample.pose[:3, 3], *quaternion_xyzw(sample.pose[:3, :3])]
        lists["groundtruth"].append(" ".join([stamp, *(f"{v:.9f}" for v in pose)]))
    for name, lines in lists.items():
        (root / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root


def hole_errors(frames, samples: list[SyntheticSample], depth_max: float) -> tuple[np.ndarray, float]:
    """|reference - ground truth| in the sensor's holes, and the share of those holes referenced.

    Only holes the fusion can fill count: opaque surfaces (glass has no surface in depth) within
    the depth range.
    """
    errors, holes, covered = [], 0, 0
    for frame, sample in zip(frames, samples, strict=True):
        reference = load_frame(frame).gt
        fillable = (sample.raw == 0) & ~sample.transparent & (sample.gt < depth_max)
        scored = fillable & (reference > 0)
        errors.append(np.abs(reference[scored] - sample.gt[scored]))
        holes += int(fillable.sum())
        covered += int(scored.sum())
    return np.concatenate(errors), covered / holes


def test_fused_reference_matches_synthetic_ground_truth_in_holes(tmp_path, samples):
    sequence = write_sequence(tmp_path / "seq", samples)
    options = FusionOptions()
    report = fuse_sequence(sequence, tmp_path / "out", options, progress=False)

    assert detect_layout(tmp_path / "out") == "fused"
    frames = discover_frames(tmp_path / "out")
    assert [f.name for f in frames] == [f"frame-{i:06d}" for i in range(FRAMES)]
    assert all(f.layout == "fused" and f.depth.parent == sequence for f in frames)
    assert resolve_protocol(frames, "auto") == "gt"

    errors, coverage = hole_errors(frames, samples, options.depth_max)
    assert coverage > HOLE_COVERAGE
    assert np.median(errors) < HOLE_MEDIAN_M
    assert (errors < 0.05).mean() > HOLE_WITHIN_5CM
    # Weights count the fused observations (interpolated between voxels): at most one per integrated frame.
    sample = load_frame(frames[3])
    assert sample.gt_weight is not None and (sample.gt_weight[sample.gt > 0] > 0).all()
    assert (sample.gt_weight[sample.gt == 0] == 0).all() and sample.gt_weight.max() <= FRAMES // options.stride

    stats = json.loads((tmp_path / "out" / REPORT_JSON).read_text())
    assert stats["summary"]["rejected"] == 0 and len(stats["frames"]) == FRAMES
    assert stats["summary"]["median_of_frame_medians_m"] < 0.015
    assert report.summary()["integrated"] == FRAMES // options.stride


def test_frame_with_a_wrong_pose_is_rejected(tmp_path, samples):
    sequence = write_sequence(tmp_path / "seq", samples[:6])
    wrong = samples[3].pose.copy()
    wrong[:3, 3] += wrong[:3, 2] * 0.2  # 20 cm along the optical axis: a failed tracker's pose
    np.savetxt(sequence / "frame-000003.pose.txt", wrong)  # frame 3 is not integrated (stride 2)
    report = fuse_sequence(sequence, tmp_path / "out", progress=False)
    rejected = {f.name: f.rejected for f in report.frames if f.rejected}
    assert list(rejected) == ["frame-000003"] and "median disagreement" in rejected["frame-000003"]
    assert "frame-000003: median disagreement" in report.summary_markdown()
    assert [f.name for f in discover_frames(tmp_path / "out")] == [f"frame-{i:06d}" for i in (0, 1, 2, 4, 5)]


def test_tum_sequence(tmp_path, samples):
    sequence = write_tum_sequence(tmp_path / "tum", samples)
    fuse_sequence(sequence, tmp_path / "out", progress=False)
    frames = discover_frames(tmp_path / "out")
    assert len(frames) == FRAMES and frames[0].depth.parent == sequence / "depth" and frames[0].depth_scale == 5000
    errors, coverage = hole_errors(frames, samples, FusionOptions().depth_max)
    assert coverage > HOLE_COVERAGE and np.median(errors) < HOLE_MEDIAN_M


def test_frame_range_in_place_and_rerun(tmp_path, samples):
    sequence = write_sequence(tmp_path / "seq", samples)
    fuse_sequence(sequence, sequence, FusionOptions(), frames="4:12", progress=False)
    # In place: the sequence's own layout finds the references beside the raw frames.
    frames = discover_frames(sequence)
    assert detect_layout(sequence) == "frames" and len(frames) == FRAMES
    assert [f.name for f in frames if f.gt is not None] == [f"frame-{i:06d}" for i in range(4, 12)]
    # A second run replaces the references as a whole: none of the first run's survive.
    fuse_sequence(sequence, sequence, FusionOptions(), frames="0:3", progress=False)
    assert sorted(p.name for p in (sequence / REFERENCE_DIR).glob("*.depth.png")) == [
        f"frame-{i:06d}.depth.png" for i in range(3)
    ]
    assert not list(sequence.glob(".fusion.partial-*"))


def test_odometry_poses(tmp_path):
    # 8 frames per second (~2.5 cm apart): frame-to-frame odometry needs overlap between neighbours.
    samples = list(render_sequence(seed=3, num_frames=8, width=160, height=128, fps=8.0))
    sequence = write_sequence(tmp_path / "seq", samples, poses=False)
    with pytest.raises(FusionError, match="no camera pose"):
        fuse_sequence(sequence, tmp_path / "out", progress=False)
    fuse_sequence(sequence, tmp_path / "out", FusionOptions(poses="odometry"), progress=False)
    errors, coverage = hole_errors(discover_frames(tmp_path / "out"), samples, FusionOptions().depth_max)
    # Measured: 69 % coverage, median 16 mm; the odometry's own error (~15 mm after 7 frames) adds to the fusion's.
    assert coverage > 0.5 and np.median(errors) < 2 * HOLE_MEDIAN_M


def one_line_error(tmp_path: Path, sequence: Path, *extra: str, capsys) -> str:
    assert cli_main(["fuse", str(sequence), str(tmp_path / "out"), "-q", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert not (tmp_path / "out" / REFERENCE_DIR).exists()
    return err


def test_missing_poses_intrinsics_and_inconsistent_sizes(tmp_path, samples, capsys):
    sequence = write_sequence(tmp_path / "seq", samples[:4])
    (sequence / "frame-000002.pose.txt").unlink()
    assert "frame-000002.depth.png: no camera pose" in one_line_error(tmp_path, sequence, capsys=capsys)

    np.savetxt(sequence / "frame-000002.pose.txt", samples[2].pose)
    (sequence / "camera-intrinsics.txt").unlink()
    assert f"{sequence}: no camera intrinsics" in one_line_error(tmp_path, sequence, capsys=capsys)

    np.savetxt(sequence / "camera-intrinsics.txt", samples[0].intrinsics.K)
    write_depth(sequence / "frame-000003.depth.png", np.ones((64, 80), np.float32))
    err = one_line_error(tmp_path, sequence, capsys=capsys)
    assert "frame-000003.depth.png: depth is 80x64" in err and "one size" in err

    (sequence / "frame-000001.pose.txt").write_text("1 0 0\n0 1 0\n")
    assert "frame-000001.pose.txt: expected a 4x4" in one_line_error(tmp_path, sequence, capsys=capsys)


def test_open3d_is_optional(monkeypatch):
    # Neither the library nor the node imports Open3D; fusion names the extra when it is missing.
    code = (
        "import sys, depth_completion_ros.node, depth_completion_ros.fusion, depth_completion_ros.cli;"
        "depth_completion_ros.cli.build_parser(); sys.exit('open3d' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    monkeypatch.setitem(sys.modules, "open3d", None)
    with pytest.raises(FusionError, match=r"pip install depth_completion_ros\[fusion\]"):
        import_open3d()


def test_7scenes_references(redkitchen_root, tmp_path):
    report = fuse_sequence(redkitchen_root, tmp_path / "kitchen", frames="100:112", progress=False)
    summary = report.summary()
    assert summary["rejected"] == 0 and summary["median_of_frame_medians_m"] < 0.015
    assert summary["hole_coverage"] > 0.2  # measured 27 %: 12 frames (0.4 s) see little of each other's holes
    manifest = json.loads((tmp_path / "kitchen" / FUSION_MANIFEST).read_text())
    assert Path(manifest["source"]) == redkitchen_root.resolve() and manifest["frames"] == "100:112"
    frames = discover_frames(tmp_path / "kitchen")
    assert [f.name for f in frames] == [f"frame-{i:06d}" for i in range(100, 112)]
    sample = load_frame(frames[5])
    both = (sample.depth > 0) & (sample.gt > 0)
    assert np.median(np.abs(sample.depth[both] - sample.gt[both])) < 0.015  # metres on both sides
