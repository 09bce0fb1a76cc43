"""The README's main command end to end: synthetic bag -> node process -> recorded output + report."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from generated_datasets import cup_samples, repeat_frames

pytest.importorskip("rclpy", reason="the streaming demo needs rclpy (ROS 2 Kilted wheels)")

from depth_completion_ros import cli
from depth_completion_ros.demo import NODE_READY_TIMEOUT_S, run_demo
from depth_completion_ros.depth_io import read_color

pytestmark = pytest.mark.ros


def test_demo_streams_scores_and_cleans_up(tmp_path):
    output = tmp_path / "demo"
    result = run_demo(output, frames=24, width=320, height=256, method="classical", seed=3)
    assert 0 < result.frames_out <= 24
    metrics = json.loads((output / "metrics.json").read_text())
    completed = metrics["metrics"]["classical (node output)"]
    # holes were filled (every hole pixel with GT is scored) and observed pixels kept as measured
    assert completed["hole/count"] > 0 and completed["hole/rmse"] < 10.0
    assert completed["observed/rmse"] < completed["hole/rmse"]
    assert float(result.node_figures["frames published"]) >= result.frames_out
    for name in ("demo.gif", "summary.md", "node.log"):
        assert (output / name).is_file(), name
    panels = sorted((output / "panels").glob("*.png"))
    assert len(panels) >= 2
    # One colour scale for the whole sequence: the labelled colour bars at the bottom are identical.
    first, last = (read_color(panel) for panel in (panels[0], panels[-1]))
    np.testing.assert_array_equal(first[-12:], last[-12:])
    assert not np.array_equal(first, last)
    assert "latency median" in result.summary()


def test_frames_wider_than_the_picture_width_make_a_reduced_gif_and_full_size_panels(tmp_path, monkeypatch):
    """A 1920x1080 recording held whole for the pictures ran out of memory: frames are reduced for
    the GIF, and only the first, middle and last are read again at full size for their panels
    (completed depth from the recording, raw depth, colour and ground truth from the input bag)."""
    from depth_completion_ros import demo
    from depth_completion_ros.bags.convert import CameraTopics
    from depth_completion_ros.visualization import make_panel

    monkeypatch.setattr(demo, "PICTURE_WIDTH", 160)
    output = tmp_path / "demo"
    depth_range = (0.5, 6.0)
    result = run_demo(output, frames=8, width=320, height=256, method="classical", color_range=depth_range)
    bags = (output / "recorded", output / "input")
    reduced, was_reduced = demo._picture_frames(*bags, CameraTopics(), max_width=160)
    full, _ = demo._picture_frames(*bags, CameraTopics())
    assert was_reduced and len(reduced) == len(full) == result.frames_out > 0
    stamp = min(full)
    assert reduced[stamp][0].shape == (128, 160) and full[stamp][0].shape == (256, 320)
    raw, completed, gt, rgb = full[stamp]
    first_panel = read_color(output / "panels" / "frame_000.png")
    np.testing.assert_array_equal(first_panel, make_panel(raw, completed, gt=gt, rgb=rgb, depth_range=depth_range))
    gif = iio.imread(output / "demo.gif")
    assert len(gif) == result.frames_out


def test_demo_refuses_to_overwrite(tmp_path):
    (tmp_path / "input").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        run_demo(tmp_path, frames=2, method="classical")


def test_demo_reports_a_failed_recording_and_stops_the_node(tmp_path, monkeypatch):
    from depth_completion_ros.bags import record

    def broken_recorder(*args, **kwargs):
        raise OSError("injected: disk full")

    monkeypatch.setattr(record, "record_bag", broken_recorder)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"recording failed.*injected: disk full"):
        run_demo(tmp_path / "demo", frames=4, width=160, height=128, method="classical")
    # The failure is reported at once, not after the recorder-subscription timeout.
    assert time.monotonic() - started < NODE_READY_TIMEOUT_S
    log = (tmp_path / "demo" / "node.log").read_text()
    assert "Traceback" not in log  # the node was stopped with SIGINT and shut down cleanly


def test_demo_replays_a_color_depth_recording_with_its_depth_scale(generated_color_depth, tmp_path):
    """A user's own color/ + depth/ folders, with their units and camera given on the command line."""
    output = tmp_path / "cup"
    camera = cup_samples()[0].intrinsics
    intrinsics = tmp_path / "intrinsics.txt"  # such recordings ship without them
    intrinsics.write_text(f"{camera.fx} 0 {camera.cx}\n0 {camera.fy} {camera.cy}\n0 0 1\n")
    assert cli.main(["demo", "--output", str(output), "--recording", str(generated_color_depth), "--depth-scale",
                     "1000", "--intrinsics", str(intrinsics), "--color-range", "0.3", "1.5",
                     "--method", "classical"]) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["frames_in"] == len(list((generated_color_depth / "depth").iterdir()))
    assert metrics["protocol"] == "hidden" and (output / "demo.gif").is_file()


def test_demo_replays_a_users_recording_folder(generated_kitchen, tmp_path):
    """The data0929 path: a frame folder without ground truth, scored with hidden regions."""
    output = tmp_path / "recording"
    recording = repeat_frames(generated_kitchen, tmp_path / "frames", 12)
    result = run_demo(output, frames=12, method="classical", recording=recording)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["protocol"] == "hidden" and metrics["frames_in"] == 12
    scored = metrics["metrics"]["classical (hidden-region protocol)"]
    assert scored["hole/count"] > 0 and scored["observed/count"] == 0
    assert 0 < result.frames_out <= 12 and (output / "demo.gif").is_file()


@pytest.mark.parametrize("option, value", [("--frames", "0"), ("--width", "-1"), ("--rate", "0"), ("--rate", "nan")])
def test_demo_rejects_sizes_counts_and_rates_that_are_not_positive(tmp_path, capsys, option, value):
    with pytest.raises(SystemExit):
        cli.main(["demo", "--output", str(tmp_path / "demo"), option, value])
    assert "must be a positive" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_sigterm_stops_the_demo_like_ctrl_c_and_leaves_no_node_behind(generated_kitchen, tmp_path):
    """``kill``/``timeout`` send SIGTERM: the demo stops its node and recorder and exits 130."""
    output = tmp_path / "demo"
    recording = repeat_frames(generated_kitchen, tmp_path / "frames", 300)  # as long as a 7-Scenes sequence
    demo = subprocess.Popen(
        [sys.executable, "-m", "depth_completion_ros.cli", "demo", "--output", str(output), "--frames", "600",
         "--method", "classical", "--recording", str(recording), "--depth-scale", "1000", "--rate", "0.5"],
        cwd=Path(__file__).resolve().parents[1], stderr=subprocess.PIPE, text=True)
    node_pid, seen = None, []
    for line in demo.stderr:
        seen.append(line)
        found = re.search(r"starting the node \(pid (\d+)", line)
        node_pid = int(found.group(1)) if found else node_pid
        if "replaying the bag" in line:
            break
    assert node_pid is not None, "the demo never started its node:\n" + "".join(seen)
    time.sleep(2.0)  # mid-replay
    demo.send_signal(signal.SIGTERM)
    stderr = demo.stderr.read()
    assert demo.wait(timeout=90) == 130, stderr
    assert "Traceback" not in stderr and stderr.splitlines()[-1] == "interrupted"
    with pytest.raises(ProcessLookupError):
        os.kill(node_pid, 0)
    assert not [p.name for p in output.rglob(".*")], "partial files left"
