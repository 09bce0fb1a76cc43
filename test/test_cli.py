"""The offline CLI end to end on temporary folders built from the real frames."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from depth_completion_ros import cli
from depth_completion_ros.cli import main
from depth_completion_ros.cli.common import completer_options
from depth_completion_ros.depth_io import read_depth, read_depth_raw
from depth_completion_ros.options import CompleterOptions, option_fields


@pytest.fixture
def kitchen_folder(redkitchen_root, tmp_path):
    """Three real 7-Scenes frames in a scratch folder (copied to /tmp, never into the repo)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in (0, 100, 200):
        for kind in ("color.jpg", "depth.png"):
            name = f"frame-{index:06d}.{kind}"
            shutil.copy(redkitchen_root / name, folder / name)
    shutil.copy(redkitchen_root / "camera-intrinsics.txt", folder)
    return folder


@pytest.mark.parametrize("method", ["interp", "classical"])
def test_complete_writes_millimetre_pngs_and_keeps_measurements(kitchen_folder, tmp_path, method, capsys):
    out = tmp_path / "out"
    assert main(["complete", str(kitchen_folder), str(out), "--method", method, "--batch-size", "2", "-q"]) == 0
    assert "frames/s" in capsys.readouterr().out
    for source in sorted(kitchen_folder.glob("*.depth.png")):
        raw = read_depth_raw(source)
        completed = read_depth_raw(out / f"{source.name.split('.')[0]}.png")
        assert completed.dtype == np.uint16 and completed.shape == raw.shape
        measured = (raw > 0) & (raw != 65535)
        np.testing.assert_array_equal(completed[measured], raw[measured])  # bit-exact in the input's units
        assert (completed > 0).sum() > measured.sum()
        if method == "classical":
            assert (completed > 0).all()
    assert not list(out.glob(".*"))  # no temporary files left


