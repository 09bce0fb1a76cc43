"""Inference backends: parity, array types, batching, bad files and inputs, auto selection, engine cache."""
from __future__ import annotations

import logging
import re
import shlex
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
import torch

from depth_completion_ros import backends, resources
from depth_completion_ros.backends import (
    BACKEND_KINDS,
    BackendError,
    EngineNotBuiltError,
    InferenceInputError,
    ModelFileError,
    OnnxRuntimeBackend,
    TorchBackend,
    create_backend,
    engine_cache,
    engine_cache_dirs,
    engine_cache_path,
    engine_file_name,
    find_cached_engine,
)
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.export import export_onnx
from depth_completion_ros.geometry import resize_color, resize_depth
from depth_completion_ros.model import build_model, save_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Network input used throughout: small enough for a 2-core CPU, a multiple of the stride (32).
WIDTH, HEIGHT = 128, 96


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> SimpleNamespace:
    """One randomly initialised CPU CostDCNet as checkpoint, dynamic ONNX and static ONNX."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    model = build_model("costdcnet_cpu").eval()
    checkpoint = save_checkpoint(folder / "net.pt", model)
    dynamic = export_onnx(model, folder / "net.onnx", HEIGHT, WIDTH, dynamic=True)
    static = export_onnx(model, folder / "static" / "net_static.onnx", HEIGHT, WIDTH, dynamic=False, batch=1)
    return SimpleNamespace(folder=folder, checkpoint=checkpoint, dynamic=dynamic, static=static)


def synthetic_batch(batch: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rgb = rng.random((batch, 3, HEIGHT, WIDTH), dtype=np.float32)
    depth = rng.uniform(0.5, 6.0, (batch, 1, HEIGHT, WIDTH)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.4] = 0.0
    return rgb, depth


def frame_batch(root: Path, count: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Dataset frames resized to the test input size (nearest for depth, never blending holes)."""
    samples = [load_frame(frame) for frame in discover_frames(root)[:count]]
    rgb = np.stack([resize_color(s.rgb, WIDTH, HEIGHT) for s in samples]).transpose(0, 3, 1, 2) / np.float32(255)
    depth = np.stack([resize_depth(s.depth, WIDTH, HEIGHT) for s in samples])[:, None]
    return np.ascontiguousarray(rgb, dtype=np.float32), depth


def test_torch_and_onnxruntime_agree_on_kinect_like_frames(model_files, generated_kitchen):
    rgb, depth = frame_batch(generated_kitchen)
    assert 0.05 < np.mean(depth == 0) < 0.9, "the frames should have holes and measurements"
    torch_depth, torch_confidence = TorchBackend.from_checkpoint(model_files.checkpoint, "cpu").infer(rgb, depth)
    ort_depth, ort_confidence = OnnxRuntimeBackend(model_files.dynamic).infer(rgb, depth)
    assert np.max(np.abs(torch_depth - ort_depth)) < 1e-3
    assert np.max(np.abs(torch_confidence - ort_confidence)) < 1e-3
    assert np.all(np.isfinite(ort_depth)) and np.all((ort_confidence >= 0) & (ort_confidence <= 1))


@pytest.mark.parametrize("kind", ["torch", "onnxruntime"])
def test_numpy_in_numpy_out_and_torch_in_torch_out(model_files, kind):
    backend = create_backend(kind, model_files.checkpoint if kind == "torch" else model_files.dynamic)
    rgb, depth = synthetic_batch()
    out_depth, out_confidence = backend.infer(rgb, depth)
    assert isinstance(out_depth, np.ndarray) and isinstance(out_confidence, np.ndarray)
    assert out_depth.dtype == np.float32 and out_depth.shape == depth.shape == out_confidence.shape
    tensor_depth, tensor_confidence = backend.infer(torch.from_numpy(rgb), torch.from_numpy(depth))
    assert isinstance(tensor_depth, torch.Tensor) and tensor_depth.device.type == "cpu"
    assert tensor_depth.dtype == torch.float32 and tuple(tensor_confidence.shape) == depth.shape
    np.testing.assert_allclose(tensor_depth.numpy(), out_depth, atol=1e-5)
    # float64 input is accepted and computed in float32.
    np.testing.assert_allclose(backend.infer(rgb.astype(np.float64), depth.astype(np.float64))[0], out_depth, atol=1e-5)


