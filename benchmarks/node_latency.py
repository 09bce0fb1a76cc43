"""Benchmark: the depth completion node end to end over DDS, against a pass-through node.

For each image size, this process publishes real 7-Scenes RGB-D frames (depth 16UC1, colour
rgb8, camera_info; enlarged nearest-neighbour for 1280x720 and 1920x1080) at ``--rate`` Hz,
reliable, stamped with the wall clock at publish time, to a node running in another process,
and receives the node's completed depth. It first measures a plain pass-through node (subscribes
depth and colour, republishes the depth message as is) in the same conditions: its latency is the
cost of DDS transport and Python message handling alone, so "added" latency is what completion
costs on top. Reported per run: delivered fraction, output rate, the node's own drop counters
(from /diagnostics), latency median / p95 / max, median latency over the first and the last
window (growing latency would mean a queue), and the node process's CPU use (100 % = one core).
For long runs, ``--timeline 60`` also prints delivery and latency per 60 s window of each run.

    .venv/bin/python benchmarks/node_latency.py [--quick] [--duration 60] [--sizes 640x480 1280x720]
        [--methods classical model] [--model-path M.onnx] [--rate 30] [--data ../shared/data/7scenes_redkitchen]
        [--timeline 60] [--no-baseline]

Targets on 2 cores: classical at 30 Hz for 640x480 with no drops and <= 15 ms median added
latency, for 1280x720 with >= 95 % delivered and <= 33 ms median in-node latency, for 1920x1080
with >= 90 % delivered and <= 50 ms median end to end; model >= 10 Hz with latency that does not
grow. Timings on a shared machine are noisy: the load average is printed with each run.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.geometry import resize_color, resize_depth
from depth_completion_ros.node import NODE_NAME
from depth_completion_ros.options import METHODS
from depth_completion_ros.resources import use_large_frame_transport
from depth_completion_ros.ros_image import color_to_buffer, depth_to_buffer, fill_image_msg
from depth_completion_ros.sync import NANOSECONDS, stamp_to_ns
from depth_completion_ros.topics import CAMERA_INFO_TOPIC, COLOR_TOPIC, DEPTH_TOPIC, OUT_DEPTH_TOPIC

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("DC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "7scenes_redkitchen"
PASSTHROUGH = "pass-through"
RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
#: Frames cycled through by the publisher (enough variety, bounded memory at 1920x1080).
FRAME_COUNT = 10
WARMUP_S = 3.0
#: How long after the last frame is sent its output may still arrive.
DRAIN_S = 2.0
NODE_START_TIMEOUT_S = 120.0  # the model may take a while to load


# ---- the pass-through node (run in its own process with --role passthrough) ---------------------


class PassThroughNode(Node):
    """Subscribes to depth and colour like the real node and republishes the depth unchanged."""

    def __init__(self) -> None:
        super().__init__("passthrough")
        self._out = self.create_publisher(Image, OUT_DEPTH_TOPIC, RELIABLE)
        self.create_subscription(Image, DEPTH_TOPIC, self._out.publish, RELIABLE)
        self.create_subscription(Image, COLOR_TOPIC, lambda msg: None, RELIABLE)


def run_passthrough(ros_args: list[str]) -> None:
    rclpy.init(args=ros_args)
    node = PassThroughNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


# ---- measurement ---------------------------------------------------------------------------------


@dataclass
class Frames:
    """Prebuilt input messages at one size (publishing only rewrites their stamps)."""

    width: int
    height: int
    depth: list[Image]
    color: list[Image]
    info: list[CameraInfo]


def build_frames(data: Path, width: int, height: int) -> Frames:
    samples = [load_frame(frame) for frame in discover_frames(data)[:FRAME_COUNT]]
    depth, color, info = [], [], []
    for sample in samples:
        depth_m = resize_depth(sample.depth, width, height, mode="nearest")
        rgb = resize_color(sample.rgb, width, height)
        intrinsics = sample.intrinsics.scaled(width, height)
        depth.append(fill_image_msg(Image(), depth_to_buffer(depth_m, "16UC1")))
        color.append(fill_image_msg(Image(), color_to_buffer(rgb, "rgb8")))
        info.append(CameraInfo(**intrinsics.camera_info_fields()))
    for msg in depth + info:
        msg.header.frame_id = "camera_depth_optical_frame"
    for msg in color:
        msg.header.frame_id = "camera_color_optical_frame"
    return Frames(width, height, depth, color, info)


@dataclass
class RunResult:
    size: str
    method: str
    sent: int = 0
    delivered: int = 0
    duration_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    first_window_ms: float = float("nan")
    last_window_ms: float = float("nan")
    window_s: float = 0.0
    cpu_percent: float = float("nan")
    node_drops: str = "n/a"
    #: The node's own receive -> publish latency (its /diagnostics), transport excluded.
    in_node_ms: str = "n/a"
    running: str = ""
    #: Per window of ``--timeline`` seconds: (start s, sent, delivered, median latency ms or NaN).
    timeline: list[tuple[float, int, int, float]] = field(default_factory=list)


class Measurer(Node):
    """Publishes the inputs and records each completed frame's receive time by stamp."""

    def __init__(self, namespace: str, frames: Frames, context: Context) -> None:
        super().__init__("bench_driver", namespace=namespace, context=context)
        self.frames = frames
        self._depth = self.create_publisher(Image, DEPTH_TOPIC, RELIABLE)
        self._color = self.create_publisher(Image, COLOR_TOPIC, RELIABLE)
        self._info = self.create_publisher(CameraInfo, CAMERA_INFO_TOPIC, RELIABLE)
        self._lock = threading.Lock()
        self._received: dict[int, int] = {}  # stamp -> receive time, both wall-clock ns
        #: Latest values of the node's "completion" diagnostics (absent for the pass-through).
        self.diagnostics: dict[str, str] = {}
        self._node_id = f"{namespace}/{NODE_NAME}"
        self.create_subscription(Image, OUT_DEPTH_TOPIC, self._on_output, RELIABLE)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_output(self, msg: Image) -> None:
        now = time.time_ns()
        with self._lock:
            self._received.setdefault(stamp_to_ns(msg.header.stamp), now)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.hardware_id == self._node_id and status.name.endswith(": completion"):
                self.diagnostics = {v.key: v.value for v in status.values}

    def target_ready(self) -> bool:
        """The node under test is up: its output publisher has been discovered."""
        return self.count_publishers(self.resolve_topic_name(OUT_DEPTH_TOPIC)) > 0

    def publish_frame(self, index: int) -> int:
        """Publish frame ``index`` (cycling through the prebuilt ones) stamped now; returns the stamp."""
        stamp_ns = time.time_ns()
        k = index % len(self.frames.depth)
        for msg, publisher in (
            (self.frames.info[k], self._info),
            (self.frames.depth[k], self._depth),
            (self.frames.color[k], self._color),
        ):
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, NANOSECONDS)
            publisher.publish(msg)
        return stamp_ns

    def received(self) -> dict[int, int]:
        with self._lock:
            return dict(self._received)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (psutil when installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def start_target(
    method: str, namespace: str, model_path: str, log_dir: Path, node_parameters: list[str]
) -> tuple[subprocess.Popen, Path]:
    """Start the node under test (or the pass-through) in its own process, logging to a file."""
    ros_args = ["--ros-args", "-r", f"__ns:={namespace}"]
    if method == PASSTHROUGH:
        command = [sys.executable, str(Path(__file__).resolve()), "--role", "passthrough", *ros_args]
    else:
        command = [sys.executable, "-m", "depth_completion_ros.node", *ros_args, "-p", f"method:={method}"]
        if model_path:
            command += ["-p", f"model_path:={model_path}"]
        for parameter in node_parameters:
            command += ["-p", parameter]
    log = log_dir / f"{namespace.strip('/')}_{method}.log"
    with log.open("w") as handle:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT)
    return process, log


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(method: str, frames: Frames, args: argparse.Namespace, log_dir: Path) -> RunResult:
    """One run: start the target, warm up, publish for ``args.duration`` s, drain, summarise."""
    namespace = f"/bench_{os.getpid()}_{random.randrange(1 << 30)}"
    result = RunResult(size=f"{frames.width}x{frames.height}", method=method)
    process, log = start_target(method, namespace, args.model_path, log_dir, args.param)
    context = Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        measurer = Measurer(namespace, frames, context)
        executor.add_node(measurer)
        threading.Thread(target=executor.spin, daemon=True).start()
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        while not measurer.target_ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {method} node did not start; its log {log}:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)

        period = 1.0 / args.rate
        warmup_start = time.monotonic()
        index = 0
        while time.monotonic() < warmup_start + WARMUP_S:  # warm-up frames are not measured
            measurer.publish_frame(index)
            index += 1
            time.sleep(max(0.0, warmup_start + index * period - time.monotonic()))
        diagnostics_start = dict(measurer.diagnostics)
        cpu_start, wall_start = cpu_seconds(process.pid), time.monotonic()
        sent = []
        while (now := time.monotonic()) < wall_start + args.duration:
            sent.append(measurer.publish_frame(index))
            index += 1
            time.sleep(max(0.0, wall_start + len(sent) * period - now))
        result.duration_s = time.monotonic() - wall_start
        result.cpu_percent = 100.0 * (cpu_seconds(process.pid) - cpu_start) / result.duration_s
        time.sleep(DRAIN_S)
        summarise(result, sent, measurer.received(), args.timeline)
        if method == PASSTHROUGH:
            result.running = PASSTHROUGH
        else:
            result.running, result.node_drops, result.in_node_ms = node_report(diagnostics_start, measurer.diagnostics)
    finally:
        executor.shutdown()
        rclpy.try_shutdown(context=context)
        stop(process)
    return result


