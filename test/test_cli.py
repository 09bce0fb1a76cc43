"""The offline CLI end to end on temporary folders built from generated frames."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data_root
from generated_datasets import KITCHEN_FRAMES

from depth_completion_ros import cli
from depth_completion_ros.cli import main
from depth_completion_ros.cli.common import completer_options, sigterm_as_keyboard_interrupt
from depth_completion_ros.depth_io import partial_path, read_color, read_depth, read_depth_raw
from depth_completion_ros.options import CompleterOptions, option_fields
from depth_completion_ros.visualization import make_panel, robust_depth_range

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Drops the capabilities that let root write anywhere, so a read-only folder is read-only to the run.
WITHOUT_ROOT_OVERRIDE = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                         "--bounding-set=-dac_override,-dac_read_search"]


def _cli_process(argv: list[str], honour_permissions: bool = False, **kwargs) -> subprocess.Popen:
    """``depth-completion ARGV`` as its own process (``honour_permissions``: even when run as root)."""
    prefix = []
    if honour_permissions and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: a read-only folder would not stop the writes")
        prefix = WITHOUT_ROOT_OVERRIDE
    return subprocess.Popen([*prefix, sys.executable, "-m", "depth_completion_ros.cli", *argv], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _run_cli(argv: list[str], honour_permissions: bool = False) -> tuple[int, str]:
    process = _cli_process(argv, honour_permissions)
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


@pytest.fixture
def kitchen_folder(generated_kitchen, tmp_path):
    """Three generated Kinect-like frames in a scratch folder, numbered 0, 100 and 200 like a sparse
    pick from a long 7-Scenes sequence."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for source, index in enumerate((0, 100, 200)):
        for kind in ("color.jpg", "depth.png"):
            shutil.copy(generated_kitchen / f"frame-{source:06d}.{kind}", folder / f"frame-{index:06d}.{kind}")
    shutil.copy(generated_kitchen / "camera-intrinsics.txt", folder)
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


def test_complete_on_matterport_keeps_its_units(generated_matterport, tmp_path):
    out = tmp_path / "mp"
    assert main(["complete", str(generated_matterport), str(out), "--method", "classical", "-q"]) == 0
    written = sorted(out.rglob("*.png"))
    assert len(written) == 3
    depth = read_depth(written[0], scale=4000.0)
    assert 0.2 < np.median(depth) < 10.0  # 1/4000 m units, like the input


def test_evaluate_prints_the_metrics_table(generated_matterport, tmp_path, capsys):
    json_path = tmp_path / "m.json"
    assert main(["evaluate", str(generated_matterport), "--method", "classical", "-q", "--json", str(json_path)]) == 0
    out = capsys.readouterr().out
    assert "**hole**" in out and "| classical |" in out
    assert json_path.is_file()


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


