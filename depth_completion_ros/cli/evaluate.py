"""``depth-completion evaluate``: score a method against ground truth (or hidden regions)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import (
    add_color_range_argument,
    add_completer_arguments,
    add_dataset_arguments,
    add_protocol_arguments,
    add_quiet_argument,
    build_completer,
    dataset_frames,
    prepare_output_folder,
)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_completer, resolve_protocol

    frames = dataset_frames(args)
    resolve_protocol(frames, args.protocol, args.draws)  # a bad choice fails before the model loads
    # Output folders are checked before the (long) evaluation, not when its results are ready.
    panels = prepare_output_folder(args.panels) if args.panels else None
    if args.json:
        prepare_output_folder(args.json.parent)
    completer = build_completer(args)
    report = evaluate_completer(frames, completer, protocol=args.protocol, seed=args.seed, draws=args.draws,
                                panels_dir=panels, panel_range=args.color_range, progress=not args.quiet)
    print(report.markdown())
    if args.json:
        report.write_json(args.json)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``evaluate``."""
    parser = subparsers.add_parser("evaluate", help="score a method against ground truth or hidden regions")
    parser.add_argument("input", type=Path, help="dataset root (Matterport3D, ClearGrasp, frame sequence)")
    add_dataset_arguments(parser)
    add_completer_arguments(parser)
    add_protocol_arguments(parser)
    parser.add_argument("--panels", type=Path, default=None, help="write raw/pred/GT/error panels here")
    add_color_range_argument(parser, "each panel's 2-98 %% range of measured and reference depth")
    parser.add_argument("--json", type=Path, default=None, help="also write the metrics as JSON")
    add_quiet_argument(parser)
    parser.set_defaults(func=run)