def test_nan_inf_and_negative_depth_count_as_holes(model_files):
    backend = OnnxRuntimeBackend(model_files.dynamic)
    rgb, depth = synthetic_batch(batch=1)
    holes = depth == 0
    dirty = depth.copy()
    dirty[holes] = np.resize(np.array([np.nan, np.inf, -np.inf, -1.0], np.float32), int(holes.sum()))
    clean_result = backend.infer(rgb, depth)[0]
    np.testing.assert_array_equal(backend.infer(rgb, dirty)[0], clean_result)
    assert np.all(np.isfinite(clean_result))


def test_static_export_fixes_size_and_batch(model_files):
    backend = create_backend("onnxruntime", model_files.static)
    assert backend.input_size == (WIDTH, HEIGHT) == backend.model_size
    assert backend.max_batch == 1 and backend.batch_fixed
    rgb, depth = synthetic_batch(batch=3)
    batched = backend.infer(rgb, depth)[0]
    singles = np.concatenate([backend.infer(rgb[i : i + 1], depth[i : i + 1])[0] for i in range(3)])
    np.testing.assert_array_equal(batched, singles)
    dynamic = create_backend("onnxruntime", model_files.dynamic)
    assert dynamic.input_size is None and dynamic.size_multiple == 32 and dynamic.max_batch is None
    assert dynamic.config == backend.config == build_model("costdcnet_cpu").config, "config read from the metadata"
    assert dynamic.model_size == backends.DEFAULT_MODEL_SIZE, "a dynamic export records no size"
    np.testing.assert_allclose(dynamic.infer(rgb, depth)[0], batched, atol=1e-4)
    wide = np.zeros((1, 4, HEIGHT, 2 * WIDTH), np.float32)
    with pytest.raises(InferenceInputError, match=f"takes {WIDTH}x{HEIGHT}.*fit='crop'"):
        backend.infer(wide[:, :3], wide[:, 3:])


def test_bad_inputs_name_the_problem(model_files):
    backend = OnnxRuntimeBackend(model_files.dynamic)
    rgb, depth = synthetic_batch(batch=2)
    with pytest.raises(InferenceInputError, match=r"depth must have shape \(N, 1, H, W\)"):
        backend.infer(rgb, depth[:, 0])
    with pytest.raises(InferenceInputError, match="differ in batch or image size"):
        backend.infer(rgb[:1], depth)
    with pytest.raises(InferenceInputError, match="multiple of the network stride 32"):
        backend.infer(rgb[..., :100], depth[..., :100])
    with pytest.raises(InferenceInputError, match="divide uint8 colour by 255"):
        backend.infer((rgb * 255).astype(np.uint8), depth)
    with pytest.raises(InferenceInputError, match="must both be numpy arrays or both torch tensors"):
        backend.infer(torch.from_numpy(rgb), depth)


def test_missing_and_corrupt_model_files(model_files, tmp_path):
    with pytest.raises(ModelFileError, match=r"missing\.onnx: model file not found"):
        create_backend("onnxruntime", tmp_path / "missing.onnx")
    garbage_onnx = tmp_path / "garbage.onnx"
    garbage_onnx.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelFileError, match=r"garbage\.onnx: onnxruntime cannot load it"):
        create_backend("onnxruntime", garbage_onnx)
    garbage_pt = tmp_path / "garbage.pt"
    garbage_pt.write_bytes(b"\x80\x04 truncated pickle")
    with pytest.raises(ModelFileError, match=r"garbage\.pt"):
        create_backend("torch", garbage_pt)
    empty = tmp_path / "empty.onnx"
    empty.touch()
    with pytest.raises(ModelFileError, match="file is empty"):
        create_backend("onnxruntime", empty)
    with pytest.raises(ModelFileError, match=r"unknown model file type '\.h5'"):
        create_backend("auto", tmp_path / "net.h5")
    with pytest.raises(BackendError, match=r"torch needs a \.pt model file"):
        create_backend("torch", model_files.static)
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'"):
        create_backend("tensorflow", model_files.dynamic)