def summarise(result: RunResult, sent: list[int], received: dict[int, int], timeline_s: float = 0.0) -> None:
    """Delivery and latency figures from the sent stamps and their receive times (and per
    ``timeline_s`` window of the run when it is > 0)."""
    result.sent = len(sent)
    latencies = [(stamp, (received[stamp] - stamp) / 1e6) for stamp in sent if stamp in received]
    if timeline_s > 0 and sent:
        step = int(timeline_s * NANOSECONDS)
        for start in range(sent[0], sent[-1] + 1, step):
            window_sent = [stamp for stamp in sent if start <= stamp < start + step]
            window_ms = [ms for stamp, ms in latencies if start <= stamp < start + step]
            median = statistics.median(window_ms) if window_ms else float("nan")
            result.timeline.append(((start - sent[0]) / NANOSECONDS, len(window_sent), len(window_ms), median))
    result.delivered = len(latencies)
    result.latencies_ms = [ms for _, ms in latencies]
    if not latencies:
        return
    window_ns = int(min(10.0, result.duration_s / 3) * NANOSECONDS)
    result.window_s = window_ns / NANOSECONDS
    first = [ms for stamp, ms in latencies if stamp < sent[0] + window_ns]
    last = [ms for stamp, ms in latencies if stamp >= sent[-1] - window_ns]
    result.first_window_ms = statistics.median(first) if first else float("nan")
    result.last_window_ms = statistics.median(last) if last else float("nan")


