"""Benchmark: classical_fill against the nearest-pixel and inpainting baselines, speed and accuracy.

Speed: real 7-Scenes Kinect frames (640x480) and the same frames enlarged to 1280x720 and
1920x1080 (nearest-neighbour, so holes stay holes and keep their shapes), single-threaded
Python calling OpenCV with ``--cv-threads`` threads (default: OpenCV's choice). Accuracy: the
Matterport3D frames (raw depth against the rendered mesh depth) and the ClearGrasp frames
(transparent objects against their opaque replicas), hole pixels broken down by hole size, each
metric averaged over frames. Both tell whether the RGB-guided variant earns its cost.

Camera resolutions: ``classical_fill`` fills frames above 640x480 on a reduced grid; the last
table compares it with the full-resolution reference fill (``max_fill_pixels=0``) on hole RMSE
in the same run: 7-Scenes under the hidden-region protocol (``evaluation.prepare_inputs``) at
640x480, 1280x720 and 1920x1080, ClearGrasp at its own 1280x720, and Matterport3D at its own
320x256 and enlarged to 1280x1024. The fast fill must stay within 2 % of the reference. A last
table runs the classical method as the node does (``DepthCompleter``) with and without the
interpolation pass before the fill, on the same inputs. Prints Markdown tables.

    .venv/bin/python benchmarks/classical.py [--data ../shared/data] [--frames 5] [--repeats 3]
        [--hidden-frames 10] [--cv-threads N]

Timings on a shared or busy machine are noisy; the figures in the docs come from a quiet one.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from depth_completion_ros.classical import ClassicalOptions, classical_fill, fill_reduction, inpaint_fill, nearest_fill
from depth_completion_ros.datasets import Sample, discover_frames, load_frame
from depth_completion_ros.evaluation import prepare_inputs
from depth_completion_ros.geometry import resize_color, resize_depth
from depth_completion_ros.metrics import aggregate_metrics, depth_metrics, format_metrics_table
from depth_completion_ros.pipeline import DepthCompleter

REPO_ROOT = Path(__file__).resolve().parents[1]
SIZES = ((640, 480), (1280, 720), (1920, 1080))
Method = Callable[[np.ndarray, np.ndarray | None], np.ndarray]
METHODS: dict[str, Method] = {
    "classical_fill": lambda depth, rgb: classical_fill(depth),
    "classical_fill, full-resolution reference": lambda depth, rgb: classical_fill(depth, max_fill_pixels=0),
    "classical_fill + RGB guidance": lambda depth, rgb: classical_fill(depth, rgb, rgb_guidance=True),
    "nearest_fill": lambda depth, rgb: nearest_fill(depth),
    "inpaint_fill (Telea)": lambda depth, rgb: inpaint_fill(depth, method="telea"),
    "inpaint_fill (Navier-Stokes)": lambda depth, rgb: inpaint_fill(depth, method="ns"),
}
ACCURACY_COLUMNS = (
    "rmse", "hole/rmse", "hole/mae", "hole/rel", "hole/delta_1.05", "hole/delta_1.25",
    "hole_small/rmse", "hole_large/rmse", "hole/count",
)  # fmt: skip
#: Largest change of hole RMSE the reduced-grid fill may make against the full-resolution one.
FAST_FILL_TOLERANCE = 0.02
#: (folder, label, sizes): real frames for the fast-vs-reference check; None = the frames' own size.
FAST_FILL_SETS = (
    ("7scenes_redkitchen", "7-Scenes, hidden regions", ((640, 480), (1280, 720), (1920, 1080))),
    ("cleargrasp_d435", "ClearGrasp D435, opaque reference", (None,)),
    ("matterport3d", "Matterport3D, mesh depth", (None, (1280, 1024))),
)


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


def scored_pairs(samples: list[Sample], size: tuple[int, int] | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input depth, reference depth) per frame at ``size`` (nearest-neighbour; None = as captured).

    Frames with ground truth are scored against it; raw-only frames (7-Scenes) by the
    hidden-region protocol, with the same hidden regions for every method.
    """
    pairs = []
    for index, sample in enumerate(samples):
        if size is not None:
            width, height = size
            sample = Sample(sample.name, resize_depth(sample.depth, width, height),
                            gt=None if sample.gt is None else resize_depth(sample.gt, width, height))
        pairs.append(prepare_inputs(sample, "gt" if sample.gt is not None else "hidden", seed=0, index=index))
    return pairs


Fill = Callable[[np.ndarray], np.ndarray]


