"""Is the model's confidence calibrated? Error of the model's fills against their confidence, on real frames.

For every hole pixel the model filled (raw depth missing, reference valid), this collects the
confidence the network gave and the absolute error against the reference — Matterport3D mesh
depth, ClearGrasp opaque depth, or on 7-Scenes the measured depth of regions hidden from the
model (``evaluation.prepare_inputs``). It prints, per dataset, the hole RMSE of the fills in each
confidence band, and what thresholding does: the share of fills kept above each threshold and
their RMSE. A calibrated confidence gives lower error in higher bands, so thresholding removes
the worst fills. It also draws the curves and one real frame's panel with the confidence map.

    python -m training.confidence_calibration [--model models/costdcnet_cpu.onnx] [--data ../shared/data]
        [--out docs/images] [--kitchen-frames 220:300 --kitchen-step 8]
"""
from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from depth_completion_ros.datasets import (
    Frame,
    discover_frames,
    parse_frame_range,
)
from depth_completion_ros.depth_io import atomic_output, write_color
from depth_completion_ros.evaluation import resolve_protocol, scored_frames
from depth_completion_ros.pipeline import DepthCompleter
from depth_completion_ros.visualization import make_panel

BANDS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0001)
THRESHOLDS = (0.0, 0.2, 0.4, 0.6, 0.8)
MIN_REFERENCE_M = 0.1


def collect(
    completer: DepthCompleter, frames: Sequence[Frame], seed: int = 0, panel_path: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, |error|) of every hole the model filled, over ``frames``; optionally one frame's panel."""
    protocol = resolve_protocol(frames, "auto")
    confidences, errors = [], []
    for index, scored_frame in enumerate(scored_frames(frames, protocol, seed, desc=frames[0].layout)):
        sample, input_depth, reference = scored_frame.sample, scored_frame.input_depth, scored_frame.reference
        result = completer.complete(input_depth, sample.rgb)
        if result.confidence is None:
            raise ValueError(f"{completer.describe()}: no confidence to calibrate (use the model method)")
        # Confidence exactly 0 marks pixels outside the model's crop, filled classically: not the model's.
        scored = (input_depth == 0) & (reference > MIN_REFERENCE_M) & (result.depth > 0) & (result.confidence > 0)
        confidences.append(result.confidence[scored])
        errors.append(np.abs(result.depth[scored] - reference[scored]))
        if panel_path is not None and index == len(frames) // 2:
            write_color(panel_path, make_panel(input_depth, result.depth, gt=reference, rgb=sample.rgb,
                                               confidence=result.confidence))
    return np.concatenate(confidences), np.concatenate(errors)


def rmse(errors: np.ndarray) -> float:
    return float(np.sqrt(np.mean(errors**2))) if errors.size else float("nan")


def band_table(name: str, confidence: np.ndarray, error: np.ndarray) -> list[str]:
    rows = [f"**{name}** ({error.size} hole fills)", "",
            "| confidence band | share of fills | hole RMSE (m) | median abs error (m) |", "|---|---:|---:|---:|"]
    for low, high in itertools.pairwise(BANDS):
        inside = (confidence >= low) & (confidence < high)
        median = float(np.median(error[inside])) if inside.any() else float("nan")
        band = f"{low:.1f}–{min(high, 1.0):.1f}"
        rows.append(f"| {band} | {inside.mean():.1%} | {rmse(error[inside]):.4f} | {median:.4f} |")
    rows += ["", "| keep fills with confidence ≥ | fills kept | hole RMSE of kept fills (m) |", "|---|---:|---:|"]
    for threshold in THRESHOLDS:
        kept = confidence >= threshold
        rows.append(f"| {threshold:.1f} | {kept.mean():.1%} | {rmse(error[kept]):.4f} |")
    return [*rows, ""]


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=repo / "models" / "costdcnet_cpu.onnx")
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=repo / "docs" / "images")
    parser.add_argument("--kitchen-frames", default="220:300",
                        help="7-Scenes frames START:STOP; 220-299 were never trained on")
    parser.add_argument("--kitchen-step", type=int, default=8, help="use every N-th of those frames")
    args = parser.parse_args(argv)
    completer = DepthCompleter(method="model", model_path=args.model)
    sets = {
        "7-Scenes (hidden regions)": args.data / "7scenes_redkitchen",
        "Matterport3D": args.data / "matterport3d",
        "ClearGrasp D435": args.data / "cleargrasp_d435",
    }
    lines, curves = [], {}
    for name, root in sets.items():
        if not root.is_dir():
            print(f"skipping {name}: {root} not found", file=sys.stderr)
            continue
        frames = discover_frames(root)
        if name.startswith("7-Scenes"):
            frames = [frames[i] for i in parse_frame_range(args.kitchen_frames, len(frames))][:: args.kitchen_step]
        panel = args.out / "confidence_panel.png" if name == "Matterport3D" else None
        confidence, error = collect(completer, frames, panel_path=panel)
        lines += band_table(name, confidence, error)
        thresholds = np.linspace(0, 0.95, 20)
        curves[name] = [(float((confidence >= t).mean()), rmse(error[confidence >= t])) for t in thresholds]
    print("\n".join(lines))
    figure, axis = plt.subplots(figsize=(6, 4))
    for name, points in curves.items():
        kept, errors = zip(*points, strict=True)
        axis.plot(kept, np.asarray(errors) / errors[0], marker="o", markersize=3, label=name)
    axis.set_xlabel("share of hole fills kept (confidence above a threshold)")
    axis.set_ylabel("hole RMSE of kept fills / RMSE of all fills")
    axis.invert_xaxis()
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title(f"Confidence calibration: {args.model.name}")
    figure.tight_layout()
    with atomic_output(args.out / "confidence_calibration.png") as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
