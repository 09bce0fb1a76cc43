"""DepthCompleter on generated Kinect-like frames: observed pixels kept, every pixel filled, sizes,
batches, types, masking."""
from __future__ import annotations

import copy
import time

import numpy as np
import pytest
import torch

from depth_completion_ros.backends import OnnxRuntimeBackend, TorchBackend
from depth_completion_ros.classical import classical_fill
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.depth_io import sanitize_depth
from depth_completion_ros.export import export_onnx
from depth_completion_ros.geometry import fit_box, resize_color, resize_depth
from depth_completion_ros.model import build_model
from depth_completion_ros.pipeline import DepthCompleter
from training.checks import FLAT_WALL_TOLERANCE_M, flat_wall_hole_error

#: Network input of the test model: small enough for a 2-core CPU, 4:3 like the Kinect frames.
MODEL_SIZE = (128, 96)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("costdcnet_cpu").eval()


@pytest.fixture(scope="module")
def torch_backend(network) -> TorchBackend:
    return TorchBackend(network, "cpu", model_size=MODEL_SIZE)


@pytest.fixture(scope="module")
def kitchen(generated_kitchen) -> tuple[np.ndarray, np.ndarray]:
    """Two generated 640x480 Kinect-like frames: depth (2, H, W) metres, rgb (2, H, W, 3)."""
    samples = [load_frame(frame) for frame in discover_frames(generated_kitchen)[:2]]
    return np.stack([s.depth for s in samples]), np.stack([s.rgb for s in samples])


@pytest.fixture(scope="module")
def small_kitchen(kitchen) -> tuple[np.ndarray, np.ndarray]:
    """The same frames at 200x150: neither 5:4 nor a multiple of the network stride."""
    depth, rgb = kitchen
    return resize_depth(depth, 200, 150), np.stack([resize_color(frame, 200, 150) for frame in rgb])


def assert_observed_kept_and_all_filled(result_depth: np.ndarray, raw: np.ndarray) -> None:
    assert result_depth.shape == raw.shape and result_depth.dtype == np.float32
    observed = raw > 0
    np.testing.assert_array_equal(result_depth[observed], raw[observed])
    assert np.all(np.isfinite(result_depth)) and np.all(result_depth > 0), "every pixel must be filled"


@pytest.mark.parametrize("fit", ["crop", "resize", "full"])
def test_model_keeps_observed_pixels_and_fills_the_rest(torch_backend, small_kitchen, fit):
    depth, rgb = small_kitchen
    assert (depth == 0).mean() > 0.05, "the real frames have holes"
    result = DepthCompleter("model", backend=torch_backend, fit=fit).complete(depth, rgb)
    assert_observed_kept_and_all_filled(result.depth, depth)
    assert result.confidence.shape == depth.shape
    np.testing.assert_array_equal(result.confidence[depth > 0], 1.0)
    fills = result.confidence[depth == 0]
    assert np.all((fills >= 0) & (fills <= 1))
    stages = {"sanitize", "interpolate", "fit", "infer", "restore", "merge", "total"}
    assert stages <= set(result.timings) and all(ms >= 0 for ms in result.timings.values())


def test_crop_fills_outside_the_model_view_classically(torch_backend, kitchen):
    depth, rgb = kitchen
    completer = DepthCompleter("model", backend=torch_backend, fit="crop", interpolate=False)
    result = completer.complete(depth[0], rgb[0])
    assert_observed_kept_and_all_filled(result.depth, depth[0])
    x, y, w, h = fit_box(640, 480, MODEL_SIZE[0] / MODEL_SIZE[1])
    assert (x, y, w, h) == (0, 0, 640, 480), "4:3 frame, 4:3 model: the crop is the whole frame"
    wide = DepthCompleter("model", backend=TorchBackend(torch_backend.model, "cpu", model_size=(96, 96)),
                          fit="crop", interpolate=False)
    result = wide.complete(depth[0], rgb[0])
    assert_observed_kept_and_all_filled(result.depth, depth[0])
    x, y, w, h = fit_box(640, 480, 1.0)
    outside = np.ones((480, 640), bool)
    outside[y : y + h, x : x + w] = False
    holes_outside = outside & (depth[0] == 0)
    assert holes_outside.any()
    classical = classical_fill(depth[0], rgb[0])
    np.testing.assert_array_equal(result.depth[holes_outside], classical[holes_outside])
    np.testing.assert_array_equal(result.confidence[holes_outside], 0.0)
    assert "classical" in result.timings