def compare_fills(
    data: Path, hidden_frames: int, repeats: int, reference: Fill, candidate: Fill
) -> Iterator[tuple[str, int, int, dict[str, dict[str, float]], dict[str, float]]]:
    """Per data set and size of :data:`FAST_FILL_SETS`: (label with frame count, width, height,
    aggregated metrics and median seconds per frame, each under "reference" and "candidate")."""
    fills = {"reference": reference, "candidate": candidate}
    for folder, label, sizes in FAST_FILL_SETS:
        samples = load_samples(data, folder, hidden_frames if folder == "7scenes_redkitchen" else None)
        for size in sizes:
            pairs = scored_pairs(samples, size)
            if not pairs:
                continue
            height, width = pairs[0][0].shape
            scores = {name: aggregate_metrics(depth_metrics(fill(depth), reference_depth, depth)
                                              for depth, reference_depth in pairs)
                      for name, fill in fills.items()}
            times = {name: statistics.median(median_seconds(partial(fill, depth), repeats) for depth, _ in pairs)
                     for name, fill in fills.items()}
            yield f"{label} ({len(pairs)})", width, height, scores, times


def hole_rmse_change(scores: dict[str, dict[str, float]]) -> str:
    """The candidate's hole RMSE against the reference's, and whether it is within the 2 % tolerance."""
    change = scores["candidate"]["hole/rmse"] / scores["reference"]["hole/rmse"] - 1.0
    return f"{100 * change:+.2f} % | {'yes' if abs(change) <= FAST_FILL_TOLERANCE else '**no**'}"


def print_fast_fill_table(data: Path, hidden_frames: int, repeats: int) -> None:
    """Hole RMSE (and ms/frame) of the default fill against the full-resolution reference, per data
    set and size; one row printed as soon as it is measured."""
    fast = ClassicalOptions()
    print("| frames | size | reduction | reference hole RMSE (m) | fast hole RMSE (m) | change | within 2 % "
          "| reference small-hole RMSE (m) | fast small-hole RMSE (m) | reference ms | fast ms |\n"
          "|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|")
    rows = compare_fills(data, hidden_frames, repeats, partial(classical_fill, max_fill_pixels=0),
                         partial(classical_fill, options=fast))
    for label, width, height, scores, times in rows:
        reference, candidate = scores["reference"], scores["candidate"]
        print(
            f"| {label} | {width}x{height} | {fill_reduction(height, width, fast.max_fill_pixels)}x "
            f"| {reference['hole/rmse']:.4f} | {candidate['hole/rmse']:.4f} | {hole_rmse_change(scores)} "
            f"| {reference['hole_small/rmse']:.4f} | {candidate['hole_small/rmse']:.4f} "
            f"| {1e3 * times['reference']:.1f} | {1e3 * times['candidate']:.1f} |",
            flush=True,
        )


def print_interpolation_table(data: Path, hidden_frames: int, repeats: int) -> None:
    """The classical method as the node runs it (``DepthCompleter``), with and without the
    interpolation pass before the fill: does the fill need the pass?"""
    print("| frames | size | with pass: hole RMSE (m) | without: hole RMSE (m) | change | within 2 % "
          "| with pass ms | without ms |\n|---|---|---:|---:|---:|---|---:|---:|")
    with_pass, without = (DepthCompleter("classical", interpolate=flag) for flag in (True, False))
    rows = compare_fills(data, hidden_frames, repeats, lambda depth: with_pass.complete(depth).depth,
                         lambda depth: without.complete(depth).depth)
    for label, width, height, scores, times in rows:
        print(f"| {label} | {width}x{height} | {scores['reference']['hole/rmse']:.4f} "
              f"| {scores['candidate']['hole/rmse']:.4f} | {hole_rmse_change(scores)} "
              f"| {1e3 * times['reference']:.1f} | {1e3 * times['candidate']:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=REPO_ROOT.parent / "shared" / "data", help="shared real-data folder"
    )
    parser.add_argument("--frames", type=int, default=5, help="7-Scenes frames to time, spread over the sequence")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per frame (median)")
    parser.add_argument("--hidden-frames", type=int, default=10,
                        help="7-Scenes frames for the fast-vs-reference accuracy check (hidden-region protocol)")
    parser.add_argument("--cv-threads", type=int, default=None,
                        help="cv2.setNumThreads before timing (default: OpenCV's own choice)")
    args = parser.parse_args()
    if args.cv_threads is not None:
        cv2.setNumThreads(args.cv_threads)

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
    print("\nFast (reduced-grid) fill against the full-resolution reference, same inputs, hole RMSE averaged "
          "over frames (7-Scenes: hidden-region protocol, seed 0); ms = median per frame:\n")
    print_fast_fill_table(args.data, args.hidden_frames, args.repeats)
    print("\nThe classical method with and without the interpolation pass before the fill (DepthCompleter, "
          "as the node runs it), same inputs and protocol:\n")
    print_interpolation_table(args.data, args.hidden_frames, args.repeats)


if __name__ == "__main__":
    main()
