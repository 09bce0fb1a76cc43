"""Benchmark: the original per-pixel interpolation loop against midpoint_fill.

Times the per-pixel loop (``per_pixel_loop.per_pixel_loop_fill``) and ``midpoint_fill`` on a
generated 1920x1080 uint16 image with the original notes' density of valid pixels (~5.5 %) and
on real frames from the shared
data folder, reports how far the two agree, then times a batch of tensors: ``midpoint_fill`` on
CPU tensors (numpy path), the pure-torch ``midpoint_fill_torch`` on CPU and, when available,
``midpoint_fill`` on CUDA tensors. Prints Markdown tables.

    .venv/bin/python benchmarks/interpolation.py [--data ../shared/data] [--repeats 20]

Agreement is measured on float32 input for both (the per-pixel loop itself runs in float32) so it
shows the rule difference alone, not uint16 rounding; timings use each case's native dtype.
"""
from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from per_pixel_loop import per_pixel_loop_fill  # beside this script

from depth_completion_ros.datasets import discover_frames
from depth_completion_ros.depth_io import read_depth
from depth_completion_ros.interpolation import midpoint_fill, midpoint_fill_torch

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTES_DENSITY = 0.055  # ~114 k valid pixels of 1920x1080 in the original notes' images


@dataclass
class Case:
    """Frames of one kind: native-dtype images for timing, and the factor from their units to mm."""

    name: str
    frames: list[np.ndarray]
    to_mm: float


@dataclass
class Agreement:
    """midpoint_fill against the per-pixel loop, summed over frames."""

    valid_kept: bool = True  # midpoint_fill left every valid pixel unchanged
    loop_filled: int = 0
    both_filled: int = 0
    abs_diff_mm: float = 0.0  # summed over pixels both fill

    def add(self, depth: np.ndarray, ours: np.ndarray, loop: np.ndarray, to_mm: float) -> None:
        valid = depth > 0
        loop_filled = (loop > 0) & ~valid
        both = (ours > 0) & loop_filled
        self.valid_kept &= bool(np.array_equal(ours[valid], depth[valid]))
        self.loop_filled += int(loop_filled.sum())
        self.both_filled += int(both.sum())
        self.abs_diff_mm += float(np.abs(ours[both].astype(np.float64) - loop[both]).sum()) * to_mm


def timed(run: Callable[[], object], repeats: int, warmup: bool = True, sync: bool = False) -> tuple[float, object]:
    """Median wall time of ``run`` and its last result; ``sync`` waits for queued CUDA work."""
    if warmup:
        run()
    times = []
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = run()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def generated_frame(rng: np.random.Generator, height: int = 1080, width: int = 1920) -> np.ndarray:
    """uint16 millimetres, valid pixels scattered uniformly at the original notes' density."""
    depth = rng.integers(500, 8000, (height, width), dtype=np.uint16)
    depth[rng.random((height, width)) >= NOTES_DENSITY] = 0
    return depth