def test_frames_are_loaded_a_few_ahead_not_all_at_once(generated_kitchen, monkeypatch):
    from depth_completion_ros.cli import complete
    from depth_completion_ros.datasets import discover_frames

    frames = (discover_frames(generated_kitchen) * 7)[:40]  # a long recording
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


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if not line.startswith(("INFO ", "WARNING "))]
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_an_output_that_is_a_file_is_one_error_line(kitchen_folder, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("a file where the output folder should be")
    assert main(["complete", str(kitchen_folder), str(taken), "-q"]) == 2
    assert f"{taken}: exists and is not a folder" in _one_error_line(capsys.readouterr().err)
    assert main(["complete", str(kitchen_folder), str(taken / "out"), "-q"]) == 2
    assert f"{taken} is a file" in _one_error_line(capsys.readouterr().err)
    assert taken.read_text() == "a file where the output folder should be"


@pytest.mark.parametrize("where", ["parent", "folder"])
def test_a_read_only_output_is_one_error_line(kitchen_folder, tmp_path, where):
    read_only = tmp_path / "read_only"
    read_only.mkdir(mode=0o555)
    out = read_only / "out" if where == "parent" else read_only
    code, stderr = _run_cli(["complete", str(kitchen_folder), str(out), "-q"], honour_permissions=True)
    assert code == 2
    assert f"{out}: cannot write output here (Permission denied)" in _one_error_line(stderr)
    assert list(read_only.iterdir()) == []


def test_complete_model_finishes_the_frames_it_can_and_lists_the_others(kitchen_folder, tmp_path, capsys):
    (kitchen_folder / "frame-000100.color.jpg").unlink()
    out = tmp_path / "out"
    assert main(["complete", str(kitchen_folder), str(out), "--method", "model", "--batch-size", "3", "-q"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["frame-000000.png", "frame-000200.png"]
    failed = [line for line in capsys.readouterr().err.splitlines() if line.startswith("failed: ")]
    assert failed == [f"failed: frame-000100: no colour image for {kitchen_folder / 'frame-000100.depth.png'} "
                      "(the model method needs one)"]


def test_a_folder_in_place_of_an_output_file_is_one_error_line(kitchen_folder, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "frame-000100.png").mkdir(parents=True)
    assert main(["complete", str(kitchen_folder), str(out), "-q"]) == 2
    assert _one_error_line(capsys.readouterr().err) == f"error: {out / 'frame-000100.png'}: Is a directory"
    assert sorted(p.name for p in out.iterdir()) == ["frame-000000.png", "frame-000100.png"]  # no partial left


def test_panels_never_follow_a_link_out_of_the_output_folder(kitchen_folder, tmp_path, capsys):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "panels").symlink_to(elsewhere)
    assert main(["complete", str(kitchen_folder), str(out), "--panels", "-q"]) == 2
    assert f"{out / 'panels'}: leads out of {out}" in _one_error_line(capsys.readouterr().err)
    assert list(elsewhere.iterdir()) == []


def test_partials_of_a_killed_run_are_named_and_removed(kitchen_folder, tmp_path, caplog):
    out = tmp_path / "out"
    out.mkdir()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    live = partial_path(out / "frame-000000.png")  # this process is alive: a concurrent writer's file
    stale = out / live.name.replace(f".{os.getpid()}.", f".{int(finished.stdout)}.")
    for partial in (live, stale):
        partial.write_bytes(b"")
    killed_bag = out / f".bag.{int(finished.stdout)}.abc.partial"  # a killed bag tool's staging folder
    killed_bag.mkdir()
    assert main(["complete", str(kitchen_folder), str(out), "-q"]) == 0
    assert f"removing {stale}: a partial file left by an earlier run that was killed" in caplog.text
    assert not stale.exists() and live.exists()
    assert killed_bag.is_dir() and str(killed_bag) not in caplog.text  # 'bag repair' may still need it


def test_sigterm_at_any_moment_stops_cleanly_and_leaves_no_partial_file(generated_kitchen, tmp_path):
    """SIGTERM (one, or two in a row) at random moments of real runs: exit 130 or a finished run,
    never a traceback, never a hidden temporary file."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for number, index in enumerate(range(0, 240, 20)):
        for kind in ("color.jpg", "depth.png"):
            source = generated_kitchen / f"frame-{number % KITCHEN_FRAMES:06d}.{kind}"
            shutil.copy(source, frames / f"frame-{index:06d}.{kind}")
    randomness = random.Random(10)
    outcomes = []
    for attempt in range(4):
        out = tmp_path / f"out{attempt}"
        process = _cli_process(["complete", str(frames), str(out), "--panels", "--batch-size", "1", "-q"])
        started = ""
        while " frames from " not in started:  # the run has begun (imports take seconds on a busy machine)
            started = process.stderr.readline()
            assert started, "the run ended before it started"
        time.sleep(randomness.uniform(0.0, 2.5))  # the 12 frames take about 2 s
        for _ in range(1 + attempt % 2):
            process.send_signal(signal.SIGTERM)
            time.sleep(0.01)
        stdout, stderr = process.communicate(timeout=120)
        outcomes.append(process.returncode)
        assert "Traceback" not in stderr, stderr
        # A signal after the last frame may end the exiting interpreter; the run itself finished.
        finished = "completed 12 frames" in stdout
        assert process.returncode == 130 or (finished and process.returncode in (0, -signal.SIGTERM)), stderr
        if process.returncode == 130:
            assert stderr.splitlines()[-1] == "interrupted"
        assert not [p for p in out.rglob(".*")], f"attempt {attempt}: partial files left"
    assert 130 in outcomes


def test_sigterm_becomes_keyboard_interrupt_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_as_keyboard_interrupt():
        pass
    assert signal.getsignal(signal.SIGTERM) is before
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_keyboard_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1.0)  # the handler runs at the next bytecode; the sleep is interrupted
    # After an interrupt, further SIGTERMs are ignored while the process winds down.
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    signal.signal(signal.SIGTERM, before)


def test_panels_use_the_robust_range_unless_a_fixed_one_is_given(kitchen_folder, tmp_path):
    sample_depth = read_depth(kitchen_folder / "frame-000000.depth.png")
    rgb = read_color(kitchen_folder / "frame-000000.color.jpg")
    panels = []
    for argv, depth_range in (([], None), (["--color-range", "0.5", "3"], (0.5, 3.0))):
        out = tmp_path / f"out{len(argv)}"
        assert main(["complete", str(kitchen_folder), str(out), "--method", "interp", "--panels", "-q", *argv]) == 0
        completed = read_depth(out / "frame-000000.png")
        panel = read_color(out / "panels" / "frame-000000.png")
        expected = make_panel(sample_depth, completed, rgb=rgb, depth_range=depth_range)
        assert panel.shape == expected.shape
        # What make_panel draws on that scale (the completed depth read back is rounded to whole mm).
        depth_tiles = slice(rgb.shape[1], None)
        assert (panel[:, depth_tiles] == expected[:, depth_tiles]).all(axis=2).mean() > 0.999
        panels.append(panel)
    assert robust_depth_range(sample_depth) != (0.5, 3.0)
    assert (panels[0] != panels[1]).any(axis=2).mean() > 0.1


@pytest.mark.parametrize("argv", [["--color-range", "3", "0.5"], ["--color-range", "-1", "2"],
                                  ["--depth-scale", "0"], ["--depth-scale", "-1000"]])
def test_bad_range_and_scale_are_usage_errors(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(["complete", str(tmp_path), str(tmp_path / "out"), *argv])
    assert exit_info.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_evaluate_checks_its_outputs_before_the_run(generated_matterport, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    assert main(["evaluate", str(generated_matterport), "-q", "--panels", str(taken)]) == 2
    assert f"{taken}: exists and is not a folder" in _one_error_line(capsys.readouterr().err)
    assert main(["evaluate", str(generated_matterport), "-q", "--json", str(taken / "sub" / "m.json")]) == 2
    assert f"{taken / 'sub'}: cannot be created: {taken} is a file" in _one_error_line(capsys.readouterr().err)


def test_depth_scale_sets_the_units_of_the_recording(kitchen_folder, tmp_path):
    """7-Scenes stores millimetres; read as 1/5000 m (TUM's units) every depth is 5x nearer, so a
    2 m limit keeps every measurement that millimetres would have cut."""
    raw = read_depth_raw(kitchen_folder / "frame-000000.depth.png")
    measured = (raw > 0) & (raw != 65535)
    beyond_2m = measured & (raw > 2000)
    assert beyond_2m.sum() > 1000 and raw[measured].max() < 10000
    for scale, kept in ((None, measured & ~beyond_2m), ("5000", measured)):
        out = tmp_path / f"out{scale}"
        argv = ["complete", str(kitchen_folder), str(out), "--method", "interp", "--max-depth", "2", "--limit", "1",
                "-q"]
        assert main(argv + (["--depth-scale", scale] if scale else [])) == 0
        completed = read_depth_raw(out / "frame-000000.png")
        np.testing.assert_array_equal(completed[kept], raw[kept])  # written back in the input's units
        if scale is None:
            assert (completed[beyond_2m] != raw[beyond_2m]).mean() > 0.9  # beyond the limit: holes, refilled


def test_complete_and_evaluate_read_a_color_depth_recording_in_the_given_units(generated_color_depth, tmp_path):
    out = tmp_path / "out"
    assert main(["complete", str(generated_color_depth), str(out), "--method", "model", "--depth-scale", "1000",
                 "--panels", "-q"]) == 0
    names = sorted(p.name for p in (generated_color_depth / "depth").iterdir())
    assert sorted(p.name for p in out.glob("*.png")) == names and len(list((out / "panels").iterdir())) == len(names)
    raw, completed = (read_depth_raw(folder / names[0]) for folder in (generated_color_depth / "depth", out))
    measured = raw > 0
    np.testing.assert_array_equal(completed[measured], raw[measured])
    json_path = tmp_path / "metrics.json"
    assert main(["evaluate", str(generated_color_depth), "--layout", "color_depth", "--depth-scale", "1000",
                 "--method", "classical", "-q", "--json", str(json_path)]) == 0
    assert json.loads(json_path.read_text())["protocol"] == "hidden"  # no ground truth in a user's recording


def test_evaluate_on_the_shared_cup_sequence(tmp_path, capsys):
    cup = shared_data_root() / "cup_sequence"
    if not cup.is_dir():
        pytest.skip(f"real data not found at {cup} (set DC_SHARED_DATA to the shared data folder)")
    assert main(["evaluate", str(cup), "--depth-scale", "1000", "--limit", "3", "--method", "classical", "-q"]) == 0
    assert "| classical |" in capsys.readouterr().out