def node_report(start: dict[str, str], end: dict[str, str]) -> tuple[str, str, str]:
    """(method running, with the fallback if any; the node's drop counters during the run; its own
    median receive -> publish latency)."""
    if not end:
        return "unknown (no diagnostics)", "n/a", "n/a"
    running = end.get("method (running)", "?")
    if end.get("fallback", "none") != "none":
        running += " (fallback)"
    drops = []
    for kind in ("stale", "unmatched_depth"):
        key = f"dropped: {kind}"
        drops.append(f"{kind} {int(end.get(key, 0)) - int(start.get(key, 0))}")
    return running, ", ".join(drops), end.get("latency median (ms)", "n/a")


def markdown_table(results: list[RunResult]) -> str:
    baseline = {
        r.size: statistics.median(r.latencies_ms) for r in results if r.method == PASSTHROUGH and r.latencies_ms
    }
    header = (
        "| size | node | delivered | output Hz | node drops | latency median / p95 / max (ms) | added median (ms) "
        "| in-node median (ms) | median first / last window (ms) | node CPU |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in results:
        if r.latencies_ms:
            median = statistics.median(r.latencies_ms)
            p95 = float(np.percentile(r.latencies_ms, 95))
            latency = f"{median:.1f} / {p95:.1f} / {max(r.latencies_ms):.1f}"
            added = "—" if r.method == PASSTHROUGH or r.size not in baseline else f"{median - baseline[r.size]:+.1f}"
            windows = f"{r.first_window_ms:.1f} / {r.last_window_ms:.1f} ({r.window_s:.0f} s)"
        else:
            latency = added = windows = "no output"
        lines.append(
            f"| {r.size} | {r.running} | {100.0 * r.delivered / max(r.sent, 1):.1f} % ({r.delivered}/{r.sent}) "
            f"| {r.delivered / r.duration_s:.1f} | {r.node_drops} | {latency} | {added} | {r.in_node_ms} | {windows} "
            f"| {r.cpu_percent:.0f} % |"
        )
    return "\n".join(lines)


def timeline_table(result: RunResult) -> str:
    """Delivery and median latency per window of one run: latency that grows would show here."""
    lines = [f"{result.size} {result.running}:", "", "| from (s) | delivered | median latency (ms) |", "|---|---|---|"]
    for start_s, sent, delivered, median in result.timeline:
        share = 100.0 * delivered / max(sent, 1)
        lines.append(f"| {start_s:.0f} | {share:.1f} % ({delivered}/{sent}) | {median:.1f} |")
    return "\n".join(lines)


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, got {text!r}") from None
    return width, height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--role", choices=("measure", "passthrough"), default="measure", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(640, 480)], help="e.g. 640x480 1280x720")
    parser.add_argument("--methods", nargs="+", default=["classical", "model"], choices=METHODS)
    parser.add_argument("--model-path", default="", help="model for the model method (default: the shipped one)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="a parameter for the node under test, e.g. pipeline_fill:=true (repeatable)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds per run (default 60)")
    parser.add_argument("--quick", action="store_true", help="10 s per run")
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second published (default 30)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a frame-XXXXXX folder (7-Scenes)")
    parser.add_argument("--timeline", type=float, default=0.0, metavar="SECONDS",
                        help="also print delivery and median latency per window of this many seconds")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="measure the pass-through node first at each size (default; --no-baseline skips it)")
    parser.add_argument("--transport", choices=("large-frames", "default"), default="large-frames",
                        help="large-frames: the shipped Fast DDS profile (config/fastdds_large_frames.xml) "
                             "for every process; default: Fast DDS's built-in transports")
    args, ros_args = parser.parse_known_args()
    if args.role == "passthrough":
        run_passthrough(ros_args)
        return
    if args.quick:
        args.duration = 10.0
    if not args.data.is_dir():
        sys.exit(f"error: {args.data} not found (pass --data or set DC_SHARED_DATA)")
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(100, 199)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    profile = use_large_frame_transport(os.environ) if args.transport == "large-frames" else "Fast DDS default"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), Python "
          f"{platform.python_version()}, ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}, transport: {profile}; "
          + (f"node parameters: {' '.join(args.param)}; " if args.param else "")
          + f"{args.rate:g} Hz for {args.duration:g} s per run after {WARMUP_S:g} s warm-up")
    results = []
    with tempfile.TemporaryDirectory(prefix="node_latency_") as log_dir:
        for width, height in args.sizes:
            frames = build_frames(args.data, width, height)
            for method in ((PASSTHROUGH,) if args.baseline else ()) + tuple(args.methods):
                load = " ".join(f"{value:.1f}" for value in os.getloadavg())
                print(f"measuring {method} at {width}x{height} (load average {load}) ...", flush=True)
                results.append(measure(method, frames, args, Path(log_dir)))
    print()
    print(markdown_table(results))
    for result in results if args.timeline > 0 else []:
        print()
        print(timeline_table(result))


if __name__ == "__main__":
    main()
