"""``depth-completion build-engine``: its behaviour where TensorRT is missing, and a real build where it is not."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from depth_completion_ros.backends import BackendError, OnnxRuntimeBackend, TensorRTBackend, find_cached_engine
from depth_completion_ros.cli.export import EXIT_UNAVAILABLE
from depth_completion_ros.export import build_engine, export_onnx, working_profile_shapes
from depth_completion_ros.model import build_model, load_model_config
from depth_completion_ros.model.resolution import padded_size, working_size

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return export_onnx(build_model("costdcnet_cpu"), tmp_path_factory.mktemp("onnx") / "net.onnx", 64, 96)


def run_command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``depth-completion build-engine ARGS`` as the installed command runs, outside the checkout."""
    return subprocess.run([sys.executable, "-m", "depth_completion_ros.cli", "build-engine", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here: the missing-TensorRT path cannot be exercised")
def test_without_tensorrt_the_command_explains_and_exits_2(onnx_model):
    result = run_command(str(onnx_model), "--precision", "fp16", cwd=onnx_model.parent)
    assert result.returncode == EXIT_UNAVAILABLE == 2
    assert "cannot build a TensorRT engine on this machine: TensorRT is not importable" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(onnx_model.parent.glob("*.engine"))


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here: the missing-TensorRT path cannot be exercised")
def test_without_tensorrt_the_function_raises_backend_error(onnx_model):
    with pytest.raises(BackendError, match="TensorRT is not importable"):
        build_engine(onnx_model, "fp32")


def test_missing_onnx_and_bad_options_fail_clearly(tmp_path):
    result = run_command(str(tmp_path / "absent.onnx"), cwd=tmp_path)
    assert result.returncode == 2
    assert "absent.onnx: ONNX model not found" in result.stderr and "Traceback" not in result.stderr
    result = run_command(str(tmp_path / "absent.onnx"), "--width", "320", cwd=tmp_path)
    assert result.returncode != 0 and "give both --width and --height" in result.stderr
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        build_engine(tmp_path / "absent.onnx", "int8")


@pytest.mark.skipif(not (HAS_TENSORRT and torch.cuda.is_available()), reason="needs TensorRT 10 and a CUDA GPU")
def test_build_caches_a_parity_checked_engine(onnx_model, tmp_path):
    result = run_command(str(onnx_model), "--precision", "fp16", "--cache-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    engine_path = Path(result.stdout.strip().splitlines()[-1])
    assert engine_path == find_cached_engine(onnx_model, "fp16", tmp_path)
    assert "parity vs ONNX Runtime" in result.stderr and "max |depth diff|" in result.stderr
    assert not [p for p in tmp_path.iterdir() if p != engine_path], "only the engine, no temporary files"
    engine = TensorRTBackend(engine_path)
    assert engine.input_size == (96, 64) == OnnxRuntimeBackend(onnx_model).input_size
    # A tolerance nothing can meet: the engine is built but not installed.
    rejected = run_command(str(onnx_model), "--precision", "fp32", "--cache-dir", str(tmp_path / "strict"),
                           "--tolerance", "0", cwd=tmp_path)
    assert rejected.returncode == 1 and "not installed" in rejected.stderr
    assert not list((tmp_path / "strict").glob("*.engine"))


def test_prior_model_profile_covers_every_working_size():
    """One optimisation profile serves every camera: all padded working sizes of frames from
    320x256 to 1920x1080, portrait included, lie within it, and 640x480 is its optimum."""
    config = load_model_config("costdcnet_prior_cpu")
    smallest, optimum, largest = working_profile_shapes((-1, 1, -1, -1), config, max_batch=2)
    assert smallest[:2] == (1, 1) and largest[:2] == (2, 1)
    assert optimum[2:] == padded_size(*working_size(640, 480, config.working_area), config.total_stride)[::-1]
    for width, height in ((320, 256), (640, 480), (1280, 720), (1920, 1080), (480, 640), (720, 1280), (64, 64)):
        padded_w, padded_h = padded_size(*working_size(width, height, config.working_area), config.total_stride)
        assert smallest[2] <= padded_h <= largest[2] and smallest[3] <= padded_w <= largest[3], (width, height)


@pytest.mark.skipif(not (HAS_TENSORRT and torch.cuda.is_available()), reason="needs TensorRT 10 and a CUDA GPU")
def test_prior_model_engine_runs_every_working_size(tmp_path):
    """The prior model's dynamic export builds into one engine that takes the prior and runs
    frames of several aspect ratios, matching ONNX Runtime (fp32)."""
    torch.manual_seed(0)
    model = build_model("costdcnet_prior_cpu")
    torch.nn.init.normal_(model.cost_volume.head.weight, std=0.5)
    onnx_path = export_onnx(model, tmp_path / "prior.onnx", dynamic=True)
    engine_path = build_engine(onnx_path, "fp32", tmp_path)
    engine = TensorRTBackend.from_onnx(onnx_path, "fp32", tmp_path)
    assert engine_path.is_file() and engine.refines_prior and engine.config == model.config
    reference = OnnxRuntimeBackend(onnx_path)
    for width, height in ((352, 256), (384, 224), (256, 352)):
        rgb, prior = torch.rand(1, 3, height, width), torch.rand(1, 1, height, width) * 3 + 0.3
        depth = torch.where(torch.rand_like(prior) < 0.3, torch.zeros_like(prior), prior * 1.02)
        expected, _ = reference.infer(rgb.numpy(), depth.numpy(), prior.numpy())
        actual, _ = engine.infer(rgb.cuda(), depth.cuda(), prior.cuda())
        assert abs(actual.cpu().numpy() - expected).max() <= 1e-3
