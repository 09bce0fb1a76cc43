"""depth_io: units, sanitising, atomic writes, every bad-file case."""
from __future__ import annotations

import math
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch

from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.depth_io import (
    DEFAULT_MAX_DEPTH,
    UINT16_SENTINEL,
    DepthIOError,
    atomic_output,
    depth_to_units,
    partial_path,
    read_color,
    read_depth,
    read_mask,
    sanitize_depth,
    stale_partials,
    write_color,
    write_depth,
)


def test_sanitize_integer_units_and_sentinels():
    raw = np.array([[0, 1000, 65535], [250, 4000, 30]], np.uint16)
    metres = sanitize_depth(raw, scale=1000.0, min_depth=0.05)
    assert metres.dtype == np.float32
    np.testing.assert_allclose(metres, [[0, 1.0, 0], [0.25, 4.0, 0]])


def test_sanitize_float_rejects_nan_inf_negative_and_range():
    raw = np.array([np.nan, np.inf, -1.0, 0.5, 12.0, 3.0], np.float32)
    np.testing.assert_array_equal(sanitize_depth(raw, max_depth=10.0), [0, 0, 0, 0.5, 0, 3.0])


def test_absurd_float_depths_are_holes_by_default(tmp_path):
    """Float drivers publish 1e6 m or 3e38 m for "no return"; nothing downstream may fill from them."""
    raw = np.array([[1.0, 1e6, 3e38], [DEFAULT_MAX_DEPTH, DEFAULT_MAX_DEPTH + 0.5, 0.3]], np.float32)
    expected = np.array([[1.0, 0, 0], [DEFAULT_MAX_DEPTH, 0, 0.3]], np.float32)
    np.testing.assert_array_equal(sanitize_depth(raw), expected)
    kept = sanitize_depth(raw, max_depth=math.inf)
    np.testing.assert_array_equal(kept, np.where(np.isfinite(raw), raw, 0))
    np.save(tmp_path / "depth.npy", raw)
    np.testing.assert_array_equal(read_depth(tmp_path / "depth.npy"), sanitize_depth(raw))


@pytest.mark.parametrize(
    "raw, scale",
    [
        (np.array([[np.nan, np.inf, -1.0, 0.5], [1e6, 3.0, 0.0, 19.5]], np.float32), None),
        (np.array([[0, 1000, 65535, 250], [4000, 30, 25000, 1]], np.uint16), 1000.0),
    ],
)
def test_tensors_follow_the_same_rule_as_arrays(raw, scale):
    expected = sanitize_depth(raw, scale=scale, min_depth=0.05)
    metres = sanitize_depth(torch.from_numpy(raw.astype(np.int32) if scale else raw), scale=scale, min_depth=0.05)
    assert isinstance(metres, torch.Tensor) and metres.dtype == torch.float32
    np.testing.assert_array_equal(metres.numpy(), expected)


def test_sanitize_rejects_an_empty_range():
    with pytest.raises(ValueError, match="max_depth"):
        sanitize_depth(np.ones((2, 2), np.float32), min_depth=5.0, max_depth=5.0)


@pytest.mark.parametrize(
    "bad, message",
    [(np.zeros((0, 4), np.float32), "empty"), (np.ones((2, 2), np.uint16), "scale"), (np.ones(3, bool), "dtype")],
)
def test_sanitize_bad_input(bad, message):
    with pytest.raises(DepthIOError, match=message):
        sanitize_depth(bad)
    with pytest.raises(DepthIOError, match=message):
        sanitize_depth(torch.from_numpy(bad))


def test_depth_to_units_never_wraps():
    units = depth_to_units(np.array([0.0, 1.2345, 70.0, np.nan, -2.0]), scale=1000)
    np.testing.assert_array_equal(units, [0, 1234, 0, 0, 0])  # 1.2345 m rounds half-to-even at 1234.5
    assert units.dtype == np.uint16


