"""Benchmark: the seed's per-pixel interpolation loop against midpoint_fill.

Times the seed loop (``seed_reference_fill``) and ``midpoint_fill`` on a generated 1920x1080
uint16 image with the seed's density of valid pixels (~5.5 %) and on real frames from the shared
data folder, reports how far the two agree, then times a batch of tensors: ``midpoint_fill`` on
CPU tensors (numpy path), the pure-torch ``midpoint_fill_torch`` on CPU and, when available,
``midpoint_fill`` on CUDA tensors. Prints Markdown tables.

    .venv/bin/python benchmarks/interpolation.py [--data ../shared/data] [--repeats 20]

Agreement is measured on float32 input for both (the seed's loop itself runs in float32) so it
shows the rule difference alone, not uint16 rounding; timings use each case's native dtype.
"""
from __future__ import annotations

import argparse
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

from depth_completion_ros.datasets import discover_frames
from depth_completion_ros.depth_io import read_depth
from depth_completion_ros.interpolation import midpoint_fill, midpoint_fill_torch, seed_reference_fill

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_DENSITY = 0.055  # ~114 k valid pixels of 1920x1080 in the seed's images


@dataclass
class Case:
    """Frames of one kind: native-dtype images for timing, and the factor from their units to mm."""

    name: str
    frames: list[np.ndarray]
    to_mm: float


@dataclass
class Agreement:
    """midpoint_fill against the seed loop, summed over frames."""

    valid_kept: bool = True  # midpoint_fill left every valid pixel unchanged
    seed_filled: int = 0
    both_filled: int = 0
    abs_diff_mm: float = 0.0  # summed over pixels both fill

    def add(self, depth: np.ndarray, ours: np.ndarray, seed: np.ndarray, to_mm: float) -> None:
        valid = depth > 0
        seed_filled = (seed > 0) & ~valid
        both = (ours > 0) & seed_filled
        self.valid_kept &= bool(np.array_equal(ours[valid], depth[valid]))
        self.seed_filled += int(seed_filled.sum())
        self.both_filled += int(both.sum())
        self.abs_diff_mm += float(np.abs(ours[both].astype(np.float64) - seed[both]).sum()) * to_mm


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
    """uint16 millimetres, valid pixels scattered uniformly at the seed's density."""
    depth = rng.integers(500, 8000, (height, width), dtype=np.uint16)
    depth[rng.random((height, width)) >= SEED_DENSITY] = 0
    return depth


def load_real(data: Path, folder: str, count: int) -> list[np.ndarray]:
    """Up to ``count`` frames spread over a shared-data folder, as float32 metres."""
    root = data / folder
    if not root.is_dir():
        return []
    frames = discover_frames(root)
    step = max(1, len(frames) // count)
    return [read_depth(f.depth, scale=f.depth_scale, min_depth=f.min_depth) for f in frames[::step][:count]]


def compare_with_seed(case: Case, repeats: int, seed_repeats: int) -> tuple[str, float]:
    """One Markdown row for a case, and the seed loop's seconds per frame."""
    seed_s, ours_s, agreement = [], [], Agreement()
    for depth in case.frames:
        as_float = depth.astype(np.float32)
        seconds, seed = timed(lambda: seed_reference_fill(as_float), seed_repeats, warmup=False)
        seed_s.append(seconds)
        ours_s.append(timed(lambda: midpoint_fill(depth), repeats)[0])
        agreement.add(as_float, midpoint_fill(as_float), seed, case.to_mm)
    height, width = case.frames[0].shape
    valid = np.mean([np.count_nonzero(d) / d.size for d in case.frames])
    seed_ms, ours_ms = 1e3 * np.mean(seed_s), 1e3 * np.mean(ours_s)
    row = (
        f"| {case.name} | {len(case.frames)} | {width}x{height} {case.frames[0].dtype} | {100 * valid:.1f} % "
        f"| {seed_ms:.0f} | {ours_ms:.2f} | {seed_ms / ours_ms:.0f}x | {'yes' if agreement.valid_kept else 'NO'} "
        f"| {100 * agreement.both_filled / max(agreement.seed_filled, 1):.1f} % "
        f"| {agreement.abs_diff_mm / max(agreement.both_filled, 1):.2f} |"
    )
    return row, float(np.mean(seed_s))


def torch_rows(batch: np.ndarray, seed_s: float, repeats: int) -> list[str]:
    """Batched tensor paths against numpy's result and the seed loop's time per frame."""
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
        seconds, filled = timed(lambda: fill(given), repeats, sync=given.is_cuda)
        seconds /= len(batch)
        identical = torch.equal(filled.cpu(), reference)
        rows.append(f"| {name} | {len(batch)} | {1e3 * seconds:.2f} | {seed_s / seconds:.0f}x | {'yes' if identical else 'NO'} |")
    if not torch.cuda.is_available():
        rows.append("| midpoint_fill, CUDA | - | no CUDA device | - | - |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data", help="shared real-data folder")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs of midpoint_fill per frame (median)")
    parser.add_argument("--seed-repeats", type=int, default=1, help="timed runs of the slow seed loop per frame")
    parser.add_argument("--frames", type=int, default=3, help="real frames per dataset")
    parser.add_argument("--batch", type=int, default=16, help="1920x1080 images per torch batch")
    parser.add_argument("--torch-repeats", type=int, default=3, help="timed runs of each torch batch")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    cases = [Case("generated (seed density)", [generated_frame(rng)], to_mm=1.0)]
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
    print("| input | frames | size | valid | seed loop ms/frame | midpoint_fill ms/frame | speed-up "
          "| valid kept | seed fills also filled | mean abs diff (mm) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    seed_times = {}
    for case in cases:
        row, seed_times[case.name] = compare_with_seed(case, args.repeats, args.seed_repeats)
        print(row, flush=True)

    batch = np.stack([cases[0].frames[0]] + [generated_frame(rng) for _ in range(args.batch - 1)])
    print(f"\nBatches of tensors, {args.batch} x 1920x1080 uint16 at the seed density "
          "(speed-up against the seed loop's time per frame above):\n")
    print("| path | batch | ms/frame | speed-up | identical to numpy |")
    print("|---|---|---|---|---|")
    for row in torch_rows(batch, seed_times[cases[0].name], args.torch_repeats):
        print(row, flush=True)


if __name__ == "__main__":
    main()
