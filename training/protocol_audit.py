"""How much evaluation choices alone move RMSE and REL (the seed's "RMSE 0.8952, REL 0.6498").

    python -m training.protocol_audit --data ../shared/data/matterport3d [--model models/costdcnet_cpu.onnx]

The same predictions (one method, the same frames) are scored under protocol variants that
published and home-made depth-completion evaluations differ in, one change at a time:

- ``ours``: raw below ``MATTERPORT_MIN_DEPTH`` (the resize rim) invalid, ground truth > 0.1 m,
  native resolution, per-frame means (docs/metrics.md)
- ``gt > 1e-4``: CostDCNet/NLSPN-style validity, so interpolation-rim ground truth counts
- ``+ rim in input``: the raw input keeps its resize-rim depths (the method sees, and the
  pipeline keeps, fake near depths on hole borders)
- ``+ bilinear resize``: prediction and ground truth bilinearly resized (here to 304x228, the
  NYUv2 benchmark size), which blends holes with depth in both
- ``pooled pixels``: one mean over all pixels of all frames instead of per-frame means

Prints a Markdown table (RMSE, mean REL, median REL).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.depth_io import read_depth
from depth_completion_ros.metrics import MIN_GT_DEPTH, aggregate_metrics, depth_metrics, format_metrics_table
from depth_completion_ros.pipeline import DepthCompleter

#: The NYUv2 benchmark's input size, a typical target of an evaluation-time resize.
RESIZED = (304, 228)
VARIANTS = ("ours", "gt > 1e-4", "+ rim in input", "+ bilinear resize", "pooled pixels (ours otherwise)")


def bilinear(depth: np.ndarray) -> np.ndarray:
    """The mistake under audit: a bilinear resize that blends holes (0) with valid depth."""
    return cv2.resize(depth, RESIZED, interpolation=cv2.INTER_LINEAR)


def audit(data: Path, complete: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> dict[str, dict[str, float]]:
    """Metrics of ``complete``'s predictions under each protocol variant, by variant name."""
    per_variant: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS[:4]}
    pooled: dict[str, list[np.ndarray]] = {"pred": [], "gt": [], "raw": []}
    for frame in discover_frames(data, layout="matterport"):
        sample = load_frame(frame)
        if sample.gt is None or sample.rgb is None:
            raise ValueError(f"{frame.depth}: the audit needs the frame's colour image and rendered ground truth")
        with_rim = read_depth(frame.depth, scale=frame.depth_scale)  # no minimum depth: rim kept
        pred = complete(sample.depth, sample.rgb)
        pred_rim = complete(with_rim, sample.rgb)
        per_variant["ours"].append(depth_metrics(pred, sample.gt, raw=sample.depth, min_gt=MIN_GT_DEPTH))
        per_variant["gt > 1e-4"].append(depth_metrics(pred, sample.gt, raw=sample.depth, min_gt=1e-4))
        per_variant["+ rim in input"].append(depth_metrics(pred_rim, sample.gt, raw=with_rim, min_gt=1e-4))
        per_variant["+ bilinear resize"].append(
            depth_metrics(bilinear(pred_rim), bilinear(sample.gt), raw=bilinear(with_rim), min_gt=1e-4)
        )
        for key, value in (("pred", pred), ("gt", sample.gt), ("raw", sample.depth)):
            pooled[key].append(value)
    results = {name: aggregate_metrics(values) for name, values in per_variant.items()}
    results[VARIANTS[4]] = depth_metrics(
        np.stack(pooled["pred"]), np.stack(pooled["gt"]), raw=np.stack(pooled["raw"]), min_gt=MIN_GT_DEPTH
    )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="Matterport3D benchmark folder")
    parser.add_argument("--model", default=None, help="model file (.pt/.onnx); default: the classical completion")
    args = parser.parse_args(argv)
    if args.model:
        completer = DepthCompleter(method="model", model_path=args.model)
    else:
        completer = DepthCompleter(method="classical")
    results = audit(args.data, lambda depth, rgb: completer.complete(depth, rgb).depth)
    method = Path(args.model).name if args.model else "classical"
    print(f"Method: {method}; metrics over all valid ground-truth pixels.\n")
    print(format_metrics_table(results, columns=("rmse", "rel", "rel_median", "count"), label="protocol"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