def _units_by_definition(depth_m: np.ndarray, scale: float) -> np.ndarray:
    """depth_to_units spelled out step by step: holes to 0, scale in float32, round half to even,
    anything outside [0, 65535) to 0."""
    finite = np.nan_to_num(np.asarray(depth_m, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    with np.errstate(over="ignore"):
        units = np.rint(finite * np.float32(scale))
    units[(units < 0) | (units >= UINT16_SENTINEL)] = 0
    return units.astype(np.uint16)


def _edge_depths() -> np.ndarray:
    """Every value class depth_to_units must get right: ties, the 16-bit limit, holes, float64."""
    rng = np.random.default_rng(3)
    ties = (np.arange(-4, 70000, 1, dtype=np.float64) + 0.5) / 1000.0
    specials = np.array([0.0, -0.0, 1e-45, -1e-45, 65.534, 65.5345, 65.535, 65.5355, 3e38, -3e38,
                         np.nan, np.inf, -np.inf])
    noise = rng.uniform(-1.0, 80.0, 20000)
    return np.concatenate([ties, specials, noise])


@pytest.mark.parametrize("scale", [1.0, 1000.0, 4000.0, 5000.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depth_to_units_follows_its_definition_on_edge_values(scale, dtype):
    depth = _edge_depths().astype(dtype)
    np.testing.assert_array_equal(depth_to_units(depth, scale), _units_by_definition(depth, scale))
    np.testing.assert_array_equal(depth_to_units(depth.reshape(1, -1)[:, ::3], scale),
                                  _units_by_definition(depth.reshape(1, -1)[:, ::3], scale))


def test_depth_to_units_follows_its_definition_on_real_frames(redkitchen_root, cleargrasp_root):
    frames = discover_frames(redkitchen_root)[:3] + discover_frames(cleargrasp_root)[:3]
    for frame in frames:
        depth = load_frame(frame).depth
        for scale in (1000.0, 4000.0):
            units = depth_to_units(depth, scale)
            assert units.dtype == np.uint16 and units.shape == depth.shape
            np.testing.assert_array_equal(units, _units_by_definition(depth, scale), err_msg=str(frame))


@pytest.mark.parametrize(
    "suffix, scale, tolerance", [(".png", 1000.0, 5e-4), (".png", 4000.0, 1.25e-4), (".exr", 1.0, 0), (".npy", 1.0, 0)]
)
def test_depth_round_trip(tmp_path, suffix, scale, tolerance):
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.3, 9.0, (24, 32)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.3] = 0
    path = write_depth(tmp_path / f"d{suffix}", depth, scale=scale)
    back = read_depth(path, scale=scale)
    assert back.shape == depth.shape and back.dtype == np.float32
    np.testing.assert_array_equal(back > 0, depth > 0)
    assert np.abs(back - depth).max() <= tolerance + 1e-7
    assert [p.name for p in tmp_path.iterdir()] == [f"d{suffix}"]  # no temporary left behind


def test_read_depth_missing_empty_corrupt_and_wrong_kind(tmp_path):
    with pytest.raises(DepthIOError, match="no such file"):
        read_depth(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DepthIOError, match="empty"):
        read_depth(tmp_path / "empty.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DepthIOError, match="cannot decode"):
        read_depth(tmp_path / "corrupt.png")
    write_color(tmp_path / "colour.png", np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
    with pytest.raises(DepthIOError, match="single-channel"):
        read_depth(tmp_path / "colour.png")
    with pytest.raises(DepthIOError, match="unsupported depth format"):
        (tmp_path / "depth.txt").write_text("x")
        read_depth(tmp_path / "depth.txt")


def test_failed_write_keeps_previous_file(tmp_path):
    target = tmp_path / "out.png"
    write_depth(target, np.ones((4, 4), np.float32))
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_an_interrupt_mid_write_leaves_no_partial_file(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(tmp_path / "out.png") as tmp:
            tmp.write_bytes(b"half an image")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_write_into_a_file_is_the_os_error_naming_the_path(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(FileExistsError) as raised:
        write_depth(blocker / "out.png", np.ones((2, 2), np.float32))
    assert str(blocker) in str(raised.value)
    target = tmp_path / "taken.png"
    target.mkdir()  # a folder where the file should go: the finished file cannot replace it
    with pytest.raises(IsADirectoryError) as raised:
        write_color(target, np.zeros((2, 2, 3), np.uint8))
    assert raised.value.filename == str(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder", "taken.png"]


def test_partials_of_killed_writers_are_found_and_live_ones_are_not(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead_pid = int(finished.stdout)  # that process has exited
    live = partial_path(tmp_path / "frame.png")
    live.write_bytes(b"being written by this process")
    dead = tmp_path / live.name.replace(f".{os.getpid()}.", f".{dead_pid}.")
    dead.write_bytes(b"")
    (tmp_path / ".hidden_notes.txt").write_text("not ours")
    (tmp_path / "frame.png").write_bytes(b"finished")
    assert live.name.startswith(".frame.png.") and live.suffix == ".png"  # writers pick the format from it
    assert stale_partials(tmp_path) == [dead]
    assert stale_partials(tmp_path, "frame.png") == [dead]
    assert stale_partials(tmp_path, "frame") == []  # another output's partial
    assert stale_partials(tmp_path / "missing") == []


def test_written_files_get_the_umask_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = write_depth(tmp_path / "d.png", np.ones((2, 2), np.float32))
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_color_round_trip_is_rgb(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 200  # red
    back = read_color(write_color(tmp_path / "c.png", rgb))
    np.testing.assert_array_equal(back, rgb)
    with pytest.raises(DepthIOError, match="uint8 RGB"):
        write_color(tmp_path / "bad.png", rgb.astype(np.float32))


def test_mask(tmp_path):
    mask = np.zeros((5, 5), np.uint8)
    mask[1:3, 2] = 255
    write_color(tmp_path / "m.png", mask)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), mask > 0)


def test_real_cleargrasp_exr(cleargrasp_root):
    depth = read_depth(next(cleargrasp_root.glob("*-transparent-depth-img.exr")), scale=1.0)
    assert depth.shape == (720, 1280) and 0.5 < (depth > 0).mean() < 1.0
    assert 0.2 < depth[depth > 0].min() and depth.max() < 2.0  # a tabletop scene, metres
