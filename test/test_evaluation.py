"""Evaluation protocols on generated frames: gt (Matterport3D layout) and hidden regions (7-Scenes layout)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from depth_completion_ros.classical import classical_fill, nearest_fill
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.evaluation import evaluate, prepare_inputs, resolve_protocol, scored_entry
from depth_completion_ros.metrics import aggregate_metrics

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


def test_hidden_protocol_draws_are_the_single_draws_of_consecutive_seeds(generated_kitchen, tmp_path):
    frames = discover_frames(generated_kitchen)[:2]
    report = evaluate(frames, METHODS, seed=3, draws=2, panels_dir=tmp_path / "panels", progress=False)
    first, second = (evaluate(frames, METHODS, seed=seed, progress=False) for seed in (3, 4))
    assert report.draws == 2 and report.frames == 2
    for name in METHODS:
        assert report.per_frame[name] == first.per_frame[name] + second.per_frame[name]
        assert report.metrics[name] == aggregate_metrics(first.per_frame[name] + second.per_frame[name])
        assert first.per_frame[name] != second.per_frame[name]  # the draws differ
        assert len(list((tmp_path / "panels" / name).glob("*_seed[34].png"))) == 4
    assert "x 2 draws of hidden regions" in report.markdown()
    assert json.loads(report.write_json(tmp_path / "report.json").read_text())["draws"] == 2
    assert [scored_entry(position, 2, 3) for position in range(4)] == [(0, 3), (1, 3), (0, 4), (1, 4)]


def test_draws_need_the_hidden_protocol(generated_matterport, generated_kitchen):
    with pytest.raises(ValueError, match="2 draws need the hidden-region protocol"):
        evaluate(discover_frames(generated_matterport), METHODS, draws=2, progress=False)
    with pytest.raises(ValueError, match="draws must be >= 1"):
        evaluate(discover_frames(generated_kitchen)[:1], METHODS, draws=0, progress=False)
