"""Benchmark: where the node's time goes, stage by stage, for one frame at camera resolutions.

Runs the classical node's per-frame path in this process, without DDS transport, on real
frames: 7-Scenes Kinect frames (640x480, enlarged nearest-neighbour to 1280x720 and
1920x1080, so holes keep their shapes) and the ClearGrasp RealSense D435 frames (1280x720 as
captured). Each frame starts as the sensor_msgs/Image messages a camera driver sends (16UC1
depth, rgb8 colour) and goes through the same library calls as ``DepthCompletionNode``:
message -> array (depth, colour), the completer's stages (``DepthCompleter.timings``:
sanitise - 0, as in the node, whose decoder already sanitised the depth -, interpolate,
classical fill, merge), array -> message, publish (an rclpy publisher
without subscribers: the Python -> C message conversion), and the lazy outputs (colourised
depth, point cloud) that the node builds only when someone subscribes. Like the node, it keeps
freed buffers in the process (``node.retain_freed_memory``; ``--malloc-default`` measures with
glibc's defaults, which page-fault every frame's buffers afresh). Prints one Markdown table of
median milliseconds per stage and size.

    .venv/bin/python benchmarks/node_profile.py [--data ../shared/data] [--frames 5] [--repeats 5]
        [--sizes 640x480 1280x720 1920x1080] [--cv-threads N] [--malloc-default]

Timings on a shared or busy machine are noisy: run it with nothing else running, or read the
load average it prints.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import rclpy
from node_latency import parse_size  # the sibling script's WxH parser (benchmarks/ is on sys.path when run)
from rclpy.context import Context
from rclpy.node import Node
from sensor_msgs.msg import Image, PointCloud2, PointField

from depth_completion_ros.datasets import Sample, discover_frames, load_frame
from depth_completion_ros.geometry import CameraIntrinsics, resize_color, resize_depth
from depth_completion_ros.node import retain_freed_memory
from depth_completion_ros.pipeline import DepthCompleter
from depth_completion_ros.pointcloud import (
    depth_to_points,
    fill_pointcloud2_msg,
    pointcloud_buffer,
)
from depth_completion_ros.ros_image import (
    color_from_msg,
    color_to_buffer,
    depth_from_msg,
    depth_to_buffer,
    fill_image_msg,
)
from depth_completion_ros.visualization import colorize_depth

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("DC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
DEFAULT_SIZES = ((640, 480), (1280, 720), (1920, 1080))
#: The completer's stages, in the order they run (``DepthCompleter.timings`` keys).
COMPLETER_STAGES = ("sanitize", "interpolate", "classical", "merge")
STAGES = (
    "depth msg -> array", "colour msg -> array", *COMPLETER_STAGES, "depth array -> msg", "publish depth",
    "colourise + msg", "point cloud + msg",
)  # fmt: skip
#: Stages on the path to the completed depth (what the node's own latency measures).
DEPTH_PATH = STAGES[:8]


@dataclass(frozen=True)
class InputFrame:
    """One frame as the node receives it, plus what its lazy outputs need."""

    label: str
    depth: Image
    color: Image
    intrinsics: CameraIntrinsics


def input_frame(sample: Sample, label: str, width: int, height: int) -> InputFrame:
    """``sample`` at ``width`` x ``height`` as 16UC1 + rgb8 messages (nearest-neighbour enlargement)."""
    if sample.rgb is None or sample.intrinsics is None:
        raise SystemExit(f"error: frame {sample.name} needs colour and camera intrinsics (the node path uses both)")
    depth = sample.depth if sample.depth.shape == (height, width) else resize_depth(sample.depth, width, height)
    rgb = sample.rgb if sample.rgb.shape[:2] == (height, width) else resize_color(sample.rgb, width, height)
    return InputFrame(
        label,
        fill_image_msg(Image(), depth_to_buffer(depth, "16UC1")),
        fill_image_msg(Image(), color_to_buffer(rgb, "rgb8")),
        sample.intrinsics.scaled(width, height),
    )


class StageTimer:
    """Milliseconds per stage over many frames; ``summary`` gives each stage's median."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.samples[name].append((time.perf_counter() - start) * 1e3)

    def add(self, name: str, milliseconds: float) -> None:
        self.samples[name].append(milliseconds)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])