def test_batch_equals_single_frames(torch_backend, small_kitchen):
    depth, rgb = small_kitchen
    completer = DepthCompleter("model", backend=torch_backend, fit="crop")
    batch = completer.complete(depth, rgb)
    for index in range(len(depth)):
        single = completer.complete(depth[index], rgb[index])
        assert single.depth.shape == depth[index].shape
        np.testing.assert_allclose(batch.depth[index], single.depth, atol=1e-5)
        np.testing.assert_allclose(batch.confidence[index], single.confidence, atol=1e-5)


def test_torch_in_torch_out(torch_backend, small_kitchen):
    depth, rgb = small_kitchen
    completer = DepthCompleter("model", backend=torch_backend)
    expected = completer.complete(depth, rgb)
    result = completer.complete(torch.from_numpy(depth), torch.from_numpy(rgb))
    assert isinstance(result.depth, torch.Tensor) and result.depth.dtype == torch.float32
    assert isinstance(result.confidence, torch.Tensor) and result.depth.device.type == "cpu"
    np.testing.assert_allclose(result.depth.numpy(), expected.depth, atol=1e-5)
    classical = DepthCompleter("classical").complete(torch.from_numpy(depth[0]))
    assert isinstance(classical.depth, torch.Tensor) and classical.depth.shape == depth[0].shape


def test_numpy_and_tensor_paths_feed_the_network_alike(network, small_kitchen, tmp_path):
    """ONNX Runtime (CPU) gets numpy/OpenCV fitting, PyTorch gets torch fitting: same result."""
    depth, rgb = small_kitchen
    onnx_path = export_onnx(network, tmp_path / "net.onnx", MODEL_SIZE[1], MODEL_SIZE[0], batch=2)
    numpy_path = DepthCompleter("model", backend=OnnxRuntimeBackend(onnx_path), fit="crop").complete(depth, rgb)
    tensor_path = DepthCompleter("model", backend=TorchBackend(network, "cpu", model_size=MODEL_SIZE),
                                 fit="crop").complete(depth, rgb)
    holes = depth == 0
    # Colour resized by OpenCV and by torch may differ by one grey level; the fills must not.
    assert np.abs(numpy_path.depth - tensor_path.depth)[holes].max() < 1e-3
    np.testing.assert_array_equal(numpy_path.depth[~holes], tensor_path.depth[~holes])


def test_confidence_threshold_masks_uncertain_fills_only(torch_backend, small_kitchen):
    depth, rgb = small_kitchen
    unmasked = DepthCompleter("model", backend=torch_backend).complete(depth, rgb)
    threshold = float(np.median(unmasked.confidence[depth == 0]))
    masked = DepthCompleter("model", backend=torch_backend, confidence_threshold=threshold).complete(depth, rgb)
    np.testing.assert_array_equal(masked.confidence, unmasked.confidence)
    uncertain = unmasked.confidence < threshold
    assert uncertain.any() and (~uncertain & (depth == 0)).any()
    np.testing.assert_array_equal(masked.depth[uncertain], 0.0)
    np.testing.assert_array_equal(masked.depth[~uncertain], unmasked.depth[~uncertain])
    everything = DepthCompleter("model", backend=torch_backend, confidence_threshold=1.0).complete(depth, rgb)
    np.testing.assert_array_equal(everything.depth[depth > 0], depth[depth > 0])


@pytest.mark.parametrize("model_size", [MODEL_SIZE, (96, 96)], ids=["whole-frame", "crop"])
def test_low_confidence_classical_is_a_hybrid_of_model_and_classical_fill(network, small_kitchen, model_size):
    """Below the threshold the classical fill, above it the model; the crop case also has the
    classical region outside the network's view (confidence 0), which must stay classical."""
    depth, rgb = small_kitchen
    backend = TorchBackend(network, "cpu", model_size=model_size)
    model = DepthCompleter("model", backend=backend).complete(depth, rgb)
    classical = DepthCompleter("classical").complete(depth, rgb)
    threshold = float(np.median(model.confidence[depth == 0]))
    hybrid = DepthCompleter("model", backend=backend, confidence_threshold=threshold,
                            low_confidence="classical").complete(depth, rgb)
    assert_observed_kept_and_all_filled(hybrid.depth, depth)
    np.testing.assert_array_equal(hybrid.confidence, model.confidence)
    uncertain = model.confidence < threshold
    assert uncertain.any() and (~uncertain & (depth == 0)).any()
    assert not np.array_equal(model.depth[uncertain], classical.depth[uncertain]), "the two fills differ there"
    np.testing.assert_array_equal(hybrid.depth[uncertain], classical.depth[uncertain])
    np.testing.assert_array_equal(hybrid.depth[~uncertain], model.depth[~uncertain])
    assert "classical" in hybrid.timings


