"""depth_metrics on hand-computed cases, drawn hole masks and real Matterport frames."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from depth_completion_ros.classical import classical_fill
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.metrics import (
    GROUPS,
    METRICS,
    aggregate_metrics,
    depth_metrics,
    format_metrics_table,
    metric_key,
    small_holes,
)

# 2x2 case: errors 0, 0.3, -1, -0.4 m; ratios max(p/g, g/p) = 1, 1.15, 4/3, 1.087.
GT = np.array([[1.0, 2.0], [4.0, 5.0]], np.float32)
PRED = np.array([[1.0, 2.3], [3.0, 4.6]], np.float32)
# The sensor saw the left column; the right column was a hole.
RAW = np.array([[1.0, 0.0], [4.0, 0.0]], np.float32)


def test_hand_computed_metrics_on_a_2x2_prediction():
    metrics = depth_metrics(PRED, GT)
    assert metrics["count"] == 4
    assert metrics["rmse"] == pytest.approx(math.sqrt((0.3**2 + 1.0**2 + 0.4**2) / 4), rel=1e-6)
    assert metrics["mae"] == pytest.approx((0.3 + 1.0 + 0.4) / 4, rel=1e-6)
    assert metrics["rel"] == pytest.approx((0.3 / 2 + 1.0 / 4 + 0.4 / 5) / 4, rel=1e-6)
    assert metrics["rel_median"] == pytest.approx((0.08 + 0.15) / 2, rel=1e-6)
    assert metrics["delta_1.05"] == 0.25
    assert metrics["delta_1.10"] == 0.5
    assert metrics["delta_1.25"] == 0.75
    assert metrics["delta_1.25^2"] == 1.0
    assert metrics["delta_1.25^3"] == 1.0
    assert set(metrics) == set(METRICS), "without raw only the 'all' group is reported"


def test_observed_and_hole_split():
    metrics = depth_metrics(PRED, GT, RAW)
    assert metrics["observed/count"] == 2 and metrics["hole/count"] == 2
    assert metrics["observed/rmse"] == pytest.approx(math.sqrt((0.0 + 1.0) / 2), rel=1e-6)
    assert metrics["hole/rmse"] == pytest.approx(math.sqrt((0.3**2 + 0.4**2) / 2), rel=1e-6)
    assert metrics["observed/delta_1.05"] == 0.5
    assert metrics["hole/delta_1.10"] == 0.5
    assert metrics["hole/rel"] == pytest.approx((0.15 + 0.08) / 2, rel=1e-6)
    assert set(metrics) == {metric_key(group, metric) for group in GROUPS for metric in METRICS}


def test_min_and_max_gt_exclude_pixels():
    gt = GT.copy()
    gt[0, 0] = 0.05  # below min_gt: a "tiny GT value" that would inflate REL
    metrics = depth_metrics(PRED, gt, min_gt=0.1, max_gt=4.5)
    assert metrics["count"] == 2  # 2 m and 4 m remain
    assert metrics["mae"] == pytest.approx((0.3 + 1.0) / 2, rel=1e-6)


def test_prediction_of_zero_is_an_error_not_a_skip():
    pred = PRED.copy()
    pred[1, 1] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = depth_metrics(pred, GT)
    assert metrics["count"] == 4
    assert metrics["mae"] == pytest.approx((0.3 + 1.0 + 5.0) / 4, rel=1e-6)
    assert metrics["delta_1.25^3"] == 0.75


def test_empty_groups_give_nan_and_zero_count_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        no_holes = depth_metrics(PRED, GT, raw=GT)
        no_gt = depth_metrics(PRED, np.zeros_like(GT), raw=RAW)
    assert no_holes["hole/count"] == 0 and math.isnan(no_holes["hole/rmse"])
    assert math.isnan(no_holes["hole_small/delta_1.25"]) and no_holes["hole_large/count"] == 0
    assert no_holes["observed/count"] == 4
    assert all(no_gt[metric_key(group, "count")] == 0 for group in GROUPS)
    assert math.isnan(no_gt["rmse"])


def drawn_holes() -> np.ndarray:
    """100x100 frame: a 3x3 hole, two diagonal-touching 2x2 holes (one 8-connected hole of 8 px)
    and a 30x30 hole."""
    holes = np.zeros((100, 100), bool)
    holes[5:8, 5:8] = True
    holes[50:52, 10:12] = True
    holes[52:54, 12:14] = True
    holes[40:70, 40:70] = True
    return holes


def test_hole_size_classification_on_a_drawn_mask():
    holes = drawn_holes()
    small = small_holes(holes, small_hole_fraction=0.001)  # <= 10 px of 10,000
    expected = holes.copy()
    expected[40:70, 40:70] = False
    assert np.array_equal(small, expected)
    assert not small_holes(holes, small_hole_fraction=0.0005).any()  # <= 5 px: none

    gt = np.full((100, 100), 2.0, np.float32)
    raw = np.where(holes, 0.0, gt).astype(np.float32)
    pred = gt + np.where(holes & ~expected, 0.5, 0.0).astype(np.float32)  # only large holes are wrong
    metrics = depth_metrics(pred, gt, raw, small_hole_fraction=0.001)
    assert metrics["hole_small/count"] == 9 + 8
    assert metrics["hole_large/count"] == 900
    assert metrics["hole_small/rmse"] == 0.0
    assert metrics["hole_large/rmse"] == pytest.approx(0.5)
    assert metrics["hole/count"] == metrics["hole_small/count"] + metrics["hole_large/count"]


def test_batch_pools_pixels_and_accepts_torch_and_channel_dim():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 5.0, (2, 12, 16)).astype(np.float32)
    pred = (gt * rng.uniform(0.8, 1.2, gt.shape)).astype(np.float32)
    raw = np.where(rng.random(gt.shape) < 0.3, 0.0, gt).astype(np.float32)
    batch = depth_metrics(pred, gt, raw)
    pooled = depth_metrics(pred.reshape(-1, 16), gt.reshape(-1, 16))
    for metric in METRICS:
        assert batch[metric] == pytest.approx(pooled[metric], rel=1e-9)
    from_torch = depth_metrics(torch.from_numpy(pred)[:, None], torch.from_numpy(gt)[:, None], torch.from_numpy(raw))
    assert from_torch == pytest.approx(batch, rel=1e-12, nan_ok=True)


def test_hole_components_never_join_across_batch_frames():
    holes = np.zeros((2, 10, 10), bool)
    holes[0, 8:, :] = True  # 20 px at the bottom of frame 0 ...
    holes[1, :2, :] = True  # ... and 20 px at the top of frame 1
    gt = np.ones((2, 10, 10), np.float32)
    raw = np.where(holes, 0, gt).astype(np.float32)
    metrics = depth_metrics(gt, gt, raw, small_hole_fraction=0.2)  # small: <= 20 px per frame
    assert metrics["hole_small/count"] == 40


def test_aggregate_averages_frames_and_skips_empty_groups():
    first = depth_metrics(PRED, GT, RAW)
    second = depth_metrics(GT, GT, raw=GT)  # perfect, and no holes
    aggregated = aggregate_metrics([first, second])
    assert aggregated["rmse"] == pytest.approx((first["rmse"] + 0.0) / 2)
    assert aggregated["count"] == 8
    assert aggregated["hole/rmse"] == pytest.approx(first["hole/rmse"])  # frame 2 has no hole pixels
    assert aggregated["hole/count"] == 2
    with pytest.raises(ValueError, match="no per-frame"):
        aggregate_metrics([])


def test_markdown_table_lists_rows_and_columns():
    rows = {"perfect": depth_metrics(GT, GT, RAW), "sample": depth_metrics(PRED, GT, RAW)}
    table = format_metrics_table(rows, columns=("rmse", "hole/rmse", "hole_small/rmse", "count"))
    lines = table.splitlines()
    assert lines[0] == "| method | rmse | hole/rmse | hole_small/rmse | count |"
    assert lines[1] == "|---|---:|---:|---:|---:|"
    assert lines[2] == "| perfect | 0.0000 | 0.0000 | nan | 4 |"
    assert lines[3].startswith(f"| sample | {rows['sample']['rmse']:.4f} |")
    assert len(lines) == 4


def test_real_matterport_groups_partition_the_valid_pixels(matterport_root):
    for frame in discover_frames(matterport_root, layout="matterport"):
        sample = load_frame(frame, with_rgb=False)
        metrics = depth_metrics(classical_fill(sample.depth), sample.gt, sample.depth)
        assert metrics["count"] == int((sample.gt > 0.1).sum())
        assert metrics["count"] == metrics["observed/count"] + metrics["hole/count"]
        assert metrics["hole/count"] == metrics["hole_small/count"] + metrics["hole_large/count"]
        assert metrics["hole/count"] > 10_000
        # The sensor's own readings agree with the mesh to a few percent, far better than a fill.
        assert metrics["observed/rel_median"] < 0.05
        assert metrics["observed/rel_median"] * 5 < metrics["hole/rel_median"]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: depth_metrics(PRED, GT[:1]), ValueError, "differ in shape"),
        (lambda: depth_metrics(PRED, GT, RAW[:1]), ValueError, "differ in shape"),
        (lambda: depth_metrics(PRED.astype(np.uint16), GT), TypeError, "sanitize_depth"),
        (lambda: depth_metrics(PRED[None, None, None], GT[None, None, None]), ValueError, r"\(B, 1, H, W\)"),
        (lambda: depth_metrics(PRED, GT, max_gt=0.05), ValueError, "max_gt"),
        (lambda: depth_metrics(PRED, GT, min_gt=-1.0), ValueError, "min_gt"),
        (lambda: metric_key("holes", "rmse"), KeyError, "unknown metric"),
        (lambda: format_metrics_table({}), ValueError, "no rows"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()