def test_foreign_onnx_is_rejected(tmp_path):
    image = onnx.helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 1, 4, 4])
    out = onnx.helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [1, 1, 4, 4])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["image"], ["out"])], "foreign", [image], [out])
    path = tmp_path / "foreign.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ModelFileError, match=r"expected inputs \['rgb', 'depth'\] and output 'completed_depth'"):
        OnnxRuntimeBackend(path)


def test_auto_prefers_onnxruntime_here_and_says_why(model_files, caplog, monkeypatch):
    _uninstall(monkeypatch, "tensorrt")
    with caplog.at_level(logging.INFO, logger="depth_completion_ros.backends"):
        backend = create_backend("auto", model_files.dynamic)
    assert isinstance(backend, OnnxRuntimeBackend)
    skipped = [reason.split(":")[0] for reason in backend.selection_reasons]
    assert skipped == (["tensorrt"] + (["onnxruntime-cuda"] if backend.name == "onnxruntime" else []))
    assert "TensorRT is not importable" in backend.selection_reasons[0]
    assert "backend tensorrt skipped: TensorRT is not importable" in caplog.text


def test_auto_falls_back_to_torch_with_every_reason(monkeypatch):
    _uninstall(monkeypatch, "tensorrt")
    _uninstall(monkeypatch, "onnxruntime")
    # The shipped model comes as ONNX export and checkpoint: without ONNX Runtime, its checkpoint runs.
    backend = create_backend("auto")
    assert isinstance(backend, TorchBackend) and backend.source == resources.default_model_path(kind="pt")
    assert [reason.split(":")[0] for reason in backend.selection_reasons] == list(BACKEND_KINDS[:3])
    assert "onnxruntime is not importable" in backend.selection_reasons[2]


def test_the_given_model_file_is_the_only_one_used(model_files, monkeypatch, tmp_path):
    """A same-named file beside the given one may be another model: it is never picked up."""
    _uninstall(monkeypatch, "tensorrt")
    onnx_path = tmp_path / "model.onnx"
    shutil.copy(model_files.dynamic, onnx_path)
    text_checkpoint = tmp_path / "model.pt"
    text_checkpoint.write_text("these are my notes, not a checkpoint\n")
    assert create_backend("auto", onnx_path).source == onnx_path
    with pytest.raises(ModelFileError, match=re.escape(f"not a model checkpoint: {text_checkpoint}")):
        create_backend("torch", text_checkpoint)
    with pytest.raises(BackendError, match=re.escape(f"torch: not a model checkpoint: {text_checkpoint}")):
        create_backend("auto", text_checkpoint)  # model.onnx beside it stays unused
    _uninstall(monkeypatch, "onnxruntime")
    with pytest.raises(BackendError, match=re.escape(f"torch needs a .pt model file, got {model_files.dynamic}")):
        create_backend("auto", model_files.dynamic)  # net.pt beside it stays unused


def test_auto_takes_tensorrt_first_when_an_engine_loads(model_files, monkeypatch):
    chosen = OnnxRuntimeBackend(model_files.dynamic)
    calls = []

    def cached_engine(onnx_path, precision, cache_dir, device):
        calls.append((Path(onnx_path), precision, cache_dir))
        return chosen

    monkeypatch.setattr(backends.TensorRTBackend, "from_onnx", staticmethod(cached_engine))
    backend = create_backend("auto", model_files.dynamic, precision="fp32")
    assert backend is chosen and backend.selection_reasons == ()
    assert calls == [(model_files.dynamic, "fp32", None)]


