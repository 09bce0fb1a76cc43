"""evaluate.py end to end on generated data folders: models and baselines in one run."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from generated_datasets import CLEARGRASP_SIZE

from depth_completion_ros.depth_io import read_color
from depth_completion_ros.export import export_onnx
from depth_completion_ros.model import build_model, load_checkpoint, save_checkpoint
from training.evaluate import main as evaluate_main
from training.evaluate import panel_indices, parse_model_argument
from training.protocol_audit import VARIANTS, audit
from training.win_loss import main as win_loss_main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained CPU model: evaluation must run any checkpoint, good or bad."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, build_model("costdcnet_cpu"), note="untrained, for tests")
    return path


def _run(args: list[str], out) -> dict:
    assert evaluate_main([*args, "--out", str(out)]) == 0
    assert (out / "metrics.md").is_file()
    return json.loads((out / "metrics.json").read_text())


def test_matterport_with_baselines(generated_matterport, checkpoint, tmp_path):
    args = ["--model", f"untrained={checkpoint}", "--data", str(generated_matterport), "--panels", "1"]
    report = _run(args, tmp_path)
    assert report["protocol"] == "gt" and report["frames"] == 3
    assert list(report["metrics"]) == ["untrained", "classical", "nearest", "inpaint"]
    for name, metrics in report["metrics"].items():
        assert metrics["hole/count"] > 0
        assert metrics["hole/count"] == metrics["hole_small/count"] + metrics["hole_large/count"]
        assert np.isfinite(metrics["hole/rmse"]) and report["ms_per_frame"][name] > 0
        assert len(report["per_frame"][name]) == 3
    # Observed pixels are returned as measured by every method, so they score the same.
    observed = {name: metrics["observed/rmse"] for name, metrics in report["metrics"].items()}
    assert max(observed.values()) - min(observed.values()) < 1e-9
    # An untrained network is worse than the classical fill on the holes: the numbers are real.
    assert report["metrics"]["untrained"]["hole/rmse"] > report["metrics"]["classical"]["hole/rmse"]
    panels = sorted((tmp_path / "panels").glob("*.png"))
    assert len(panels) == 4 and read_color(panels[0]).shape[0] > 256
    markdown = (tmp_path / "metrics.md").read_text()
    assert "**hole_large**" in markdown and "ms/frame" in markdown and str(checkpoint) in markdown


def test_frame_sequence_hidden_protocol_with_onnx(generated_kitchen, checkpoint, tmp_path):
    onnx_path = export_onnx(load_checkpoint(checkpoint)[0], tmp_path / "m.onnx")
    args = ["--model", str(onnx_path), "--data", str(generated_kitchen), "--frames", "2:4", "--panels", "0"]
    first = _run(args, tmp_path / "a")
    assert first["protocol"] == "hidden" and first["frames"] == 2
    assert "frame-000002" in first["info"]["frames"] and "frame-000003" in first["info"]["frames"]
    assert list(first["metrics"]) == ["m.onnx", "classical", "nearest", "inpaint"]
    # Hidden pixels are the only scored ones: nothing observed is scored.
    assert first["metrics"]["classical"]["observed/count"] == 0 and first["metrics"]["classical"]["hole/count"] > 1000
    # A fixed seed hides the same regions again.
    again = _run(args, tmp_path / "b")
    assert again["metrics"]["classical"] == first["metrics"]["classical"]
    # Two draws per frame: draw 0 is the run above, and win_loss redraws any listed entry.
    drawn = _run([*args, "--draws", "2"], tmp_path / "c")
    assert drawn["draws"] == 2 and drawn["info"]["selection"]["draws"] == 2
    assert "seeds 0..1" in drawn["info"]["protocol"]
    assert drawn["per_frame"]["m.onnx"][:2] == first["per_frame"]["m.onnx"] != drawn["per_frame"]["m.onnx"][2:]
    assert win_loss_main([str(tmp_path / "c"), "--model", f"m.onnx={onnx_path}", "--out", str(tmp_path / "w.png")]) == 0
    assert read_color(tmp_path / "w.png").shape[0] > 100


def test_cleargrasp_at_native_resolution(generated_cleargrasp, checkpoint, tmp_path):
    args = ["--model", str(checkpoint), "--data", str(generated_cleargrasp), "--panels", "1", "--no-baselines"]
    report = _run(args, tmp_path)
    assert report["protocol"] == "gt" and list(report["metrics"]) == ["tiny.pt"]
    # Frames are scored at their own size, not the network's: nearly every pixel of both has a reference.
    width, height = CLEARGRASP_SIZE
    assert report["metrics"]["tiny.pt"]["count"] > 0.9 * 2 * width * height
    assert read_color(next((tmp_path / "panels").glob("*.png"))).shape[1] > width


def test_protocol_audit_on_matterport(matterport_root):
    # Real data: the loose variants differ from ours through the benchmark's resize-rim depths.
    results = audit(matterport_root, lambda depth, rgb: depth)  # "no completion": holes stay 0
    assert list(results) == list(VARIANTS)
    ours, loose = results["ours"], results["gt > 1e-4"]
    assert loose["count"] > ours["count"] and loose["rel"] >= ours["rel"]
    assert results["+ bilinear resize"]["count"] < ours["count"]  # scored at the smaller size


def test_data_and_protocol_mistakes_are_errors_not_tracebacks(generated_matterport, checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert evaluate_main(["--data", str(tmp_path / "missing"), "--model", str(checkpoint), "--out", str(out)]) == 2
    assert "no such dataset folder" in capsys.readouterr().err
    args = ["--data", str(generated_matterport), "--model", str(checkpoint), "--draws", "2", "--out", str(out)]
    assert evaluate_main(args) == 2
    assert "2 draws need the hidden-region protocol" in capsys.readouterr().err
    assert not out.exists()


def test_arguments():
    assert parse_model_argument("cpu=models/a.onnx")[0] == "cpu"
    assert parse_model_argument("models/a.onnx")[0] == "a.onnx"
    assert panel_indices(80, 4) == [0, 26, 53, 79] and panel_indices(2, 4) == [0, 1] and panel_indices(5, 0) == []
    assert evaluate_main(["--data", ".", "--no-baselines", "--out", "x"]) == 2
