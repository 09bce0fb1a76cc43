"""The streaming demo: the README's main command, with no download and no GPU.

What it does, end to end, with the same pieces a robot uses:

1. renders a short synthetic indoor RGB-D sequence (a moving camera, realistic sensor holes,
   dense ground truth) and writes it as a rosbag2 bag (``input/``),
2. starts ``depth_completion_node`` in its own process, in the ``/camera`` namespace, with
   ``use_sim_time`` — exactly as ``ros2 run`` would,
3. records the node's output (and the ground truth and raw depth it needs for scoring) into
   ``recorded/`` while it plays the input bag in real time with ``/clock``,
4. scores the completed frames against ground truth, draws raw/completed/GT panels and an
   animated GIF, and writes the metrics and the node's own throughput/latency figures.

Every process it starts is stopped again, also on Ctrl-C.
"""
from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np

from .bags.convert import CameraTopics, frames_to_bag, samples_to_bag
from .bags.storage import iter_messages, match_by_stamp, open_bag
from .datasets import Sample, discover_frames
from .depth_io import atomic_output, write_color
from .geometry import resize_color, resize_depth
from .options import CompleterOptions
from .pipeline import DepthCompleter
from .resources import default_model_path, use_large_frame_transport
from .ros_image import color_from_msg, depth_from_msg
from .sync import stamp_to_ns
from .synthetic import render_sequence
from .topics import DIAGNOSTICS_TOPIC, OUT_CONFIDENCE_TOPIC
from .visualization import make_panel, robust_depth_range

LOG = logging.getLogger("depth_completion.demo")
RATE_KEY = "output rate (Hz)"
NODE_READY_TIMEOUT_S = 60.0
#: After the last input frame, how long to wait for the node's last outputs.
SETTLE_S = 3.0
GIF_WIDTH = 960
#: Frames wider than this are reduced by an integer factor (nearest for depth, area for colour)
#: for the sequence's colour range and the GIF, so that a long 1920x1080 recording fits in memory
#: (held at full size, 300 such frames and their panels took 13 GB); the first, middle and last
#: frame's panels are still drawn at full resolution.
PICTURE_WIDTH = 640
#: Sub-folder of the output for the first, middle and last frame's panel.
PANELS_FOLDER = "panels"
#: One recorded frame for the pictures: (raw, completed, ground truth or None, rgb or None).
PictureFrame = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


@dataclass
class DemoResult:
    """Where the demo left its outputs, and the figures it prints."""

    output: Path
    method: str
    frames_in: int
    frames_out: int = 0
    metrics_markdown: str = ""
    node_figures: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [
            f"method: {self.method}",
            f"frames: {self.frames_in} published at the camera rate, {self.frames_out} completed "
            f"({100.0 * self.frames_out / max(self.frames_in, 1):.0f} %; the node drops stale frames "
            "instead of queueing them, so latency never grows)",
        ]
        lines += [f"node {key}: {value}" for key, value in self.node_figures.items()]
        lines += ["", self.metrics_markdown, ""]
        lines += [f"{name}: {path}" for name, path in self.files.items()]
        return "\n".join(lines)


def choose_method(requested: str) -> str:
    """``auto`` runs the node's default method (:class:`CompleterOptions`); a default model that is
    not installed falls back to the classical method (and says why)."""
    if requested != "auto":
        return requested
    if CompleterOptions().method != "model":
        return CompleterOptions().method
    try:
        default_model_path()
    except FileNotFoundError as exc:
        LOG.warning("no shipped model found (%s); the demo uses the classical method", exc)
        return "classical"
    return "model"


def _node_command(method: str, namespace: str, extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "depth_completion_ros.node", "--ros-args",
        "-r", f"__ns:={namespace}",
        "-p", f"method:={method}",
        "-p", "use_sim_time:=true",
        # The player offers reliable QoS (the bag's metadata); subscribing so from the start
        # means no frame is lost while 'auto' would wait to see the player's offer.
        "-p", "depth_qos:=reliable",
        "-p", "color_qos:=reliable",
        *extra,
    ]