def test_auto_without_any_usable_form_lists_all_reasons(model_files, monkeypatch, tmp_path):
    _uninstall(monkeypatch, "tensorrt")
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(b"corrupt")
    with pytest.raises(BackendError) as raised:
        create_backend("auto", lonely)
    message = str(raised.value)
    for kind in BACKEND_KINDS:
        assert f"\n  {kind}: " in message
    assert "onnxruntime cannot load it" in message and "needs a .pt model file" in message


def test_engine_cache_key_follows_version_gpu_precision_and_content(model_files, tmp_path):
    onnx = tmp_path / "net.onnx"
    onnx.write_bytes(model_files.dynamic.read_bytes())
    key = engine_file_name(onnx, "fp16", trt_version="10.3.0", gpu="NVIDIA GeForce RTX 4090")
    assert key.startswith("net.fp16.trt10.3.0.nvidia-geforce-rtx-4090.") and key.endswith(".engine")
    assert key == engine_file_name(onnx, "fp16", trt_version="10.3.0", gpu="NVIDIA GeForce RTX 4090")
    others = {
        engine_file_name(onnx, "fp32", trt_version="10.3.0", gpu="NVIDIA GeForce RTX 4090"),
        engine_file_name(onnx, "fp16", trt_version="10.4.0", gpu="NVIDIA GeForce RTX 4090"),
        engine_file_name(onnx, "fp16", trt_version="10.3.0", gpu="Orin"),
    }
    onnx.write_bytes(model_files.static.read_bytes())
    others.add(engine_file_name(onnx, "fp16", trt_version="10.3.0", gpu="NVIDIA GeForce RTX 4090"))
    assert len(others) == 4 and key not in others
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        engine_file_name(onnx, "int8", trt_version="10.3.0", gpu="Orin")


def test_engine_cache_dirs_and_write_location(monkeypatch, tmp_path):
    onnx = tmp_path / "models" / "net.onnx"
    onnx.parent.mkdir()
    onnx.write_bytes(b"stand-in for an ONNX file")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert engine_cache_dirs(onnx) == [onnx.parent, tmp_path / "xdg" / "depth_completion_ros" / "engines"]
    assert engine_cache_dirs(onnx, tmp_path / "mine") == [tmp_path / "mine"]
    name = engine_file_name(onnx, "fp32", trt_version="10.0.1", gpu="Orin")
    assert engine_cache_path(onnx, "fp32", trt_version="10.0.1", gpu="Orin") == onnx.parent / name
    explicit = engine_cache_path(onnx, "fp32", tmp_path / "mine", trt_version="10.0.1", gpu="Orin")
    assert explicit == tmp_path / "mine" / name


def test_missing_engine_error_prints_the_build_command(model_files, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="10.3.0"))
    monkeypatch.setattr(engine_cache, "gpu_name", lambda device=None: "NVIDIA GeForce RTX 4090")
    with pytest.raises(EngineNotBuiltError) as raised:
        find_cached_engine(model_files.dynamic, "fp16", tmp_path / "cache")
    message = str(raised.value)
    assert "never implicitly" in message
    command = shlex.split(message.split("build it with: ")[1])
    assert command[:2] == ["depth-completion", "build-engine"]  # a console script of every install
    cache = str(tmp_path / "cache")
    assert command[2:] == [str(model_files.dynamic.resolve()), "--precision", "fp16", "--cache-dir", cache]
    # Once the engine is where the builder writes it, the lookup finds it.
    built = engine_cache_path(model_files.dynamic, "fp16", tmp_path / "cache")
    assert built.parent == tmp_path / "cache"
    built.write_bytes(b"engine bytes")
    assert find_cached_engine(model_files.dynamic, "fp16", tmp_path / "cache") == built


def test_shipped_model_lookup_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setattr(resources, "share_dirs", lambda: [tmp_path])
    with pytest.raises(resources.ModelNotFoundError, match=str(tmp_path / "models" / "costdcnet_prior_cpu.onnx")):
        resources.default_model_path()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "costdcnet_prior_cpu.onnx").write_bytes(b"x")
    assert resources.default_model_path() == tmp_path / "models" / "costdcnet_prior_cpu.onnx"
    assert resources.models_dir() == tmp_path / "models"
    with pytest.raises(ValueError, match="unknown model kind 'tflite'"):
        resources.default_model_path(kind="tflite")


