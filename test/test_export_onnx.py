"""ONNX export: graph validity, standard operators, metadata, ONNX Runtime parity, the CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from depth_completion_ros.cli import main
from depth_completion_ros.export import (
    OUTPUT_NAMES,
    PARITY_TOLERANCE_M,
    check_parity,
    export_onnx,
    parity_inputs,
    read_onnx_metadata,
)
from depth_completion_ros.model import ModelConfig, PriorCostDCNet, build_model, save_checkpoint

#: Operators TensorRT 10's ONNX parser supports; the export must not need anything else.
STANDARD_OPS = {
    "Add", "And", "ArgMax", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant",
    "ConstantOfShape", "Conv", "DepthToSpace", "Div", "Elu", "Equal", "Exp", "Expand", "Flatten", "Floor",
    "Gather", "Greater", "Identity", "Less", "MatMul", "Max", "MaxPool", "Mod", "Mul", "Pad", "Reciprocal",
    "ReduceMax", "ReduceSum", "Relu", "Reshape", "Shape", "Slice", "Squeeze", "Sub", "Transpose", "Unsqueeze",
    "Where",
}  # fmt: skip
#: The prior-anchored graph adds logarithms and the per-frame mean of the log prior (both in TensorRT 10).
PRIOR_OPS = STANDARD_OPS | {"Log", "ReduceMean"}


@pytest.fixture(scope="module")
def cpu_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("costdcnet_cpu").eval()


@pytest.fixture(scope="module")
def prior_model() -> PriorCostDCNet:
    """The prior-anchored CPU model with a random (not zero) logits layer, so its output differs
    from the prior and parity is a real check."""
    torch.manual_seed(0)
    model = build_model("costdcnet_prior_cpu").eval()
    torch.nn.init.normal_(model.cost_volume.head.weight, std=0.5)
    return model


def random_batch(batch: int, height: int, width: int, seed: int = 0, prior: bool = False) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(seed)
    rgb = generator.random((batch, 3, height, width), dtype=np.float32)
    depth = generator.random((batch, 1, height, width), dtype=np.float32) * 12.0
    depth[generator.random(depth.shape) < 0.4] = 0.0
    depth[0, 0, 0, :4] = [np.nan, np.inf, -1.0, 0.05]  # invalid values and a depth nearer than half a plane
    named = {"rgb": rgb, "depth": depth}
    if prior:
        named["prior"] = 0.2 + generator.random(depth.shape, dtype=np.float32) * 8.0
    return named


def test_fixed_size_export_graph_and_metadata(tmp_path, cpu_model) -> None:
    cpu_model.train()
    path = export_onnx(cpu_model, tmp_path / "model.onnx", height=64, width=96)
    assert cpu_model.training  # exported in eval mode, handed back in the caller's mode
    cpu_model.eval()
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    assert graph.opset_import[0].version >= 17
    assert [i.name for i in graph.graph.input] == ["rgb", "depth"]
    assert [o.name for o in graph.graph.output] == list(OUTPUT_NAMES)
    dims = [[d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.graph.input]
    assert dims == [[1, 3, 64, 96], [1, 1, 64, 96]]
    assert {node.op_type for node in graph.graph.node} <= STANDARD_OPS

    metadata = read_onnx_metadata(path)
    assert ModelConfig.from_dict(json.loads(metadata["model_config"])) == cpu_model.config
    sizes = [metadata[key] for key in ("input_batch", "input_height", "input_width", "total_stride")]
    assert sizes == ["1", "64", "96", "32"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # written atomically, nothing left over


def test_onnx_runtime_matches_pytorch(tmp_path, cpu_model) -> None:
    path = export_onnx(cpu_model, tmp_path / "model.onnx", height=64, width=64, batch=2)
    results = check_parity(cpu_model, path, [("random", random_batch(2, 64, 64))])
    assert results[0].depth_max_abs_m <= PARITY_TOLERANCE_M and results[0].confidence_max_abs < 1e-4


def test_dynamic_export_runs_at_other_sizes(tmp_path, cpu_model) -> None:
    path = export_onnx(cpu_model, tmp_path / "dynamic.onnx", height=64, width=64, dynamic=True)
    assert read_onnx_metadata(path)["input_height"] == "dynamic"
    inputs = [("32x96", random_batch(1, 32, 96, seed=1)), ("batch 3 at 64x32", random_batch(3, 64, 32, seed=2))]
    for result in check_parity(cpu_model, path, inputs):
        assert result.ok, result


def test_export_rejects_bad_arguments(tmp_path, cpu_model) -> None:
    with pytest.raises(ValueError, match="not a positive multiple of the network stride 32"):
        export_onnx(cpu_model, tmp_path / "bad.onnx", height=48, width=64)
    with pytest.raises(ValueError, match="opset must be >= 17"):
        export_onnx(cpu_model, tmp_path / "bad.onnx", opset=13)
    assert not list(tmp_path.iterdir())


def test_dataset_frames_for_parity(generated_shared_data, cpu_model) -> None:
    inputs = parity_inputs(cpu_model, 64, 96, data_root=generated_shared_data)
    assert len(inputs) == 3
    _, named = inputs[0]
    rgb, depth = named["rgb"], named["depth"]
    assert rgb.shape == (1, 3, 64, 96) and depth.shape == (1, 1, 64, 96)
    assert 0.0 <= rgb.min() and rgb.max() <= 1.0 and (depth > 0).mean() > 0.3


def test_prior_model_graph_has_three_inputs_and_dynamic_size(tmp_path, prior_model) -> None:
    path = export_onnx(prior_model, tmp_path / "prior.onnx", height=64, width=96, dynamic=True)
    graph = onnx.load(str(path))
    assert [i.name for i in graph.graph.input] == ["rgb", "depth", "prior"]
    assert [o.name for o in graph.graph.output] == list(OUTPUT_NAMES)
    assert {node.op_type for node in graph.graph.node} <= PRIOR_OPS
    metadata = read_onnx_metadata(path)
    assert ModelConfig.from_dict(json.loads(metadata["model_config"])) == prior_model.config
    assert metadata["input_height"] == "dynamic" and "prior" in metadata["inputs"]
    sizes = [("64x96", random_batch(1, 64, 96, seed=3, prior=True)),
             ("batch 2 at 96x32", random_batch(2, 96, 32, seed=4, prior=True))]
    for result in check_parity(prior_model, path, sizes):
        assert result.ok and result.confidence_max_abs < 1e-4, result


def test_prior_model_export_must_be_dynamic(tmp_path, prior_model) -> None:
    with pytest.raises(ValueError, match="export it with dynamic=True"):
        export_onnx(prior_model, tmp_path / "fixed.onnx", height=64, width=96)
    assert not list(tmp_path.iterdir())


def test_prior_model_parity_on_dataset_frames(tmp_path, prior_model, generated_shared_data) -> None:
    """Matterport3D, 7-Scenes and ClearGrasp layout frames, each at its own working resolution, as the
    library feeds them."""
    path = export_onnx(prior_model, tmp_path / "prior.onnx", dynamic=True)
    inputs = parity_inputs(prior_model, 256, 320, data_root=generated_shared_data)
    assert len(inputs) >= 2
    shapes = {named["prior"].shape for _, named in inputs}
    assert len(shapes) >= 2  # several working resolutions
    for name, named in inputs:
        assert (named["prior"] > 0).all() and (named["depth"] == 0).any(), name
    for result in check_parity(prior_model, path, inputs):
        assert result.ok and result.confidence_max_abs < 1e-4, result


def test_cli_exports_checkpoint_and_reports_parity(tmp_path, capsys, cpu_model) -> None:
    checkpoint = save_checkpoint(tmp_path / "model.pt", cpu_model, epoch=1)
    output = tmp_path / "model.onnx"
    assert main(["export-onnx", "--checkpoint", str(checkpoint), "--output", str(output),
                 "--height", "64", "--width", "64"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {output}" in printed and "Parity ONNX Runtime vs PyTorch" in printed
    assert "| NO |" not in printed and output.is_file()


def test_cli_without_real_frames_says_parity_is_on_random_input(tmp_path, capsys) -> None:
    output = tmp_path / "untrained.onnx"
    assert main(["export-onnx", "--config", "costdcnet_cpu", "--output", str(output), "--height", "64",
                 "--width", "64", "--parity-data", str(tmp_path / "no_data")]) == 0
    printed = capsys.readouterr().out
    assert "parity on RANDOM input only" in printed and "| random input |" in printed and "| NO |" not in printed


def test_installed_command_runs_outside_the_checkout(tmp_path) -> None:
    """``depth-completion export-onnx`` needs no repository on the path (a pip or colcon install)."""
    result = subprocess.run([sys.executable, "-m", "depth_completion_ros.cli", "export-onnx", "--help"],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "--checkpoint" in result.stdout and "--dynamic" in result.stdout