def test_classical_and_interp_methods(kitchen):
    depth, rgb = kitchen
    classical = DepthCompleter("classical").complete(depth, rgb)
    assert_observed_kept_and_all_filled(classical.depth, depth)
    assert classical.confidence is None and "classical" in classical.timings
    interp = DepthCompleter("interp").complete(depth)
    np.testing.assert_array_equal(interp.depth[depth > 0], depth[depth > 0])
    newly_filled = (depth == 0) & (interp.depth > 0)
    assert newly_filled.any(), "the midpoint pass fills small gaps"
    assert (interp.depth == 0).any(), "but not the large holes"
    without_pass = DepthCompleter("interp", interpolate=False).complete(depth)
    np.testing.assert_array_equal(without_pass.depth, depth)


def test_invalid_depth_values_are_holes(kitchen):
    depth, _ = kitchen
    frame = depth[0]
    completer = DepthCompleter("classical")
    reference = completer.complete(frame).depth
    dirty = frame.copy()
    holes = np.flatnonzero(frame == 0)
    dirty.flat[holes[0::3]], dirty.flat[holes[1::3]], dirty.flat[holes[2::3]] = np.nan, np.inf, -1.0
    np.testing.assert_array_equal(completer.complete(dirty).depth, reference)
    near = (frame > 0) & (frame < 1.0)
    assert near.any()
    ranged = DepthCompleter("classical", min_depth=1.0).complete(frame)
    assert np.all(ranged.depth > 0)
    assert not np.array_equal(ranged.depth[near], frame[near]), "depths below min_depth are refilled, not kept"


@pytest.mark.parametrize("method", ["classical", "interp", "model"])
@pytest.mark.parametrize("interpolate", [True, False])
def test_sanitized_input_skips_the_pass_and_completes_the_same(torch_backend, small_kitchen, method, interpolate):
    """What a node decodes (already sanitised with the completer's range) completes exactly as the raw
    frame does, and the caller's array is left as it was."""
    depth, rgb = small_kitchen
    dirty = depth.copy()
    holes = np.flatnonzero(depth == 0)
    dirty.flat[holes[0::3]], dirty.flat[holes[1::3]], dirty.flat[holes[2::3]] = np.nan, np.inf, -1.0
    dirty[depth > 3.0] = 1e6  # beyond max_depth
    backend = torch_backend if method == "model" else None
    completer = DepthCompleter(method, backend=backend, interpolate=interpolate, min_depth=0.6, max_depth=4.0)
    decoded = sanitize_depth(dirty, min_depth=0.6, max_depth=4.0)
    untouched = decoded.copy()
    for frames, colors in ((dirty, rgb), (dirty[0], rgb[0])):
        expected = completer.complete(frames, colors)
        skipped = completer.complete(decoded if frames.ndim == 3 else decoded[0], colors, sanitized=True)
        np.testing.assert_array_equal(skipped.depth, expected.depth)
        assert "sanitize" in expected.timings and "sanitize" not in skipped.timings
        assert not np.shares_memory(skipped.depth, decoded)
    np.testing.assert_array_equal(decoded, untouched)


@pytest.mark.parametrize("method", ["classical", "interp", "model", "prior_model"])
def test_stages_interleaved_complete_each_frame_as_complete_does(torch_backend, small_kitchen, method):
    """The node prepares frame n + 2 while the network fills frame n + 1 and frame n is finished:
    the stages, interleaved like that, give exactly what complete() gives, and the waits between
    them are not counted in ``total``."""
    depth, rgb = small_kitchen
    frames = [(depth[index], rgb[index]) for index in (0, 1, 0)]
    if method == "prior_model":  # the shipped model: prepare() makes its classical prior
        completer = DepthCompleter("model")
    else:
        completer = DepthCompleter(method, backend=torch_backend if method == "model" else None)
    expected = [completer.complete(*frame) for frame in frames]
    waited_ms = 100.0
    prepared = [completer.prepare(*frame) for frame in frames]
    time.sleep(waited_ms / 1000.0)
    filled = [completer.fill(work) for work in prepared]
    time.sleep(waited_ms / 1000.0)
    results = [completer.finish(work) for work in reversed(filled)][::-1]
    for result, reference in zip(results, expected, strict=True):
        np.testing.assert_array_equal(result.depth, reference.depth)
        if reference.confidence is None:
            assert result.confidence is None
        else:
            np.testing.assert_array_equal(result.confidence, reference.confidence)
        assert set(result.timings) == set(reference.timings)
        stages_ms = sum(ms for name, ms in result.timings.items() if name != "total")
        assert stages_ms <= result.timings["total"] < stages_ms + waited_ms  # counted, the waits would be 2x that
    if method == "prior_model":
        assert prepared[0].classical is not None
        assert {"working inputs", "infer", "correction"} <= set(results[0].timings)
    with pytest.raises(ValueError, match="went through fill"):
        completer.finish(completer.prepare(*frames[0]))