def profile_frame(frame: InputFrame, completer: DepthCompleter, publish: Callable[[Image], None],
                  timer: StageTimer) -> None:
    """One pass of the node's path for ``frame``, each stage timed into ``timer``."""
    options = completer.options
    with timer.stage("depth msg -> array"):
        depth = depth_from_msg(frame.depth, min_depth=options.min_depth, max_depth=options.max_depth)
    with timer.stage("colour msg -> array"):
        rgb = color_from_msg(frame.color)
    completion = completer.complete(depth, rgb, sanitized=True)  # as the node: decoding sanitised it
    for name in COMPLETER_STAGES:
        timer.add(name, completion.timings.get(name, 0.0))
    with timer.stage("depth array -> msg"):
        out = fill_image_msg(Image(header=frame.depth.header), depth_to_buffer(completion.depth, frame.depth.encoding))
    with timer.stage("publish depth"):
        publish(out)
    with timer.stage("colourise + msg"):
        colorized = colorize_depth(completion.depth, 0.0, 10.0)
        fill_image_msg(Image(header=frame.depth.header), color_to_buffer(colorized, "rgb8"))
    with timer.stage("point cloud + msg"):
        points = depth_to_points(completion.depth, frame.intrinsics, rgb)
        fill_pointcloud2_msg(PointCloud2(header=frame.depth.header), pointcloud_buffer(points), PointField)


def load_inputs(data: Path, sizes: list[tuple[int, int]], count: int) -> dict[str, list[InputFrame]]:
    """Columns of the table: the 7-Scenes frames at each size, and ClearGrasp at its own size."""
    columns: dict[str, list[InputFrame]] = {}
    kitchen = discover_frames(data / "7scenes_redkitchen")
    samples = [load_frame(frame) for frame in kitchen[:: max(1, len(kitchen) // count)][:count]]
    for width, height in sizes:
        columns[f"7-Scenes {width}x{height}"] = [input_frame(s, s.name, width, height) for s in samples]
    cleargrasp = data / "cleargrasp_d435"
    if cleargrasp.is_dir():
        frames = [load_frame(frame) for frame in discover_frames(cleargrasp)]
        columns["ClearGrasp 1280x720"] = [input_frame(s, s.name, 1280, 720) for s in frames]
    else:
        print(f"note: {cleargrasp} not found, skipping the ClearGrasp column")
    return columns


def markdown_table(timers: dict[str, StageTimer]) -> str:
    header = "| stage | " + " | ".join(f"{column} ms" for column in timers) + " |"
    lines = [header, "|---|" + "---:|" * len(timers)]
    for name in STAGES:
        lines.append(f"| {name} | " + " | ".join(f"{timer.median(name):.2f}" for timer in timers.values()) + " |")
    path_totals = [sum(timer.median(name) for name in DEPTH_PATH) for timer in timers.values()]
    lines.append("| **to the published depth (sum)** | " + " | ".join(f"**{t:.1f}**" for t in path_totals) + " |")
    all_totals = [sum(timer.median(name) for name in STAGES) for timer in timers.values()]
    lines.append("| with colourised + point cloud (sum) | " + " | ".join(f"{t:.1f}" for t in all_totals) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared real-data folder")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=list(DEFAULT_SIZES), help="7-Scenes sizes")
    parser.add_argument("--frames", type=int, default=5, help="7-Scenes frames, spread over the sequence")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the frames (after one warm-up)")
    parser.add_argument("--cv-threads", type=int, default=None,
                        help="cv2.setNumThreads before timing (default: OpenCV's own choice)")
    parser.add_argument("--malloc-default", action="store_true",
                        help="keep glibc's default malloc thresholds (the node raises them: retain_freed_memory)")
    args = parser.parse_args()
    if not (args.data / "7scenes_redkitchen").is_dir():
        parser.error(f"{args.data / '7scenes_redkitchen'} not found (pass --data or set DC_SHARED_DATA)")
    if args.cv_threads is not None:
        cv2.setNumThreads(args.cv_threads)
    memory = "retained, as in the node" if not args.malloc_default and retain_freed_memory() else "glibc default"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; numpy {np.__version__}, OpenCV {cv2.__version__} "
          f"({cv2.getNumThreads()} threads); freed buffers: {memory}; "
          f"classical node path, median of {args.repeats} passes over each frame\n")
    columns = load_inputs(args.data, args.sizes, args.frames)
    completer = DepthCompleter("classical")
    context = Context()
    rclpy.init(context=context)
    try:
        node = Node("node_profile", context=context)
        publisher = node.create_publisher(Image, "node_profile/depth", 1)
        timers = {}
        for column, frames in columns.items():
            for frame in frames:  # warm-up: allocations, OpenCV's thread pool, lazy imports
                profile_frame(frame, completer, publisher.publish, StageTimer())
            timer = StageTimer()
            for _ in range(args.repeats):
                for frame in frames:
                    profile_frame(frame, completer, publisher.publish, timer)
            timers[column] = timer
            print(f"measured {column} ({len(frames)} frames)", flush=True)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    print()
    print(markdown_table(timers))


if __name__ == "__main__":
    main()
