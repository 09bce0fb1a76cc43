"""Benchmark: classical_fill against the nearest-pixel and inpainting baselines, speed and accuracy.

Speed: real 7-Scenes Kinect frames (640x480) and the same frames enlarged to 1280x720 and
1920x1080 (nearest-neighbour, so holes stay holes and keep their shapes), single-threaded
Python calling OpenCV with its default threads. Accuracy: the Matterport3D frames (raw depth
against the rendered mesh depth) and the ClearGrasp frames (transparent objects against their
opaque replicas), hole pixels broken down by hole size, each metric averaged over frames.
Both tell whether the RGB-guided variant earns its cost. Prints Markdown tables.

    .venv/bin/python benchmarks/classical.py [--data ../shared/data] [--frames 5] [--repeats 3]

Timings on a shared or busy machine are noisy; the figures in the docs come from a quiet one.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from depth_completion_ros.classical import classical_fill, inpaint_fill, nearest_fill
from depth_completion_ros.datasets import Sample, discover_frames, load_frame
from depth_completion_ros.geometry import resize_color, resize_depth
from depth_completion_ros.metrics import aggregate_metrics, depth_metrics, format_metrics_table

REPO_ROOT = Path(__file__).resolve().parents[1]
SIZES = ((640, 480), (1280, 720), (1920, 1080))
Method = Callable[[np.ndarray, np.ndarray | None], np.ndarray]
METHODS: dict[str, Method] = {
    "classical_fill": lambda depth, rgb: classical_fill(depth),
    "classical_fill + RGB guidance": lambda depth, rgb: classical_fill(depth, rgb, rgb_guidance=True),
    "nearest_fill": lambda depth, rgb: nearest_fill(depth),
    "inpaint_fill (Telea)": lambda depth, rgb: inpaint_fill(depth, method="telea"),
    "inpaint_fill (Navier-Stokes)": lambda depth, rgb: inpaint_fill(depth, method="ns"),
}
ACCURACY_COLUMNS = (
    "rmse", "hole/rmse", "hole/mae", "hole/rel", "hole/delta_1.05", "hole/delta_1.25",
    "hole_small/rmse", "hole_large/rmse", "hole/count",
)  # fmt: skip


def load_samples(data: Path, folder: str, count: int | None = None) -> list[Sample]:
    """Up to ``count`` frames spread evenly over a shared-data folder (all when ``count`` is None)."""
    root = data / folder
    if not root.is_dir():
        print(f"note: {root} not found, skipping it")
        return []
    frames = discover_frames(root)
    if count is not None:
        frames = frames[:: max(1, len(frames) // count)][:count]
    return [load_frame(frame) for frame in frames]


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``run`` after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_speed_table(samples: list[Sample], repeats: int) -> None:
    """One row per method and size, printed as soon as it is measured."""
    print("| method | size | ms/frame | Hz |\n|---|---|---:|---:|")
    for width, height in SIZES:
        frames = [
            (resize_depth(s.depth, width, height), resize_color(s.rgb, width, height) if s.rgb is not None else None)
            for s in samples
        ]
        for name, method in METHODS.items():
            seconds = statistics.median(median_seconds(partial(method, depth, rgb), repeats) for depth, rgb in frames)
            print(f"| {name} | {width}x{height} | {1e3 * seconds:.1f} | {1 / seconds:.0f} |", flush=True)


def accuracy_table(samples: list[Sample]) -> str:
    rows = {
        name: aggregate_metrics(depth_metrics(method(s.depth, s.rgb), s.gt, s.depth) for s in samples)
        for name, method in METHODS.items()
    }
    return format_metrics_table(rows, columns=ACCURACY_COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=REPO_ROOT.parent / "shared" / "data", help="shared real-data folder"
    )
    parser.add_argument("--frames", type=int, default=5, help="7-Scenes frames to time, spread over the sequence")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per frame (median)")
    args = parser.parse_args()

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"numpy {np.__version__}, OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads)\n"
    )
    kitchen = load_samples(args.data, "7scenes_redkitchen", args.frames)
    if kitchen:
        print(f"Speed on {len(kitchen)} real 7-Scenes frames "
              f"(median over frames of the median of {args.repeats} runs):\n")
        print_speed_table(kitchen, args.repeats)
    for folder, label in (("matterport3d", "Matterport3D"), ("cleargrasp_d435", "ClearGrasp D435")):
        samples = [s for s in load_samples(args.data, folder) if s.gt is not None]
        if samples:
            print(f"\nAccuracy on {len(samples)} {label} frames (raw vs ground truth, mean over frames; "
                  "hole = raw has no depth; small holes <= 0.1 % of the frame):\n")
            print(accuracy_table(samples), flush=True)


if __name__ == "__main__":
    main()
