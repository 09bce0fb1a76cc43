"""``depth-completion fuse``: fused reference depth for a posed RGB-D sequence (needs the ``fusion`` extra)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..fusion import POSE_SOURCES, REPORT_MARKDOWN, FusionOptions
from .common import add_intrinsics_argument, add_layout_arguments, add_quiet_argument, positive_float, positive_int

DEFAULTS = FusionOptions()


def run(args: argparse.Namespace) -> int:
    from ..fusion import fuse_sequence

    # Every FusionOptions field has the flag of its name (the TSDF group and --poses).
    options = FusionOptions(**{field.name: getattr(args, field.name) for field in dataclasses.fields(FusionOptions)})
    report = fuse_sequence(
        args.sequence,
        args.output,
        options,
        frames=args.frames,
        layout=args.layout,
        depth_scale=args.depth_scale,
        intrinsics_file=args.intrinsics,
        progress=not args.quiet,
    )
    print(report.summary_markdown())
    print(f"per-frame report: {args.output / REPORT_MARKDOWN}")
    print(f"score a method on the references: depth-completion evaluate {args.output} --protocol gt")
    return 0 if report.summary()["with_reference"] else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fuse``."""
    parser = subparsers.add_parser(
        "fuse",
        help="fuse a posed RGB-D sequence into a TSDF and write reference depth for every frame",
        description="Integrate every Nth frame into a TSDF (Open3D), ray-cast it at every frame's pose and write "
        "OUTPUT/render_depth/<frame>.depth.png (+ .weight.png), a consistency report and fusion.json, "
        "which makes OUTPUT a dataset whose ground truth is the fused reference.",
    )
    parser.add_argument("sequence", type=Path, help="posed sequence (frame-XXXXXX.pose.txt or TUM groundtruth.txt)")
    parser.add_argument(
        "output", type=Path, help="output folder (the sequence itself puts the references beside the raw frames)"
    )
    parser.add_argument(
        "--frames",
        default=None,
        metavar="START:STOP",
        help="fuse and reference only these frames (Python slice of the sorted frames, e.g. 220:300)",
    )
    add_layout_arguments(parser, "SEQUENCE")
    add_intrinsics_argument(parser)
    parser.add_argument(
        "--poses",
        choices=POSE_SOURCES,
        default=DEFAULTS.poses,
        help="dataset: the recording's poses; odometry: estimate them frame to frame (drifts)",
    )
    group = parser.add_argument_group("TSDF options (metres)")
    group.add_argument("--voxel-size", type=positive_float, default=DEFAULTS.voxel_size, help="voxel edge length")
    group.add_argument("--stride", type=positive_int, default=DEFAULTS.stride, help="integrate every Nth frame")
    group.add_argument("--truncation", type=positive_float, default=DEFAULTS.truncation, help="SDF truncation distance")
    group.add_argument("--depth-min", type=float, default=DEFAULTS.depth_min, help="ignore raw depth nearer than this")
    group.add_argument(
        "--depth-max",
        type=positive_float,
        default=DEFAULTS.depth_max,
        help="ignore raw depth farther than this (far depth is noisy)",
    )
    group.add_argument(
        "--min-weight",
        type=positive_int,
        default=DEFAULTS.min_weight,
        help="observations (integrated frames) every voxel around a surface needs",
    )
    group.add_argument(
        "--max-disagreement",
        type=positive_float,
        default=DEFAULTS.max_disagreement,
        help="drop reference pixels farther than this from a raw measurement",
    )
    group.add_argument(
        "--reject-median",
        type=positive_float,
        default=DEFAULTS.reject_median,
        help="reject frames whose median disagreement with their raw depth exceeds this (bad pose)",
    )
    add_quiet_argument(parser)
    parser.set_defaults(func=run)
