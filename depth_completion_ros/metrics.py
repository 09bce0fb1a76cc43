"""Depth-completion metrics, split where completion is easy (observed pixels) and hard (holes).

Exact definitions, the grouping and the aggregation choice are in ``docs/metrics.md``. In short:
every metric is computed over pixels with valid ground truth (``min_gt < gt`` and, when given,
``gt <= max_gt``); with ``raw`` given the same metrics are repeated for the pixels the sensor
observed (``raw > 0``), for its holes (``raw == 0``), and for holes split by the area of their
connected component into small and large. An empty group gives NaN and a count of 0.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import cv2
import numpy as np
import torch

from .arrays import to_numpy

#: delta < t: the fraction of pixels with max(pred / gt, gt / pred) < t.
DELTA_THRESHOLDS = {
    "delta_1.05": 1.05,
    "delta_1.10": 1.10,
    "delta_1.25": 1.25,
    "delta_1.25^2": 1.25**2,
    "delta_1.25^3": 1.25**3,
}
METRICS = ("rmse", "mae", "rel", "rel_median", *DELTA_THRESHOLDS, "count")
#: Pixel groups; ``all`` keys are bare (``rmse``), the others prefixed (``hole/rmse``).
GROUPS = ("all", "observed", "hole", "hole_small", "hole_large")
#: Holes whose connected area is at most this fraction of the frame are "small": 82 px
#: (about 9x9) at 320x256, 307 px (about 17x17) at 640x480 - gaps that local filling bridges.
DEFAULT_SMALL_HOLE_FRACTION = 0.001
#: Lower-is-better metrics; every other metric except ``count`` is higher-is-better.
LOWER_IS_BETTER = ("rmse", "mae", "rel", "rel_median")


def metric_key(group: str, metric: str) -> str:
    """Key of ``metric`` for ``group`` in :func:`depth_metrics` results (``hole/rmse``, ``rmse``)."""
    if group not in GROUPS or metric not in METRICS:
        raise KeyError(f"unknown metric {group}/{metric} (groups: {', '.join(GROUPS)}; metrics: {', '.join(METRICS)})")
    return metric if group == "all" else f"{group}/{metric}"


#: Ground truth at or below this (metres) is not a measurement (benchmark convention).
MIN_GT_DEPTH = 0.1


def depth_metrics(
    pred: np.ndarray | torch.Tensor,
    gt: np.ndarray | torch.Tensor,
    raw: np.ndarray | torch.Tensor | None = None,
    min_gt: float = MIN_GT_DEPTH,
    max_gt: float | None = None,
    *,
    small_hole_fraction: float = DEFAULT_SMALL_HOLE_FRACTION,
) -> dict[str, float]:
    """Score predicted depth against ground truth (both metres); a batch pools all its pixels.

    Shapes (H, W), (B, H, W) or (B, 1, H, W), numpy or torch, all three the same. Without
    ``raw`` only the ``all`` group is returned. Predictions are scored as given: a prediction
    of 0 at a valid ground-truth pixel is an error of ``gt``, never skipped.
    """
    pred_frames, gt_frames = _frames(pred, "pred"), _frames(gt, "gt")
    if pred_frames.shape != gt_frames.shape:
        raise ValueError(f"pred {tuple(pred_frames.shape)} and gt {tuple(gt_frames.shape)} differ in shape")
    if not min_gt >= 0:
        raise ValueError(f"min_gt must be >= 0 metres, got {min_gt}")
    if max_gt is not None and not max_gt > min_gt:
        raise ValueError(f"max_gt ({max_gt}) must be greater than min_gt ({min_gt})")
    if not 0.0 <= small_hole_fraction <= 1.0:
        raise ValueError(f"small_hole_fraction must be in [0, 1], got {small_hole_fraction}")
    valid = np.isfinite(gt_frames) & (gt_frames > min_gt)
    if max_gt is not None:
        valid &= gt_frames <= max_gt
    groups = {"all": valid}
    if raw is not None:
        raw_frames = _frames(raw, "raw")
        if raw_frames.shape != gt_frames.shape:
            raise ValueError(f"raw {tuple(raw_frames.shape)} and gt {tuple(gt_frames.shape)} differ in shape")
        holes = ~(np.isfinite(raw_frames) & (raw_frames > 0))
        small = np.stack([small_holes(frame_holes, small_hole_fraction) for frame_holes in holes])
        groups |= {
            "observed": valid & ~holes,
            "hole": valid & holes,
            "hole_small": valid & small,
            "hole_large": valid & holes & ~small,
        }
    results: dict[str, float] = {}
    for group, mask in groups.items():
        scores = _scores(pred_frames[mask].astype(np.float64), gt_frames[mask].astype(np.float64))
        results |= {metric_key(group, metric): value for metric, value in scores.items()}
    return results


def small_holes(holes: np.ndarray, small_hole_fraction: float = DEFAULT_SMALL_HOLE_FRACTION) -> np.ndarray:
    """Hole pixels whose 8-connected hole has an area <= ``small_hole_fraction`` of the frame."""
    holes = np.asarray(holes, dtype=bool)
    if holes.ndim != 2:
        raise ValueError(f"hole mask must be (H, W), got shape {holes.shape}")
    _, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=8)
    is_small: np.ndarray = stats[:, cv2.CC_STAT_AREA] <= small_hole_fraction * holes.size
    is_small[0] = False  # label 0 is the observed region
    small_holes: np.ndarray = is_small[labels]
    return small_holes


def aggregate_metrics(per_frame: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Mean of per-frame metrics over frames (the benchmarks' convention), counts summed.

    Every frame weighs the same, so one frame with a huge hole does not dominate; frames where
    a group is empty (NaN, count 0) are left out of that group's mean. To pool pixels instead,
    pass the frames as one (B, H, W) batch to :func:`depth_metrics`.
    """
    frames = list(per_frame)
    if not frames:
        raise ValueError("no per-frame metrics to aggregate")
    keys = list(frames[0])
    aggregated: dict[str, float] = {}
    for key in keys:
        values = np.array([frame[key] for frame in frames], dtype=np.float64)
        if key.endswith("count"):
            aggregated[key] = int(values.sum())
        else:
            present = values[~np.isnan(values)]
            aggregated[key] = float(present.mean()) if present.size else math.nan
    return aggregated