def _stop_process(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGINT first (the node shuts down cleanly), then SIGKILL for the whole process group."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


class _RecorderThread(threading.Thread):
    """Runs :func:`record_bag` and keeps its exception, which a plain thread would only print."""

    def __init__(self, record: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(name="demo_recorder", daemon=True)
        self._call = (record, args, kwargs)
        self.error: BaseException | None = None

    def run(self) -> None:
        record, args, kwargs = self._call
        try:
            record(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the demo's thread by raise_error
            self.error = exc

    def raise_error(self) -> None:
        """Raise the recording's failure in the calling thread (nothing when it is fine so far)."""
        if self.error is not None:
            raise RuntimeError(f"recording failed: {type(self.error).__name__}: {self.error}") from self.error


def _wait_for_graph(ready: Callable[[Any], bool], what: str, node: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Poll the ROS graph until ``ready(graph_node)``; fail early if the node process died."""
    from .bags.ros import ros_node

    with ros_node("demo_graph_probe") as (probe, stop):
        deadline = time.monotonic() + timeout_s
        while not ready(probe) and not stop.is_set():
            if node.poll() is not None:
                raise RuntimeError(f"the node exited with code {node.returncode} before {what}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up after {timeout_s:.0f} s waiting for {what}")
            time.sleep(0.1)
        if stop.is_set():  # Ctrl-C reached the probe's handler: pass it on
            raise KeyboardInterrupt


def _node_figures(recorded: Path) -> dict[str, str]:
    """The node's 'completion' diagnostics: its own latency and drop counts at the end, and the
    highest output rate it reported (the last report comes after the input stopped)."""
    latest: dict[str, str] = {}
    peak_rate = 0.0
    with open_bag(recorded) as reader:
        if DIAGNOSTICS_TOPIC not in reader.topics:
            return latest
        for _topic, _log_ns, message in iter_messages(reader, [DIAGNOSTICS_TOPIC]):
            for status in message.status:
                if status.name.endswith("completion"):
                    latest = {kv.key: kv.value for kv in status.values}
                    peak_rate = max(peak_rate, float(latest.get(RATE_KEY, 0.0)))
    if latest:
        latest[RATE_KEY] = f"{peak_rate:.2f}"
    return latest


def _picture_frames(
    recorded: Path, input_bag: Path, topics: CameraTopics, *, max_width: int | None = None,
    stamps: Collection[int] | None = None,
) -> tuple[dict[int, PictureFrame], bool]:
    """The completed frames the recorder got (by stamp; only ``stamps`` when given), each with its
    raw depth, ground truth and colour from the input bag, decoded; and whether any was reduced:
    frames wider than ``max_width`` are, to it, by an integer factor."""
    completed: dict[int, np.ndarray] = {}
    with open_bag(recorded) as reader:
        for _topic, _log_ns, message in iter_messages(reader, [topics.completed]):
            stamp = stamp_to_ns(message.header.stamp)
            if stamps is None or stamp in stamps:
                completed[stamp] = _depth_picture(message, _picture_size(message, max_width))
    frames: dict[int, PictureFrame] = {}
    reduced = False
    with open_bag(input_bag) as reader:
        present = [t for t in (topics.depth, topics.ground_truth, topics.color) if t in reader.topics]
        for stamp, group in match_by_stamp(iter_messages(reader, present), present, required=[topics.depth]):
            if stamp not in completed:
                continue
            size = _picture_size(group[topics.depth], max_width)
            reduced |= size is not None
            rgb = color_from_msg(group[topics.color]) if topics.color in group else None
            frames[stamp] = (
                _depth_picture(group[topics.depth], size),
                completed[stamp],
                _depth_picture(group[topics.ground_truth], size) if topics.ground_truth in group else None,
                rgb if rgb is None or size is None else resize_color(rgb, *size),
            )
    return frames, reduced


def _picture_size(msg: Any, max_width: int | None) -> tuple[int, int] | None:
    """(width, height) an image message is reduced to for pictures, by an integer factor to at most
    ``max_width``; None when it stays as it is."""
    width, height = int(msg.width), int(msg.height)
    factor = 1 if max_width is None else math.ceil(width / max_width)
    return None if factor == 1 else (width // factor, height // factor)


def _depth_picture(msg: Any, size: tuple[int, int] | None) -> np.ndarray:
    """A depth message decoded, resized (nearest) to ``size`` unless it is None."""
    depth = depth_from_msg(msg)
    return depth if size is None else resize_depth(depth, *size)


def _write_pictures(
    frames: list[PictureFrame], output: Path, depth_range: tuple[float, float],
    full_size: Callable[[Collection[int]], list[PictureFrame]] | None = None,
) -> dict[str, Path]:
    """The GIF of ``frames`` and the first, middle and last frame's panels; ``full_size`` gives
    those frames (by index) at full resolution when ``frames`` were reduced."""
    picks = {"first": 0, "middle": len(frames) // 2, "last": len(frames) - 1}
    picked = frames if full_size is None else dict(zip(picks.values(), full_size(picks.values()), strict=True))
    files: dict[str, Path] = {}
    for label, index in picks.items():
        raw, completed, gt, rgb = picked[index]
        panel = make_panel(raw, completed, gt=gt, rgb=rgb, depth_range=depth_range)
        files[f"panel ({label} frame)"] = write_color(output / PANELS_FOLDER / f"frame_{index:03d}.png", panel)
    small = []
    for raw, completed, gt, rgb in frames:
        panel = make_panel(raw, completed, gt=gt, rgb=rgb, depth_range=depth_range)
        height, width = panel.shape[:2]
        small.append(resize_color(panel, GIF_WIDTH, round(height * GIF_WIDTH / width)) if width > GIF_WIDTH else panel)
    gif = output / "demo.gif"
    with atomic_output(gif) as tmp:
        iio.imwrite(tmp, np.stack(small), extension=".gif", duration=100, loop=0)
    files["animation"] = gif
    return files


def _synthetic_input(bag: Path, topics: CameraTopics, frames: int, width: int, height: int, seed: int) -> None:
    LOG.info("rendering %d synthetic %dx%d frames and writing them as a bag", frames, width, height)
    sequence = (Sample(name=f"{i:06d}", depth=s.raw, rgb=s.rgb, gt=s.gt, intrinsics=s.intrinsics)
                for i, s in enumerate(render_sequence(seed, frames, width, height)))
    first = next(sequence)
    samples_to_bag([first, *sequence], bag, count=frames, intrinsics=first.intrinsics, namespace=topics.namespace)


def _recording_input(bag: Path, topics: CameraTopics, recording: Path, frames: int, depth_scale: float | None,
                     intrinsics: Path | None) -> int:
    """A user's frame folder (any layout ``discover_frames`` reads) -> the input bag; returns its frame count."""
    selected = discover_frames(recording, depth_scale=depth_scale)[:frames]
    LOG.info("converting %d frames of %s into a bag", len(selected), recording)
    frames_to_bag(selected, bag, namespace=topics.namespace, intrinsics=intrinsics)
    return len(selected)


def run_demo(
    output: Path,
    frames: int = 120,
    width: int = 640,
    height: int = 480,
    method: str = "auto",
    seed: int = 0,
    rate: float = 1.0,
    node_parameters: list[str] | None = None,
    recording: Path | None = None,
    depth_scale: float | None = None,
    intrinsics: Path | None = None,
    color_range: tuple[float, float] | None = None,
) -> DemoResult:
    """Run the whole demo into ``output`` and return what it measured (see the module docstring).

    With ``recording`` (a frame folder such as data0929) the user's own frames are
    replayed instead of the synthetic sequence; without ground truth they are scored with the
    hidden-region protocol, offline, by the same completion settings. ``depth_scale`` and
    ``intrinsics`` (a file): the recording's 16-bit units per metre and its camera where its
    layout does not say. The panels and the GIF
    share one depth colour scale: ``color_range``, by default the robust range of the whole
    sequence (so a depth keeps its colour from frame to frame).
    """
    # rclpy is needed here only: the offline commands work without a ROS install.
    from .bags.evaluate import evaluate_against_reference, evaluate_hidden_regions
    from .bags.play import play_bag
    from .bags.record import record_bag

    method = choose_method(method)
    LOG.info("Fast DDS profile: %s", use_large_frame_transport(os.environ))
    output.mkdir(parents=True, exist_ok=True)
    topics = CameraTopics()
    input_bag, recorded_bag = output / "input", output / "recorded"
    for bag in (input_bag, recorded_bag):
        if bag.exists():
            raise FileExistsError(f"{bag} already exists: choose an empty --output folder or delete it")
    if recording is None:
        _synthetic_input(input_bag, topics, frames, width, height, seed)
    else:
        frames = _recording_input(input_bag, topics, recording, frames, depth_scale, intrinsics)
    with open_bag(input_bag) as reader:
        has_reference = topics.ground_truth in reader.topics
    result = DemoResult(output=output, method=method, frames_in=frames)
    result.files["input bag"] = input_bag

    # The child keeps its own copy of the log's descriptor: ours can be closed as soon as it started.
    with open(output / "node.log", "w") as node_log:
        node = subprocess.Popen(_node_command(method, topics.namespace, node_parameters or []), stdout=node_log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    stop = threading.Event()
    # The node's outputs only, plus what scoring against a reference reads from the recording: the
    # pictures take raw depth and colour from the input bag. (Recording 1920x1080 depth and colour
    # as well, 350 MB/s, took the cores the node needed: 77 % of the frames instead of 98 %.)
    scored_inputs = [topics.depth, topics.ground_truth] if has_reference else []
    record_topics = [topics.completed, f"{topics.namespace}/{OUT_CONFIDENCE_TOPIC}", DIAGNOSTICS_TOPIC, *scored_inputs]
    recorder = _RecorderThread(record_bag, recorded_bag, record_topics, stamp="header", stop=stop)
    try:
        LOG.info("starting the node (pid %d, log %s)", node.pid, output / "node.log")
        _wait_for_graph(lambda g: g.count_publishers(topics.completed) > 0, "the node came up", node,
                        NODE_READY_TIMEOUT_S)
        recorder.start()

        def recorder_subscribed(graph: Any) -> bool:
            recorder.raise_error()
            subscribers: int = graph.count_subscribers(topics.completed)
            return subscribers > 0

        _wait_for_graph(recorder_subscribed, "the recorder subscribed", node, NODE_READY_TIMEOUT_S)
        LOG.info("replaying the bag with /clock once the node and the recorder both listen")
        report = play_bag(input_bag, rate=rate, clock_hz=100.0,
                          wait_for_subscribers=[topics.depth, topics.color, *scored_inputs])
        LOG.info("%s", report.format())
        if report.interrupted:
            raise KeyboardInterrupt
        time.sleep(SETTLE_S)
    finally:
        stop.set()
        if recorder.is_alive():
            recorder.join(timeout=30.0)
        _stop_process(node)
    recorder.raise_error()
    if recorder.is_alive():
        raise RuntimeError(f"the recorder did not finish {recorded_bag} within 30 s of the stop request")
    if node.returncode not in (0, -signal.SIGINT, 130):
        raise RuntimeError(f"the node exited with code {node.returncode}; see {output / 'node.log'}")
    result.files["recorded bag"] = recorded_bag
    result.files["node log"] = output / "node.log"
    result.node_figures = _node_figures(recorded_bag)

    if has_reference:
        evaluation = evaluate_against_reference(recorded_bag, topics.completed, topics.ground_truth,
                                                raw_topic=topics.depth, progress=False)
        label = f"{method} (node output)"
    else:
        LOG.info("no ground truth: scoring %s on hidden regions of the raw depth (offline, same settings)", method)
        evaluation = evaluate_hidden_regions(input_bag, DepthCompleter(method=method), depth_topic=topics.depth,
                                             color_topic=topics.color, seed=seed, progress=False)
        label = f"{method} (hidden-region protocol)"
    scores = evaluation.report
    # One method was scored; name it for the reader rather than by its topic.
    (metrics,) = scores.metrics.values()
    scores.metrics = {label: metrics}
    scores.ms_per_frame = {label: ms for ms in scores.ms_per_frame.values()}  # noqa: B035 - at most one entry
    result.metrics_markdown = scores.markdown(groups=("all", "observed", "hole"))
    by_stamp, reduced = _picture_frames(recorded_bag, input_bag, topics, max_width=PICTURE_WIDTH)
    stamps = sorted(by_stamp)
    pictures = [by_stamp[stamp] for stamp in stamps]
    result.frames_out = len(pictures)
    if color_range is None:
        color_range = robust_depth_range(*(raw for raw, _, _, _ in pictures), *(gt for _, _, gt, _ in pictures))

    def full_size(indices: Collection[int]) -> list[PictureFrame]:
        chosen = [stamps[index] for index in indices]
        frames, _ = _picture_frames(recorded_bag, input_bag, topics, stamps=set(chosen))
        return [frames[stamp] for stamp in chosen]

    result.files.update(_write_pictures(pictures, output, color_range, full_size if reduced else None))

    with atomic_output(output / "metrics.json") as tmp:
        tmp.write_text(json.dumps({"method": method, "frames_in": frames, "frames_out": result.frames_out,
                                   "protocol": scores.protocol, "metrics": scores.metrics,
                                   "node": result.node_figures}, indent=2))
    result.files["metrics"] = output / "metrics.json"
    with atomic_output(output / "summary.md") as tmp:
        tmp.write_text(f"# Streaming demo\n\n```\n{result.summary()}\n```\n")
    result.files["summary"] = output / "summary.md"
    return result
