"""Where a model wins and where it loses against a baseline: one picture per evaluation.

    python -m training.win_loss eval/prior/7scenes --model prior=models/costdcnet_prior_cpu.onnx \
        --against classical --out docs/images/prior_win_loss_7scenes.png

Reads the per-frame hole RMSE that ``training.evaluate`` wrote (``OUT/metrics.json``), picks
the frame where ``--model`` gains most over ``--against`` and the frame where it loses most,
completes both again exactly as the evaluation did (same frames, same hidden regions) and
draws, per frame: colour, input depth, the baseline's and the model's absolute error on the
scored pixels, and their difference (blue: the model is nearer the reference, red: farther).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from depth_completion_ros.datasets import discover_frames, load_frame, parse_frame_range
from depth_completion_ros.depth_io import atomic_output
from depth_completion_ros.evaluation import prepare_inputs, scored_entry
from depth_completion_ros.metrics import metric_key
from training.evaluate import BASELINES, build_methods, parse_model_argument

#: Absolute errors are drawn on 0 … this quantile of both methods' errors in the frame.
ERROR_QUANTILE = 0.98


def pick_frames(metrics: dict[str, Any], model: str, against: str) -> list[tuple[str, int, float]]:
    """``(label, position, hole RMSE difference)`` of the largest win and the largest loss."""
    key = metric_key("hole", "rmse")
    ours = np.array([frame.get(key, np.nan) for frame in metrics["per_frame"][model]], dtype=float)
    theirs = np.array([frame.get(key, np.nan) for frame in metrics["per_frame"][against]], dtype=float)
    difference = np.where(np.isfinite(ours) & np.isfinite(theirs), ours - theirs, np.nan)
    if not np.isfinite(difference).any():
        raise ValueError(f"no frame has a hole RMSE for both {model!r} and {against!r}")
    best, worst = int(np.nanargmin(difference)), int(np.nanargmax(difference))
    return [("largest win", best, float(difference[best])), ("largest loss", worst, float(difference[worst]))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_dir", type=Path, help="an evaluate.py output folder (metrics.json)")
    parser.add_argument("--model", required=True, metavar="NAME=PATH", help="the model, named as in the evaluation")
    parser.add_argument("--against", default="classical", choices=BASELINES, help="the baseline to compare with")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args(argv)

    metrics = json.loads((args.eval_dir / "metrics.json").read_text())
    info = metrics["info"]
    name, path = parse_model_argument(args.model)
    selection = info["selection"]
    protocol, seed = selection["protocol"], int(selection["seed"])
    frames = discover_frames(info["dataset"], layout=info["layout"])
    frames = [frames[i] for i in parse_frame_range(selection["frames"], len(frames))]
    methods, _ = build_methods({name: path}, [args.against], args.backend, info["fit"])

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picked = pick_frames(metrics, name, args.against)
    figure, axes = plt.subplots(len(picked), 5, figsize=(20, 3.4 * len(picked)), squeeze=False)
    for row, (label, position, difference) in zip(axes, picked, strict=True):
        index, draw_seed = scored_entry(position, len(frames), seed)  # evaluations with --draws list every draw
        sample = load_frame(frames[index])
        input_depth, reference = prepare_inputs(sample, protocol, draw_seed, index)
        scored = (reference > info.get("min_gt", 0.1)) & (input_depth <= 0)
        errors = {method: np.where(scored, np.abs(methods[method](input_depth, sample.rgb) - reference), np.nan)
                  for method in (args.against, name)}
        top = float(np.nanquantile(np.concatenate([e[scored] for e in errors.values()]), ERROR_QUANTILE)) or 1.0
        delta = errors[name] - errors[args.against]
        drawn = f" (hidden-region seed {draw_seed})" if protocol == "hidden" else ""
        panels = [(sample.rgb, None, f"{frames[index].name}{drawn}: {label}"),
                  (np.where(input_depth > 0, input_depth, np.nan), "viridis", "input depth (m)"),
                  (errors[args.against], "magma", f"|{args.against} - reference| (m)"),
                  (errors[name], "magma", f"|{name} - reference| (m)"),
                  (delta, "coolwarm", f"{name} - {args.against} error (m); hole RMSE {difference:+.3f}")]
        for axis, (image, cmap, title) in zip(row, panels, strict=True):
            if cmap is None:
                axis.imshow(image)
            else:
                limits = {"vmin": -top, "vmax": top} if cmap == "coolwarm" else {"vmin": 0, "vmax": top}
                if cmap == "viridis":
                    limits = {}
                shown = axis.imshow(image, cmap=cmap, **limits)
                figure.colorbar(shown, ax=axis, fraction=0.035)
            axis.set_title(title, fontsize=9)
            axis.axis("off")
    figure.tight_layout()
    with atomic_output(args.out) as tmp:
        figure.savefig(tmp, dpi=80, format="png")
    plt.close(figure)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