def load_real(data: Path, folder: str, count: int) -> list[np.ndarray]:
    """Up to ``count`` frames spread over a shared-data folder, as float32 metres."""
    root = data / folder
    if not root.is_dir():
        return []
    frames = discover_frames(root)
    step = max(1, len(frames) // count)
    return [read_depth(f.depth, scale=f.depth_scale, min_depth=f.min_depth) for f in frames[::step][:count]]


def compare_with_loop(case: Case, repeats: int, loop_repeats: int) -> tuple[str, float]:
    """One Markdown row for a case, and the per-pixel loop's seconds per frame."""
    loop_s, ours_s, agreement = [], [], Agreement()
    for depth in case.frames:
        as_float = depth.astype(np.float32)
        seconds, loop = timed(functools.partial(per_pixel_loop_fill, as_float), loop_repeats, warmup=False)
        loop_s.append(seconds)
        ours_s.append(timed(functools.partial(midpoint_fill, depth), repeats)[0])
        agreement.add(as_float, midpoint_fill(as_float), loop, case.to_mm)
    height, width = case.frames[0].shape
    valid = np.mean([np.count_nonzero(d) / d.size for d in case.frames])
    loop_ms, ours_ms = 1e3 * np.mean(loop_s), 1e3 * np.mean(ours_s)
    row = (
        f"| {case.name} | {len(case.frames)} | {width}x{height} {case.frames[0].dtype} | {100 * valid:.1f} % "
        f"| {loop_ms:.0f} | {ours_ms:.2f} | {loop_ms / ours_ms:.0f}x | {'yes' if agreement.valid_kept else 'NO'} "
        f"| {100 * agreement.both_filled / max(agreement.loop_filled, 1):.1f} % "
        f"| {agreement.abs_diff_mm / max(agreement.both_filled, 1):.2f} |"
    )
    return row, float(np.mean(loop_s))


def torch_rows(batch: np.ndarray, loop_s: float, repeats: int) -> list[str]:
    """Batched tensor paths against numpy's result and the per-pixel loop's time per frame."""
    reference = torch.from_numpy(midpoint_fill(batch))
    tensor = torch.from_numpy(batch)
    paths = [
        (f"midpoint_fill, CPU tensor (numpy path, OpenCV {cv2.getNumThreads()} threads)", midpoint_fill, tensor),
        (f"midpoint_fill_torch, CPU ({torch.get_num_threads()} threads)", midpoint_fill_torch, tensor),
    ]
    if torch.cuda.is_available():
        paths.append((f"midpoint_fill, CUDA ({torch.cuda.get_device_name()})", midpoint_fill, tensor.cuda()))
    rows = []
    for name, fill, given in paths:
        seconds, filled = timed(functools.partial(fill, given), repeats, sync=given.is_cuda)
        seconds /= len(batch)
        identical = "yes" if torch.equal(filled.cpu(), reference) else "NO"
        rows.append(f"| {name} | {len(batch)} | {1e3 * seconds:.2f} | {loop_s / seconds:.0f}x | {identical} |")
    if not torch.cuda.is_available():
        rows.append("| midpoint_fill, CUDA | - | no CUDA device | - | - |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data",
                        help="shared real-data folder")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs of midpoint_fill per frame (median)")
    parser.add_argument("--loop-repeats", type=int, default=1, help="timed runs of the slow per-pixel loop per frame")
    parser.add_argument("--frames", type=int, default=3, help="real frames per dataset")
    parser.add_argument("--batch", type=int, default=16, help="1920x1080 images per torch batch")
    parser.add_argument("--torch-repeats", type=int, default=3, help="timed runs of each torch batch")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    cases = [Case("generated (5.5 % valid)", [generated_frame(rng)], to_mm=1.0)]
    for folder, label in (("7scenes_redkitchen", "7-Scenes redkitchen (Kinect v1)"), ("matterport3d", "Matterport3D")):
        frames = load_real(args.data, folder, args.frames)
        if frames:
            cases.append(Case(label, frames, to_mm=1000.0))
        else:
            print(f"note: {args.data / folder} not found, skipping {label}")

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"numpy {np.__version__}, OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)\n"
    )
    print("| input | frames | size | valid | per-pixel loop ms/frame | midpoint_fill ms/frame | speed-up "
          "| valid kept | loop fills also filled | mean abs diff (mm) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    loop_times = {}
    for case in cases:
        row, loop_times[case.name] = compare_with_loop(case, args.repeats, args.loop_repeats)
        print(row, flush=True)

    batch = np.stack([cases[0].frames[0]] + [generated_frame(rng) for _ in range(args.batch - 1)])
    print(f"\nBatches of tensors, {args.batch} x 1920x1080 uint16 at 5.5 % valid "
          "(speed-up against the per-pixel loop's time per frame above):\n")
    print("| path | batch | ms/frame | speed-up | identical to numpy |")
    print("|---|---|---|---|---|")
    for row in torch_rows(batch, loop_times[cases[0].name], args.torch_repeats):
        print(row, flush=True)


if __name__ == "__main__":
    main()