def test_complete_reports_a_corrupt_frame_and_finishes_the_rest(kitchen_folder, tmp_path, capsys):
    (kitchen_folder / "frame-000100.depth.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert main(["complete", str(kitchen_folder), str(out), "--method", "classical", "--panels", "-q"]) == 1
    assert "frame-000100" in capsys.readouterr().err
    assert sorted(p.name for p in out.glob("*.png")) == ["frame-000000.png", "frame-000200.png"]
    assert len(list((out / "panels").glob("*.png"))) == 2


def test_complete_on_matterport_keeps_its_units(matterport_root, tmp_path):
    out = tmp_path / "mp"
    assert main(["complete", str(matterport_root), str(out), "--method", "classical", "-q"]) == 0
    written = sorted(out.rglob("*.png"))
    assert len(written) == 3
    depth = read_depth(written[0], scale=4000.0)
    assert 0.2 < np.median(depth) < 10.0  # 1/4000 m units, like the input


def test_evaluate_prints_the_metrics_table(matterport_root, tmp_path, capsys):
    assert main(["evaluate", str(matterport_root), "--method", "classical", "-q", "--json", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "**hole**" in out and "| classical |" in out
    assert (tmp_path / "m.json").is_file()


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    assert main(["complete", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "no such dataset folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["complete", str(tmp_path), str(tmp_path / "o"), "--method", "magic"])


def test_a_missing_model_file_is_a_clear_error_not_a_traceback(kitchen_folder, tmp_path, capsys):
    missing = tmp_path / "missing.onnx"
    assert main(["complete", str(kitchen_folder), str(tmp_path / "out"), "--method", "model",
                 "--model", str(missing), "-q"]) == 2
    assert f"{missing}: model file not found" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--batch-size", "--limit"])
@pytest.mark.parametrize("value", ["0", "-2"])
def test_counts_must_be_positive(kitchen_folder, tmp_path, capsys, option, value):
    with pytest.raises(SystemExit):
        main(["complete", str(kitchen_folder), str(tmp_path / "out"), option, value, "-q"])
    assert "must be a positive integer" in capsys.readouterr().err


def test_limit_processes_only_the_first_frames(kitchen_folder, tmp_path):
    out = tmp_path / "out"
    assert main(["complete", str(kitchen_folder), str(out), "--method", "interp", "--limit", "2", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["frame-000000.png", "frame-000100.png"]


def test_frames_are_loaded_a_few_ahead_not_all_at_once(redkitchen_root, monkeypatch):
    from depth_completion_ros.cli import complete
    from depth_completion_ros.datasets import discover_frames

    frames = discover_frames(redkitchen_root)[:40]
    loaded = []

    def counting_load(frame, with_rgb=True):
        loaded.append(frame.name)
        return cli_load_frame(frame, with_rgb=with_rgb)

    cli_load_frame = complete.load_frame
    monkeypatch.setattr(complete, "load_frame", counting_load)
    stream = complete._load_ahead(frames, with_rgb=False)
    first_frame, first_sample = next(stream)
    assert first_frame.name == frames[0].name and first_sample.depth.ndim == 2
    time.sleep(0.5)  # time for the pool to run ahead as far as it is allowed
    assert len(loaded) <= complete.LOAD_AHEAD + 1
    stream.close()  # a consumer that stops early (an error, Ctrl-C) leaves no loads queued
    time.sleep(0.2)
    assert len(loaded) <= complete.LOAD_AHEAD + 1
    names = [frame.name for frame, _ in complete._load_ahead(frames[:10], with_rgb=False)]
    assert names == [frame.name for frame in frames[:10]]


def test_the_library_never_imports_the_command_line():
    """Layers point down: importing library packages (bags, demo runner, pipeline) loads no CLI module."""
    code = (
        "import sys\n"
        "import depth_completion_ros.bags, depth_completion_ros.bags.convert, depth_completion_ros.demo\n"
        "import depth_completion_ros.pipeline, depth_completion_ros.evaluation\n"
        "print(sorted(m for m in sys.modules if m.startswith('depth_completion_ros.cli')))\n"
    )
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert finished.stdout.strip() == "[]"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_every_command_group_registers_its_commands():
    parser = cli.build_parser()
    commands = _subcommands(parser)
    assert {"complete", "evaluate", "bag", "demo"} <= set(commands)
    for name in cli.COMMAND_MODULES:
        module = importlib.import_module(f"depth_completion_ros.cli.{name}")
        assert callable(module.register), name
    for argv in (["complete", "in", "out"], ["evaluate", "in"], ["bag", "info", "x.mcap"], ["demo"]):
        assert callable(parser.parse_args(argv).func), argv


def test_completion_arguments_are_the_completer_options():
    parser = cli.build_parser()
    defaults = completer_options(parser.parse_args(["complete", "in", "out"]))
    assert defaults == dataclasses.replace(CompleterOptions(), method="classical")  # offline default: no GPU needed
    args = parser.parse_args(["evaluate", "in", "--method", "model", "--backend", "torch", "--model", "m.pt",
                              "--device", "cpu", "--fit", "resize", "--no-interp", "--confidence-threshold", "0.4",
                              "--low-confidence", "classical", "--min-depth", "0.3", "--max-depth", "6"])
    assert completer_options(args) == CompleterOptions(
        method="model", backend="torch", model_path="m.pt", device="cpu", fit="resize", interpolate=False,
        confidence_threshold=0.4, low_confidence="classical", min_depth=0.3, max_depth=6.0,
    )
    for command in ("complete", "evaluate"):
        named = {action.dest for action in _subcommands(parser)[command]._actions}
        assert {option.name for option in option_fields(CompleterOptions)} <= named, command


@pytest.mark.parametrize("argv, problem", [
    (["--confidence-threshold", "1.5"], "must be a number in [0, 1]"),
    (["--min-depth", "-1"], "must be a number in [0, 10]"),
    (["--fit", "stretch"], "invalid choice: 'stretch'"),
])
def test_bad_completion_arguments_are_usage_errors(tmp_path, capsys, argv, problem):
    with pytest.raises(SystemExit) as exit_info:
        main(["complete", str(tmp_path), str(tmp_path / "out"), *argv])
    assert exit_info.value.code == 2
    assert problem in capsys.readouterr().err
