"""Evaluation protocols on generated frames: gt (Matterport3D layout) and hidden regions (7-Scenes layout)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from depth_completion_ros.classical import classical_fill, nearest_fill
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.evaluation import evaluate, prepare_inputs, resolve_protocol

METHODS = {"classical": lambda d, rgb: classical_fill(d, rgb), "nearest": lambda d, rgb: nearest_fill(d)}


def test_gt_protocol_on_matterport(generated_matterport, tmp_path):
    frames = discover_frames(generated_matterport)
    report = evaluate(frames, METHODS, panels_dir=tmp_path / "panels", progress=False)
    assert report.protocol == "gt" and report.frames == 3
    for name in METHODS:
        metrics = report.metrics[name]
        assert metrics["hole/count"] > 0 and metrics["observed/count"] > 0
        assert metrics["observed/rmse"] < metrics["hole/rmse"]  # observed pixels are kept as measured
        assert len(list((tmp_path / "panels" / name).rglob("*.png"))) == 3
    table = report.markdown()
    assert "**hole**" in table and "| classical |" in table
    saved = json.loads(report.write_json(tmp_path / "report.json").read_text())
    assert saved["metrics"]["classical"]["hole/count"] == report.metrics["classical"]["hole/count"]


def test_hidden_protocol_scores_only_hidden_measured_pixels(generated_kitchen):
    frames = discover_frames(generated_kitchen)[:2]
    assert resolve_protocol(frames, "auto") == "hidden"
    sample = load_frame(frames[0])
    input_depth, reference = prepare_inputs(sample, "hidden", seed=3, index=0)
    hidden = reference > 0
    assert hidden.any() and not (input_depth[hidden] > 0).any()
    np.testing.assert_array_equal(reference[hidden], sample.depth[hidden])
    again = prepare_inputs(sample, "hidden", seed=3, index=0)[1]
    np.testing.assert_array_equal(again, reference)  # the protocol is reproducible
    report = evaluate(frames, METHODS, seed=3, progress=False)
    assert report.metrics["classical"]["observed/count"] == 0  # nothing but hidden pixels is scored
    assert report.metrics["classical"]["hole/count"] == report.metrics["classical"]["count"] > 0


def test_protocol_errors(generated_kitchen):
    frames = discover_frames(generated_kitchen)[:1]
    with pytest.raises(ValueError, match="needs reference depth"):
        resolve_protocol(frames, "gt")
    with pytest.raises(ValueError, match="unknown protocol"):
        resolve_protocol(frames, "kitti")
    with pytest.raises(ValueError, match="no methods"):
        evaluate(frames, {})