def format_metrics_table(
    rows: Mapping[str, Mapping[str, float]],
    columns: Sequence[str] = ("rmse", "mae", "rel", "rel_median", "delta_1.05", "delta_1.25", "count"),
    label: str = "method",
) -> str:
    """Markdown table: one row per method (or frame), one column per metric key.

    A key missing from a row shows as an empty cell, NaN as ``nan``.
    """
    if not rows:
        raise ValueError("no rows to format")
    lines = [
        f"| {label} | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name, metrics in rows.items():
        cells = [_format_value(metrics[column]) if column in metrics else "" for column in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _format_value(value: float) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if math.isnan(value):
        return "nan"
    return f"{value:.4f}"


def _frames(array: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    frames = to_numpy(array)
    if frames.ndim == 4 and frames.shape[1] == 1:
        frames = frames[:, 0]
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3 or frames.size == 0:
        raise ValueError(
            f"{name} must be a non-empty (H, W), (B, H, W) or (B, 1, H, W) array, got shape {frames.shape}"
        )
    if not np.issubdtype(frames.dtype, np.floating):
        raise TypeError(
            f"{name} must be float depth in metres, got {frames.dtype}; "
            "convert sensor units with depth_io.sanitize_depth(depth, scale)"
        )
    return frames


def _scores(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """The metrics of one pixel group (1-D arrays, metres, float64 for exact sums)."""
    if gt.size == 0:
        return {metric: (0 if metric == "count" else math.nan) for metric in METRICS}
    abs_error = np.abs(pred - gt)
    relative = abs_error / gt
    scores: dict[str, float] = {
        "rmse": float(np.sqrt(np.mean(np.square(abs_error)))),
        "mae": float(np.mean(abs_error)),
        "rel": float(np.mean(relative)),
        "rel_median": float(np.median(relative)),
    }
    for name, threshold in DELTA_THRESHOLDS.items():
        # max(p/g, g/p) < t without dividing by a prediction that may be 0.
        scores[name] = float(np.mean((pred < threshold * gt) & (gt < threshold * pred)))
    scores["count"] = int(gt.size)
    return scores
