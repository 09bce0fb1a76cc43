"""``depth-completion synthetic ...`` and ``hole-stats``: synthetic previews and hole statistics.

The command-line face of :mod:`depth_completion_ros.synthetic` and :mod:`depth_completion_ros.holes`:
``synthetic preview`` writes a grid of rgb / raw / ground-truth rows, ``synthetic stats`` prints
the hole statistics and render time of generated frames, ``hole-stats`` the hole statistics of
depth files (to compare the generator with a real camera).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..depth_io import read_depth, write_color
from ..holes import format_hole_statistics, hole_statistics
from ..synthetic import SCENE_KINDS, generate_sample, preview_grid
from .common import positive_float, positive_int


def run_preview(args: argparse.Namespace) -> int:
    samples = [generate_sample(args.seed + i, args.width, args.height, kind=args.kind) for i in range(args.count)]
    print(f"wrote {write_color(args.output, preview_grid(samples, vmax=args.vmax))}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    raws, seconds = [], []
    for seed in range(args.seed, args.seed + args.count):
        start = time.perf_counter()
        raws.append(generate_sample(seed, args.width, args.height, kind=args.kind).raw)
        seconds.append(time.perf_counter() - start)
    print(format_hole_statistics({f"synthetic {args.kind} {args.width}x{args.height}": hole_statistics(raws)}))
    median, fastest = 1000 * np.median(seconds), 1000 * min(seconds)
    print(f"generate_sample: median {median:.1f} ms, min {fastest:.1f} ms over {len(seconds)} samples")
    return 0


def run_hole_stats(args: argparse.Namespace) -> int:
    stats = hole_statistics(read_depth(path, scale=args.scale, min_depth=args.min_depth) for path in args.files)
    print(format_hole_statistics({args.name: stats}))
    return 0


def _add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=tuple(SCENE_KINDS), default="room", help="scene kind (default room)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first sample (default 0)")
    parser.add_argument("--width", type=positive_int, default=320, help="image width (default 320)")
    parser.add_argument("--height", type=positive_int, default=256, help="image height (default 256)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``synthetic preview``, ``synthetic stats`` and ``hole-stats``."""
    synthetic = subparsers.add_parser("synthetic", help="preview generated RGB-D frames or measure their holes")
    commands = synthetic.add_subparsers(dest="synthetic_command", required=True, metavar="COMMAND")
    preview = commands.add_parser("preview", help="write a grid of rgb / raw / ground-truth rows")
    preview.add_argument("output", type=Path, metavar="OUT.png", help="image to write")
    preview.add_argument("--count", type=positive_int, default=6, help="samples in the grid (default 6)")
    preview.add_argument("--vmax", type=positive_float, default=8.0, help="depth (m) at the end of the colour scale")
    _add_sample_arguments(preview)
    preview.set_defaults(func=run_preview)
    stats = commands.add_parser("stats", help="render samples, print hole statistics and render time")
    stats.add_argument("count", type=positive_int, metavar="N", help="samples to render")
    _add_sample_arguments(stats)
    stats.set_defaults(func=run_stats)

    holes = subparsers.add_parser("hole-stats", help="hole statistics of depth files (compare with a real camera)")
    holes.add_argument("files", nargs="+", type=Path, help="depth images (16-bit PNG, EXR, .npy)")
    holes.add_argument("--scale", type=positive_float, default=1000.0,
                       help="units per metre of 16-bit files (default 1000)")
    holes.add_argument("--min-depth", type=float, default=0.0, help="depths below this (m) count as missing")
    holes.add_argument("--name", default="depth", help="row name in the table")
    holes.set_defaults(func=run_hole_stats)
