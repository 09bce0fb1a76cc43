"""Hole error by distance to the nearest measurement: where inside the holes a model gains or loses.

    python -m training.hole_distance --data ../shared/data/7scenes_redkitchen --frames 200:220 \
        --protocol hidden --model shipped=models/costdcnet_prior_cpu.onnx --out eval/distance_7scenes

A hole pixel next to a measurement is bridged well by any local fill; one deep inside a large
hole is where a network can add something. Averages over all hole pixels mix the two, so a model
can lose near the measurements what it gains inside (the reason for the model's correction ramp,
docs/model.md). This scores every model and ``--against`` on identical inputs (the frames and
hidden regions of ``training.evaluate``), splits the scored hole pixels by their distance to the
nearest measured pixel, and writes ``OUT/distance.md`` (pooled hole RMSE and MAE per band),
``OUT/distance.json`` and ``OUT/distance.png`` (each model's RMSE change against the baseline per
band). Distances are in pixels of a 640-pixel-wide frame, so cameras of every size share bands.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from depth_completion_ros.cli.common import add_protocol_arguments
from depth_completion_ros.datasets import LAYOUTS, Frame, discover_frames, parse_frame_range
from depth_completion_ros.depth_io import atomic_output
from depth_completion_ros.evaluation import Method, resolve_protocol, scored_frames
from depth_completion_ros.metrics import MIN_GT_DEPTH
from training.evaluate import BASELINES, build_methods, parse_model_argument

#: Band edges (pixels at 640 wide) of the distance to the nearest measured pixel.
DEFAULT_EDGES = (0.0, 2.0, 4.0, 8.0, 16.0, 32.0)
#: Frames are compared at this width: a distance d at width W counts as d * REFERENCE_WIDTH / W.
REFERENCE_WIDTH = 640


def measurement_distance(input_depth: np.ndarray) -> np.ndarray:
    """Distance (pixels at :data:`REFERENCE_WIDTH` wide) of every pixel to the nearest measured
    one; 0 at measured pixels."""
    holes = ~(np.isfinite(input_depth) & (input_depth > 0))
    distance = cv2.distanceTransform(holes.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.asarray(distance, dtype=np.float32) * np.float32(REFERENCE_WIDTH / input_depth.shape[1])


def band_labels(edges: Sequence[float]) -> list[str]:
    """``"0-2"``, …, ``"32+"`` for band edges."""
    return [f"{lo:g}-{hi:g}" for lo, hi in itertools.pairwise(edges)] + [f"{edges[-1]:g}+"]


def score_bands(
    frames: Sequence[Frame],
    methods: Mapping[str, Method],
    protocol: str,
    seed: int,
    edges: Sequence[float],
    min_gt: float,
    draws: int = 1,
) -> dict[str, dict[str, list[float]]]:
    """Per method: pooled hole ``rmse`` and ``mae`` per band, and the band's ``pixels``."""
    squared = {name: np.zeros(len(edges)) for name in methods}
    absolute = {name: np.zeros(len(edges)) for name in methods}
    pixels = np.zeros(len(edges))
    for frame in scored_frames(frames, protocol, seed, draws, desc="scoring by distance"):
        reference = frame.reference
        distance = measurement_distance(frame.input_depth)
        scored = (reference > min_gt) & np.isfinite(reference) & (distance > 0)  # hole pixels with a reference
        band = np.searchsorted(edges, distance[scored], side="right") - 1
        pixels += np.bincount(band, minlength=len(edges))
        for name, method in methods.items():
            error = (method(frame.input_depth, frame.sample.rgb)[scored] - reference[scored]).astype(np.float64)
            squared[name] += np.bincount(band, weights=error**2, minlength=len(edges))
            absolute[name] += np.bincount(band, weights=np.abs(error), minlength=len(edges))
    present = np.maximum(pixels, 1)
    return {name: {"rmse": np.where(pixels > 0, np.sqrt(squared[name] / present), np.nan).tolist(),
                   "mae": np.where(pixels > 0, absolute[name] / present, np.nan).tolist(),
                   "pixels": pixels.astype(int).tolist()} for name in methods}