def test_without_a_path_the_shipped_model_is_used(model_files, monkeypatch, tmp_path):
    monkeypatch.setattr(resources, "share_dirs", lambda: [tmp_path])
    shipped = r"costdcnet_prior_cpu\.onnx.*costdcnet_prior_cpu\.pt"
    with pytest.raises(ModelFileError, match=rf"no model path given.*{shipped}"):
        create_backend("auto")
    (tmp_path / "models").mkdir()
    shipped = tmp_path / "models" / "costdcnet_prior_cpu.pt"
    shipped.write_bytes(model_files.checkpoint.read_bytes())
    backend = create_backend("auto")
    assert isinstance(backend, TorchBackend) and backend.source == shipped


def _uninstall(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make ``import module`` fail as it does where the package is not installed."""
    monkeypatch.setitem(sys.modules, module, None)


# ---- GPU paths: run only where CUDA (and TensorRT) exist ------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and a CUDA build of PyTorch")


@needs_cuda
def test_torch_backend_keeps_cuda_tensors_on_the_gpu(model_files):
    cpu = TorchBackend.from_checkpoint(model_files.checkpoint, "cpu")
    for fp16, tolerance in ((False, 1e-3), (True, 0.25)):
        gpu = TorchBackend.from_checkpoint(model_files.checkpoint, "cuda", fp16=fp16)
        rgb, depth = synthetic_batch()
        out_depth, out_confidence = gpu.infer(torch.from_numpy(rgb).cuda(), torch.from_numpy(depth).cuda())
        assert out_depth.is_cuda and out_confidence.is_cuda and out_depth.dtype == torch.float32
        np.testing.assert_allclose(out_depth.cpu().numpy(), cpu.infer(rgb, depth)[0], atol=tolerance)


@needs_cuda
def test_onnxruntime_cuda_binds_torch_tensors(model_files):
    try:
        backend = create_backend("onnxruntime-cuda", model_files.dynamic)
    except BackendError as exc:
        pytest.skip(f"onnxruntime CUDA provider unavailable: {exc}")
    rgb, depth = synthetic_batch()
    out_depth, _ = backend.infer(torch.from_numpy(rgb).cuda(), torch.from_numpy(depth).cuda())
    assert out_depth.is_cuda
    np.testing.assert_allclose(out_depth.cpu().numpy(), OnnxRuntimeBackend(model_files.dynamic).infer(rgb, depth)[0],
                               atol=1e-3)


@needs_cuda
def test_tensorrt_engine_matches_onnxruntime(model_files, tmp_path):
    pytest.importorskip("tensorrt", reason="TensorRT 10 Python package not installed")
    from depth_completion_ros.export import build_engine

    engine_path = build_engine(model_files.static, "fp32", cache_dir=tmp_path)
    assert engine_path == find_cached_engine(model_files.static, "fp32", tmp_path)
    backend = create_backend("tensorrt", model_files.static, precision="fp32", engine_cache_dir=tmp_path)
    assert backend.input_size == (WIDTH, HEIGHT)
    rgb, depth = synthetic_batch(batch=3)
    out_depth, out_confidence = backend.infer(torch.from_numpy(rgb).cuda(), torch.from_numpy(depth).cuda())
    assert out_depth.is_cuda and out_confidence.is_cuda and out_depth.shape == (3, 1, HEIGHT, WIDTH)
    reference_depth, _ = OnnxRuntimeBackend(model_files.static).infer(rgb, depth)
    np.testing.assert_allclose(out_depth.cpu().numpy(), reference_depth, atol=1e-3)
    corrupt = tmp_path / "corrupt.engine"
    corrupt.write_bytes(b"\0" * 64)
    with pytest.raises(ModelFileError, match="cannot deserialize"):
        backends.TensorRTBackend(corrupt)

