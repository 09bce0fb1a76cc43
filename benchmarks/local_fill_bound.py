"""How much can choosing between local fills gain? A bound for learned refinements of the classical fill.

The classical fill blends the two sides of a depth step that a hole spans (low RMSE, higher
MAE); the nearest fill commits to one side (lower MAE, higher RMSE). This scores, on the hole
pixels of a protocol, both fills, their plain mean, and an oracle that takes the better of the
two at every pixel: what a perfect per-pixel choice between them could reach. A model that must
beat the classical fill by more than the oracle does has to produce depth neither fill contains.
Per-frame hole RMSE and MAE, averaged over frames (as ``training.evaluate``); prints Markdown.

    .venv/bin/python benchmarks/local_fill_bound.py --data ../shared/data/7scenes_redkitchen \\
        --frames 220:300 [--protocol hidden] [--seed 0] [--draws 1]
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from depth_completion_ros.classical import classical_fill, nearest_fill
from depth_completion_ros.cli.common import add_protocol_arguments
from depth_completion_ros.datasets import discover_frames, parse_frame_range
from depth_completion_ros.evaluation import resolve_protocol, scored_frames
from depth_completion_ros.metrics import MIN_GT_DEPTH


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset root")
    parser.add_argument("--frames", default=None, metavar="START:STOP", help="only these frames (sorted order)")
    add_protocol_arguments(parser)
    args = parser.parse_args(argv)
    try:
        frames = discover_frames(args.data)
        frames = [frames[i] for i in parse_frame_range(args.frames, len(frames))]
        protocol = resolve_protocol(frames, args.protocol, args.draws)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    errors: dict[str, list[tuple[float, float]]] = {"classical": [], "nearest": [], "mean of both": [],
                                                    "per-pixel better of both (oracle)": []}
    for frame in scored_frames(frames, protocol, args.seed, args.draws):
        holes = (frame.reference > MIN_GT_DEPTH) & (frame.input_depth <= 0)
        if not holes.any():
            continue
        classical = classical_fill(frame.input_depth, frame.sample.rgb)[holes]
        nearest = nearest_fill(frame.input_depth)[holes]
        reference = frame.reference[holes]
        per_method = {"classical": np.abs(classical - reference), "nearest": np.abs(nearest - reference),
                      "mean of both": np.abs(0.5 * (classical + nearest) - reference)}
        per_method["per-pixel better of both (oracle)"] = np.minimum(per_method["classical"], per_method["nearest"])
        for name, error in per_method.items():
            errors[name].append((float(np.sqrt(np.mean(error.astype(np.float64) ** 2))), float(error.mean())))
    base_rmse, base_mae = np.mean(errors["classical"], axis=0)
    print(f"{args.data} ({len(frames)} frames, {protocol}, seed {args.seed}, {args.draws} draw(s)), hole pixels\n")
    print("| fill | hole RMSE (m) | vs classical | hole MAE (m) | vs classical |\n|---|---:|---:|---:|---:|")
    for name, values in errors.items():
        rmse, mae = np.mean(values, axis=0)
        print(f"| {name} | {rmse:.4f} | {100 * (rmse / base_rmse - 1):+.1f} % | {mae:.4f} | "
              f"{100 * (mae / base_mae - 1):+.1f} % |")


if __name__ == "__main__":
    main()