def report_markdown(bands: Mapping[str, Mapping[str, list[float]]], labels: Sequence[str], against: str) -> str:
    """One row per band: pixel share, then each method's hole RMSE (and its change against ``against``)."""
    pixels = np.array(bands[against]["pixels"], dtype=float)
    share = pixels / max(pixels.sum(), 1)
    names = list(bands)
    lines = ["| distance (px at 640 wide) | share of hole pixels | " + " | ".join(f"{n} RMSE" for n in names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for i, label in enumerate(labels):
        cells = []
        for name in names:
            value, base = bands[name]["rmse"][i], bands[against]["rmse"][i]
            change = "" if name == against or not base > 0 else f" ({100 * (value / base - 1):+.1f} %)"
            cells.append(f"{value:.4f}{change}")
        lines.append(f"| {label} | {100 * share[i]:.1f} % | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_bands(bands: Mapping[str, Mapping[str, list[float]]], labels: Sequence[str], against: str, title: str,
               out: Path) -> None:
    """Bars: each model's hole RMSE change against ``against`` per distance band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [name for name in bands if name != against]
    base = np.array(bands[against]["rmse"])
    pixels = np.array(bands[against]["pixels"], dtype=float)
    figure, axis = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / max(len(models), 1)
    positions = np.arange(len(labels))
    for k, name in enumerate(models):
        change = 100 * (np.array(bands[name]["rmse"]) / base - 1)
        axis.bar(positions + (k - (len(models) - 1) / 2) * width, change, width, label=name)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks(positions, [f"{label}\n{100 * p / max(pixels.sum(), 1):.0f} % of holes"
                                for label, p in zip(labels, pixels, strict=True)], fontsize=8)
    axis.set_xlabel("distance to the nearest measured pixel (pixels at 640 wide)")
    axis.set_ylabel(f"hole RMSE vs {against} (%)")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    figure.tight_layout()
    with atomic_output(out) as tmp:
        figure.savefig(tmp, dpi=90, format="png")
    plt.close(figure)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], required=True, metavar="[NAME=]PATH",
                        help="model to score (.pt/.onnx/.engine); repeat to compare several")
    parser.add_argument("--data", type=Path, required=True, help="dataset root")
    parser.add_argument("--layout", choices=("auto", *LAYOUTS), default="auto")
    add_protocol_arguments(parser)
    parser.add_argument("--frames", default=None, metavar="START:STOP", help="only these frames (sorted order)")
    parser.add_argument("--min-gt", type=float, default=MIN_GT_DEPTH, help="reference depth must exceed this (m)")
    parser.add_argument("--against", default="classical", choices=BASELINES, help="the baseline to compare with")
    parser.add_argument("--edges", type=float, nargs="+", default=list(DEFAULT_EDGES),
                        help="band edges in pixels at 640 wide, increasing from 0")
    parser.add_argument("--backend", default="auto", help="inference backend (as training.evaluate)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    edges = [float(edge) for edge in args.edges]
    if edges[0] != 0 or any(b <= a for a, b in itertools.pairwise(edges)):
        print(f"error: --edges must start at 0 and increase, got {edges}", file=sys.stderr)
        return 2
    try:
        frames = discover_frames(args.data, layout=args.layout)
        frames = [frames[i] for i in parse_frame_range(args.frames, len(frames))]
        protocol = resolve_protocol(frames, args.protocol, args.draws)
        methods, _ = build_methods(dict(parse_model_argument(text) for text in args.model), [args.against],
                                   args.backend)
        bands = score_bands(frames, methods, protocol, args.seed, edges, args.min_gt, args.draws)
    except (OSError, ValueError) as exc:  # missing or corrupt data or model: nothing written
        print(f"error: {exc}", file=sys.stderr)
        return 2
    labels = band_labels(edges)
    title = f"{args.data.name} ({len(frames)} frames, {protocol}{'' if args.frames is None else ', ' + args.frames})"
    args.out.mkdir(parents=True, exist_ok=True)
    table = report_markdown(bands, labels, args.against)
    with atomic_output(args.out / "distance.md") as tmp:
        tmp.write_text(f"# Hole RMSE by distance to the nearest measurement: {title}\n\n{table}")
    with atomic_output(args.out / "distance.json") as tmp:
        tmp.write_text(json.dumps({"dataset": str(args.data), "frames": args.frames, "protocol": protocol,
                                   "seed": args.seed, "draws": args.draws, "edges": edges, "bands": bands},
                                  indent=1, allow_nan=True))
    plot_bands(bands, labels, args.against, title, args.out / "distance.png")
    print(table)
    print(f"written to {args.out}/distance.md, distance.json and distance.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