def test_bad_inputs_and_settings_are_named(torch_backend, small_kitchen, tmp_path, network):
    depth, rgb = small_kitchen
    completer = DepthCompleter("model", backend=torch_backend)
    with pytest.raises(ValueError, match="needs the RGB image"):
        completer.complete(depth)
    with pytest.raises(ValueError, match=r"rgb must have shape \(2, 150, 200, 3\)"):
        completer.complete(depth, rgb[0])
    with pytest.raises(TypeError, match="rgb must be uint8"):
        completer.complete(depth, rgb.astype(np.float32))
    with pytest.raises(TypeError, match="depth must be float metres, got uint16"):
        completer.complete((depth * 1000).astype(np.uint16), rgb)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(B, H, W\)"):
        completer.complete(depth[None], rgb[None])
    with pytest.raises(TypeError, match="numpy array or torch tensor"):
        completer.complete(depth.tolist(), rgb)
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        DepthCompleter("magic")
    with pytest.raises(ValueError, match="unknown fit 'stretch'"):
        DepthCompleter("classical", fit="stretch")
    with pytest.raises(ValueError, match=r"confidence_threshold must be in \[0, 1\]"):
        DepthCompleter("classical", confidence_threshold=1.5)
    with pytest.raises(ValueError, match="unknown low_confidence 'guess'"):
        DepthCompleter("classical", low_confidence="guess")
    static = export_onnx(network, tmp_path / "static.onnx", MODEL_SIZE[1], MODEL_SIZE[0])
    with pytest.raises(ValueError, match=r"fit='full'.*takes 128x96 only"):
        DepthCompleter("model", backend="onnxruntime", model_path=static, fit="full")


def test_describe_names_method_backend_and_fit(torch_backend):
    text = DepthCompleter("model", backend=torch_backend, fit="resize", confidence_threshold=0.3).describe()
    assert "method=model" in text and "fit=resize" in text and "torch on cpu" in text and "0.3 (below: hole)" in text
    hybrid = DepthCompleter("model", backend=torch_backend, confidence_threshold=0.5, low_confidence="classical")
    assert "confidence_threshold=0.5 (below: classical)" in hybrid.describe()
    assert DepthCompleter("classical").describe() == "method=classical, interpolation=on"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and a CUDA build of PyTorch")
def test_cuda_frames_stay_on_the_gpu(network, small_kitchen):
    depth, rgb = small_kitchen
    gpu_backend = TorchBackend(copy.deepcopy(network), "cuda", model_size=MODEL_SIZE)
    completer = DepthCompleter("model", backend=gpu_backend, fit="crop")
    result = completer.complete(torch.from_numpy(depth).cuda(), torch.from_numpy(rgb).cuda())
    assert result.depth.is_cuda and result.confidence.is_cuda
    cpu = DepthCompleter("model", backend=TorchBackend(network, "cpu", model_size=MODEL_SIZE)).complete(depth, rgb)
    np.testing.assert_allclose(result.depth.cpu().numpy(), cpu.depth, atol=1e-2)
    assert_observed_kept_and_all_filled(result.depth.cpu().numpy(), depth)



def test_shipped_model_fills_a_small_hole_near_its_surroundings():
    """A 3x3 hole in a 1 m wall: the previous absolute-plane model filled it with 3.5 m; the
    shipped prior-refining model stays at the classical fill's depth (within 5 cm), the check
    training.release makes before it ships a checkpoint."""
    assert flat_wall_hole_error(DepthCompleter(method="model")) < FLAT_WALL_TOLERANCE_M
