"""``depth-completion demo``: the streaming demo (synthetic or recorded bag -> node -> report)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..demo import PANELS_FOLDER, run_demo
from ..options import METHODS
from .common import (
    add_color_range_argument,
    add_depth_scale_argument,
    add_intrinsics_argument,
    positive_float,
    positive_int,
    prepare_output_folder,
)


def run(args: argparse.Namespace) -> int:
    for folder in (args.output, args.output / PANELS_FOLDER):
        if folder == args.output or folder.is_dir():  # partials a killed demo left are named and removed
            prepare_output_folder(folder)
    extra: list[str] = []
    for assignment in args.param:
        extra += ["-p", assignment]
    result = run_demo(args.output, frames=args.frames, width=args.width, height=args.height, method=args.method,
                      seed=args.seed, rate=args.rate, node_parameters=extra, recording=args.recording,
                      depth_scale=args.depth_scale, intrinsics=args.intrinsics, color_range=args.color_range)
    print(result.summary())
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo``."""
    parser = subparsers.add_parser("demo", help="streaming demo: synthetic bag -> node -> recorded output + report")
    parser.add_argument("--output", type=Path, default=Path("output/demo"),
                        help="folder for everything the demo writes")
    parser.add_argument("--recording", type=Path, default=None,
                        help="replay your own frame folder (any layout 'complete' reads, e.g. frame-XXXXXX "
                             "color/depth pairs) instead of the synthetic sequence")
    add_depth_scale_argument(parser)
    add_intrinsics_argument(parser)
    parser.add_argument("--frames", type=positive_int, default=120, help="frames to replay (30 Hz)")
    parser.add_argument("--width", type=positive_int, default=640)
    parser.add_argument("--height", type=positive_int, default=480)
    parser.add_argument("--method", choices=("auto", *METHODS), default="auto",
                        help="auto: the shipped model when installed, else classical")
    parser.add_argument("--seed", type=int, default=0, help="scene and trajectory of the synthetic sequence")
    parser.add_argument("--rate", type=positive_float, default=1.0, help="playback speed (1 = the camera's 30 Hz)")
    add_color_range_argument(parser, "one 2-98 %% range of the whole sequence")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra node parameter, e.g. --param backend:=torch (repeatable)")
    parser.set_defaults(func=run)
