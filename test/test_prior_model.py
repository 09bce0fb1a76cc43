"""PriorCostDCNet: starts as the classical fill, keeps measured pixels, one model for every frame
size, edge-aware upsampling, clear errors for a bad prior."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from depth_completion_ros.classical import classical_fill
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.holes import hide_regions
from depth_completion_ros.interpolation import midpoint_fill
from depth_completion_ros.model import (
    ModelConfig,
    ModelConfigError,
    PriorCostDCNet,
    apply_correction,
    build_model,
    edge_aware_upsample,
    fuse_for_inference,
    load_checkpoint,
    load_model_config,
    refine_frames,
    refine_usable_frames,
    save_checkpoint,
    to_working_resolution,
    with_config,
    working_size,
)
from depth_completion_ros.model.resolution import (
    _chessboard_distance,
    _dilation_distance,
    guide_image,
    measurement_ramp,
)
from depth_completion_ros.synthetic import generate_sample

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def frame_tensors(rgb: np.ndarray, depth: np.ndarray, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A frame as the pipeline prepares it: extra regions hidden, midpoint pre-pass, classical prior."""
    hidden, _ = hide_regions(depth, np.random.default_rng(seed))
    prefilled = midpoint_fill(hidden)
    prior = classical_fill(prefilled, rgb)
    return (torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0,
            torch.from_numpy(prefilled)[None, None], torch.from_numpy(prior)[None, None])


def trained_looking(seed: int = 0) -> PriorCostDCNet:
    """The CPU config with a random logits layer and batch-norm statistics of a real-looking
    frame (one training-mode pass with momentum 1): corrections of several per cent that vary
    over the image, as after training."""
    torch.manual_seed(seed)
    model = build_model("costdcnet_prior_cpu")
    torch.nn.init.normal_(model.cost_volume.head.weight, std=0.5)
    for module in model.modules():
        if hasattr(module, "running_mean"):
            module.momentum = 1.0
    sample = generate_sample(seed=100 + seed, width=320, height=256)
    with torch.no_grad():
        model.train().predict_full(*frame_tensors(sample.rgb, sample.raw))
    return model.eval()


@pytest.fixture(scope="module")
def untrained() -> PriorCostDCNet:
    torch.manual_seed(0)
    return build_model("costdcnet_prior_cpu").eval()


def real_frames(redkitchen_root, cleargrasp_root) -> list:
    return [load_frame(discover_frames(redkitchen_root)[250]), load_frame(discover_frames(cleargrasp_root)[0])]


def assert_is_prior(model: PriorCostDCNet, rgb: np.ndarray, depth: np.ndarray) -> None:
    inputs = frame_tensors(rgb, depth)
    with torch.no_grad():
        prediction = model.predict_full(*inputs)
    _, prefilled, prior = inputs
    assert torch.equal(prediction.depth, torch.where(prefilled > 0, prefilled, prior))
    assert torch.equal(prediction.working.depth, prediction.inputs.prior)


def test_initial_output_is_the_prior_on_real_frames(untrained, redkitchen_root, cleargrasp_root) -> None:
    for sample in real_frames(redkitchen_root, cleargrasp_root):
        assert_is_prior(untrained, sample.rgb, np.nan_to_num(sample.depth))


def test_initial_output_is_the_prior_on_generated_frames(untrained) -> None:
    for seed, (width, height) in ((1, (640, 480)), (2, (320, 256))):
        sample = generate_sample(seed=seed, width=width, height=height)
        assert_is_prior(untrained, sample.rgb, sample.raw)


def test_observed_pixels_are_kept_and_holes_change() -> None:
    model = trained_looking()
    sample = generate_sample(seed=3, width=640, height=480)
    rgb, depth, prior = frame_tensors(sample.rgb, sample.raw)
    with torch.no_grad():
        prediction = model.predict_full(rgb, depth, prior)
    observed = depth > 0
    assert torch.equal(prediction.depth[observed], depth[observed])
    assert (prediction.confidence[observed] == 1).all()
    holes = ~observed
    assert (prediction.depth[holes] != prior[holes]).float().mean() > 0.5  # the network does act on holes
    ratio = prediction.depth[holes] / prior[holes]
    limit = float(np.exp(model.config.offsets[-1]))
    assert ratio.max() <= limit * 1.0001 and ratio.min() >= 1 / limit / 1.0001


def test_working_size_keeps_aspect_and_area() -> None:
    for width, height in ((640, 480), (1280, 720), (1920, 1080), (480, 640)):
        w, h = working_size(width, height, 320 * 256)
        assert abs(w / h - width / height) < 0.01
        assert abs(w * h - 320 * 256) / (320 * 256) < 0.01
    assert working_size(320, 240, 320 * 256) == (320, 240)  # never upsampled


def test_edge_aware_upsampling_does_not_leak_across_depth_edges() -> None:
    """A correction on the near side of a depth step stays there; bilinear would blur it over."""
    low_h, low_w, scale = 8, 8, 4
    near = torch.zeros(1, 1, low_h, low_w, dtype=torch.bool)
    near[..., : low_w // 2] = True
    values = torch.where(near, torch.tensor(0.2), torch.tensor(0.0))
    guide_low = torch.where(near, torch.tensor(0.0), torch.tensor(1.0))  # log depth: 1 m vs 2.7 m
    full_near = torch.zeros(1, 1, low_h * scale, low_w * scale, dtype=torch.bool)
    full_near[..., : low_w * scale // 2] = True
    guide_full = torch.where(full_near, torch.tensor(0.0), torch.tensor(1.0))

    def upsample(where: torch.Tensor) -> torch.Tensor:
        frame, _, y, x = where.nonzero(as_tuple=True)
        return edge_aware_upsample(values, guide_low, guide_full[frame, :, y, x], (0.05,), (frame, y, x),
                                   (low_h * scale, low_w * scale))[:, 0]

    everywhere = upsample(torch.ones_like(full_near)).view(full_near.shape)
    assert torch.allclose(everywhere[full_near], torch.tensor(0.2), atol=1e-3)
    assert torch.allclose(everywhere[~full_near], torch.tensor(0.0), atol=1e-3)
    only_some = full_near & (torch.rand(full_near.shape) < 0.5)
    assert torch.equal(upsample(only_some), everywhere[only_some])


def dense_upsampling_reference(values: torch.Tensor, guide_low: torch.Tensor, guide_full: torch.Tensor,
                               sigmas: tuple[float, ...]) -> torch.Tensor:
    """The joint bilateral upsampling written plainly over every pixel of the frame, (N, C, H, W):
    the oracle that the hole-pixel implementation must reproduce."""
    (low_h, low_w), (full_h, full_w) = values.shape[-2:], guide_full.shape[-2:]

    def taps(full: int, low: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        position = ((torch.arange(full) + 0.5) * (low / full) - 0.5).clamp(0, low - 1)
        first = position.floor()
        return first.long(), (first.long() + 1).clamp(max=low - 1), position - first

    (row0, row1, row_t), (col0, col1, col_t) = taps(full_h, low_h), taps(full_w, low_w)
    inverse_sigma = torch.tensor([1.0 / s for s in sigmas]).view(1, -1, 1, 1)
    total, weight_sum = torch.zeros(()), torch.zeros(())
    for rows, row_weight in ((row0, 1 - row_t), (row1, row_t)):
        for cols, col_weight in ((col0, 1 - col_t), (col1, col_t)):
            distance = ((guide_low[:, :, rows][..., cols] - guide_full) * inverse_sigma).square().sum(1, keepdim=True)
            weight = (torch.exp(-0.5 * distance) + 1e-4) * (row_weight[:, None] * col_weight[None, :])
            total = total + weight * values[:, :, rows][..., cols]
            weight_sum = weight_sum + weight
    return total / weight_sum


def frames_at_camera_sizes(redkitchen_root, cleargrasp_root) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Real Kinect frames (as captured and enlarged to 1280x720, holes kept by nearest neighbour),
    a RealSense D435 frame at its 1280x720, and a generated one: (name, colour, depth)."""
    import cv2

    kitchen = load_frame(discover_frames(redkitchen_root)[250])
    cleargrasp = load_frame(discover_frames(cleargrasp_root)[0])
    generated = generate_sample(seed=6, width=640, height=480)
    enlarged = (cv2.resize(kitchen.rgb, (1280, 720), interpolation=cv2.INTER_LINEAR),
                cv2.resize(np.nan_to_num(kitchen.depth), (1280, 720), interpolation=cv2.INTER_NEAREST))
    return [("7-Scenes", kitchen.rgb, np.nan_to_num(kitchen.depth)), ("7-Scenes 1280x720", *enlarged),
            ("ClearGrasp D435", cleargrasp.rgb, np.nan_to_num(cleargrasp.depth)),
            ("generated", generated.rgb, generated.raw)]


def test_hole_pixel_frame_path_matches_the_dense_formula(redkitchen_root, cleargrasp_root) -> None:
    """apply_correction computes only the hole pixels, from uint8 (inference) or 0-1 float
    colour (training): the same depth and confidence as the plain whole-frame formula, within
    float32 rounding (relative 1e-5), measured pixels exactly; gradients reach the network."""
    model = trained_looking(seed=6)
    sigmas = model.guide_sigmas
    for name, rgb_u8, raw in frames_at_camera_sizes(redkitchen_root, cleargrasp_root):
        rgb, depth, prior = frame_tensors(rgb_u8, raw)
        colour_u8 = torch.from_numpy(rgb_u8)[None].permute(0, 3, 1, 2)  # how refine_frames passes a frame
        size = model.working_size(depth.shape[-1], depth.shape[-2])
        working = to_working_resolution(rgb, depth, prior, size, model.config.total_stride)
        working_u8 = to_working_resolution(colour_u8, depth, prior, size, model.config.total_stride)
        assert all(torch.equal(a, b) for a, b in zip((working.rgb, working.guide), (working_u8.rgb, working_u8.guide),
                                                      strict=True)), name
        completed = model.predict(working.rgb, working.depth, working.prior)
        correction = torch.log(working.crop(completed.depth) / working.crop(working.prior))
        dense = dense_upsampling_reference(torch.cat([correction, working.crop(completed.confidence)], dim=1),
                                           working.guide, guide_image(rgb, prior), sigmas).detach()
        observed = depth > 0
        expected_depth = torch.where(observed, depth, prior * torch.exp(dense[:, :1]))
        expected_confidence = torch.where(observed, torch.ones_like(depth), dense[:, 1:])
        for colour in (rgb, colour_u8):
            refined, confidence = apply_correction(working, completed.depth, completed.confidence, colour, depth,
                                                   prior, sigmas)
            assert torch.equal(refined[observed], depth[observed]), name
            assert torch.allclose(refined, expected_depth, rtol=1e-5, atol=0), name
            assert torch.allclose(confidence, expected_confidence, rtol=1e-5, atol=1e-6), name
        refined.sum().backward()
        gradient = next(model.cost_volume.head.parameters()).grad
        assert gradient is not None and gradient.abs().sum() > 0, name
        model.zero_grad()


def test_measurement_ramp_rises_with_distance_from_measured_cells() -> None:
    """0 at a measured working cell, min(distance, cells) / cells beyond (chessboard distance),
    all ones without a ramp: the correction is full only well inside a hole."""
    depth = torch.zeros(1, 1, 12, 20)
    depth[0, 0, 5, 3] = 1.5  # one measured cell
    rows, cols = torch.meshgrid(torch.arange(12), torch.arange(20), indexing="ij")
    distance = torch.maximum((rows - 5).abs(), (cols - 3).abs()).float()
    for cells in (1, 4, 8):
        assert torch.equal(measurement_ramp(depth, cells)[0, 0], distance.clamp(max=cells) / cells), cells
    assert torch.equal(measurement_ramp(depth, 0), torch.ones_like(depth))
    assert torch.equal(measurement_ramp(torch.ones(1, 1, 4, 4), 8), torch.zeros(1, 1, 4, 4))  # fully measured
    # The CPU transform (OpenCV) and the dilations other devices run agree on sparse and dense masks.
    for fraction in (0.01, 0.3, 0.9):
        measured = torch.rand(2, 1, 48, 64, generator=torch.Generator().manual_seed(3)) < fraction
        assert torch.equal(_chessboard_distance(measured).clamp(max=8), _dilation_distance(measured, 8)), fraction


def test_ramp_scales_the_correction_before_the_upsampling_on_real_frames(redkitchen_root, cleargrasp_root) -> None:
    """With ``correction_ramp_cells`` the frame path is the dense formula applied to the working
    correction times the ramp; hole pixels next to a measurement move far less than without the
    ramp, and where every neighbouring cell is ``cells`` away or more nothing changes."""
    model = trained_looking(seed=6)
    cells = model.config.correction_ramp_cells
    assert cells > 0  # the packaged config ramps
    for name, rgb_u8, raw in frames_at_camera_sizes(redkitchen_root, cleargrasp_root):
        rgb, depth, prior = frame_tensors(rgb_u8, raw)
        working = to_working_resolution(rgb, depth, prior, model.working_size(depth.shape[-1], depth.shape[-2]),
                                        model.config.total_stride)
        with torch.no_grad():
            completed = model.predict(working.rgb, working.depth, working.prior)
            ramp = measurement_ramp(working.crop(working.depth), cells)
            correction = torch.log(working.crop(completed.depth) / working.crop(working.prior))
            dense = dense_upsampling_reference(correction * ramp, working.guide, guide_image(rgb, prior),
                                               model.guide_sigmas)
            ramped, _ = apply_correction(working, completed.depth, completed.confidence, rgb, depth, prior,
                                         model.guide_sigmas, cells)
            plain, _ = apply_correction(working, completed.depth, completed.confidence, rgb, depth, prior,
                                        model.guide_sigmas)
        holes = depth == 0
        assert torch.allclose(ramped, torch.where(holes, prior * torch.exp(dense), depth), rtol=1e-5, atol=0), name
        # hole pixels with a measured 4-neighbour: corrections at most half of the unramped ones
        measured = (~holes).float()
        edge = holes & (torch.nn.functional.max_pool2d(measured, 3, stride=1, padding=1) > 0)
        moved = {key: (value[edge] / prior[edge]).log().abs().mean() for key, value in
                 (("ramped", ramped), ("plain", plain))}
        assert moved["ramped"] < 0.5 * moved["plain"], (name, moved)
        full = torch.nn.functional.interpolate(ramp, size=depth.shape[-2:], mode="nearest") == 1
        inside = holes & (-torch.nn.functional.max_pool2d(-full.float(), 9, stride=1, padding=4) > 0)
        assert inside.any() and torch.allclose(ramped[inside], plain[inside], rtol=1e-5, atol=0), name


def test_fused_inference_form_computes_the_trained_function_on_real_frames(redkitchen_root, cleargrasp_root) -> None:
    """fuse_for_inference (folded batch norms, sub-pixel up blocks, per-offset site gathers) is a
    rewrite of the same function: on real frames at their own working size and at 256x160, working
    depth, confidence and offset probabilities and the frame-sized depth agree within float32
    rounding (measured: depth <= 1e-6 m, confidence and probabilities <= 6e-6; asserted 1e-5 m
    and 1e-5). The trained model and the random stream are untouched."""
    model = trained_looking(seed=7)
    weights = {key: value.clone() for key, value in model.state_dict().items()}
    random_state = torch.random.get_rng_state()
    fused = fuse_for_inference(model)
    assert torch.equal(torch.random.get_rng_state(), random_state)  # the caller's random stream is untouched
    for name, rgb_u8, raw in frames_at_camera_sizes(redkitchen_root, cleargrasp_root):
        inputs = frame_tensors(rgb_u8, raw)
        for size in (None, (256, 160)):
            with torch.no_grad():
                expected, actual = (network.predict_full(*inputs, size=size) for network in (model, fused))
            for field in ("depth", "confidence", "probabilities"):
                torch.testing.assert_close(getattr(actual.working, field), getattr(expected.working, field),
                                           atol=1e-5, rtol=0, msg=f"{name} {size} {field}")
            torch.testing.assert_close(actual.depth, expected.depth, atol=1e-5, rtol=0, msg=f"{name} {size}")
    state = model.state_dict()
    assert state.keys() == weights.keys() and all(torch.equal(state[key], weights[key]) for key in weights)
    assert not model.training and not fused.training
    with pytest.raises(RuntimeError, match="inference-only"):
        fused.train()


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        (None, "refines a prior depth"),
        (torch.full((1, 1, 64, 96), float("nan")), "NaN or inf"),
        (torch.zeros(1, 1, 64, 96), "pixels <= 0"),
        (torch.ones(1, 1, 32, 96), "prior has shape"),
    ],
)
def test_bad_prior_gives_a_clear_error(untrained, prior, message) -> None:
    rgb, depth = torch.rand(1, 3, 64, 96), torch.rand(1, 1, 64, 96) + 0.5
    with pytest.raises(ValueError, match=message):
        untrained.predict_full(rgb, depth, prior)
    numpy_prior = None if prior is None else prior[:, 0].numpy()
    with pytest.raises(ValueError, match=message):
        refine_frames(lambda *inputs: untrained(*inputs), untrained.config, np.zeros((1, 64, 96, 3), np.uint8),
                      depth[:, 0].numpy(), numpy_prior)


def test_refine_frames_is_predict_full(generated_kitchen) -> None:
    """The library's frame path around any backend computes what training computes."""
    model = trained_looking(seed=2)
    sample = load_frame(discover_frames(generated_kitchen)[2])
    rgb, depth, prior = frame_tensors(sample.rgb, sample.depth)
    with torch.no_grad():
        expected = model.predict_full(rgb, depth, prior)
        refined, confidence = refine_frames(lambda *inputs: model(*inputs), model.config, sample.rgb[None],
                                            depth[:, 0].numpy(), prior[:, 0].numpy())
    assert torch.allclose(refined, expected.depth[:, 0], atol=1e-5)
    assert torch.allclose(confidence, expected.confidence[:, 0], atol=1e-5)
    # Colour decoded without a copy is a read-only view of the message buffer: same result, no warning.
    read_only = sample.rgb[None].copy()
    read_only.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad():
            again, _ = refine_frames(lambda *inputs: model(*inputs), model.config, read_only,
                                     depth[:, 0].numpy(), prior[:, 0].numpy())
    assert torch.equal(again, refined)


def test_prior_config_validation_and_checkpoint_round_trip(tmp_path) -> None:
    config = load_model_config("costdcnet_prior_cpu")
    assert config.anchor == "prior" and config.num_planes == 2 * len(config.offsets)
    with pytest.raises(ModelConfigError, match="2 x len"):
        config.replace(offsets=(0.01, 0.02))
    with pytest.raises(ModelConfigError, match="strictly increasing"):
        config.replace(offsets=(0.01, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64))
    with pytest.raises(ModelConfigError, match="only used with anchor: prior"):
        ModelConfig(offsets=(0.1,))
    with pytest.raises(ModelConfigError, match="correction_ramp_cells must be >= 0"):
        config.replace(correction_ramp_cells=-1)
    model = trained_looking()
    loaded, meta = load_checkpoint(save_checkpoint(tmp_path / "prior.pt", model, steps=3))
    assert isinstance(loaded, PriorCostDCNet) and loaded.config == config and meta == {"steps": 3}
    inputs = (torch.rand(1, 3, 64, 96), torch.rand(1, 1, 64, 96) * 3, torch.rand(1, 1, 64, 96) * 3 + 0.2)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(*inputs), loaded(*inputs), strict=True))


def test_frames_without_a_usable_prior_keep_it_with_zero_confidence() -> None:
    """A blank frame (no valid depth: the classical fill is empty) in a batch does not stop the others."""
    model = trained_looking(seed=3)
    sample = generate_sample(seed=5, width=320, height=256)
    rgb, depth, prior = frame_tensors(sample.rgb, sample.raw)
    colours = np.stack([sample.rgb, sample.rgb])
    depths = torch.cat([depth, torch.zeros_like(depth)])[:, 0]
    priors = torch.cat([prior, torch.zeros_like(prior)])[:, 0]
    with torch.no_grad():
        refined, confidence = refine_usable_frames(
            lambda *inputs: model(*inputs), model.config, colours, depths, priors
        )
        expected = model.predict_full(rgb, depth, prior)
    assert torch.allclose(refined[0], expected.depth[0, 0], atol=1e-5)
    assert (refined[1] == 0).all() and (confidence[1] == 0).all()


def test_backends_take_the_prior_and_match_pytorch(tmp_path, generated_kitchen) -> None:
    """The ONNX Runtime backend runs the exported graph inside refine_frames: the frame's depth
    agrees with PyTorch's predict_full within 1 mm; a backend is told clearly what it lacks."""
    from depth_completion_ros.backends import InferenceInputError, OnnxRuntimeBackend, TorchBackend
    from depth_completion_ros.export import export_onnx

    model = trained_looking(seed=4)
    backend = OnnxRuntimeBackend(export_onnx(model, tmp_path / "prior.onnx", dynamic=True))
    assert backend.refines_prior and backend.config == model.config
    sample = load_frame(discover_frames(generated_kitchen)[3])
    rgb, depth, prior = frame_tensors(sample.rgb, sample.depth)
    with torch.no_grad():
        expected = model.predict_full(rgb, depth, prior).depth[:, 0]
    refined, _ = refine_frames(
        backend.infer, backend.config, sample.rgb[None], depth[:, 0].numpy(), prior[:, 0].numpy()
    )
    assert (refined - expected).abs().max() <= 1e-3
    assert (refined != prior[:, 0]).float().mean() > 0.05  # the network changed the holes
    working = torch.rand(1, 3, 64, 96), torch.rand(1, 1, 64, 96) + 0.5
    with pytest.raises(InferenceInputError, match="refines a prior depth"):
        backend.infer(*working)
    with pytest.raises(InferenceInputError, match="takes no prior"):
        TorchBackend(build_model("costdcnet_cpu")).infer(*working, working[1])


def test_depth_completer_runs_the_prior_model_on_its_classical_fill(untrained, generated_kitchen) -> None:
    """Through the one DepthCompleter path: the untrained model is the classical method exactly;
    a trained-looking one changes holes only, and a blank frame in the batch stays blank."""
    from depth_completion_ros.backends import TorchBackend
    from depth_completion_ros.pipeline import DepthCompleter

    sample = load_frame(discover_frames(generated_kitchen)[4])
    classical = DepthCompleter(method="classical").complete(sample.depth, sample.rgb).depth
    untouched = DepthCompleter(method="model", backend=TorchBackend(untrained)).complete(sample.depth, sample.rgb)
    assert np.array_equal(untouched.depth, classical)
    completer = DepthCompleter(method="model", backend=TorchBackend(trained_looking(seed=5)))
    assert "working resolution" in completer.describe()
    batch = completer.complete(np.stack([sample.depth, np.zeros_like(sample.depth)]), np.stack([sample.rgb] * 2))
    observed = sample.depth > 0
    assert np.array_equal(batch.depth[0][observed], sample.depth[observed])
    assert (batch.depth[0][~observed] != classical[~observed]).mean() > 0.05
    assert (batch.depth[1] == 0).all() and (batch.confidence[1] == 0).all()


def test_same_scene_at_two_resolutions_gives_consistent_depth() -> None:
    """A frame and its 2x upscale share the working resolution, so the shipped model sees the same
    input and the depth it adds agrees. (The inputs are upscaled after the midpoint pre-pass and
    the classical fill, which work in pixels and are not the model's to keep consistent.) A
    randomly initialised network is no test of this: its features are so sensitive that the
    0.01 % difference between the two area-averaged priors changes its output completely.
    The network and upsampling are checked without the correction ramp; the ramp, computed from
    the same working inputs at both sizes, is identical and only makes the two agree more."""
    from pathlib import Path

    shipped, _ = load_checkpoint(Path(__file__).resolve().parents[1] / "models" / "costdcnet_prior_cpu.pt")
    sample = generate_sample(seed=4, width=640, height=480)
    rgb, depth, prior = frame_tensors(sample.rgb, sample.raw)
    holes = depth[0, 0] == 0
    differences = {}
    for cells in (0, shipped.config.correction_ramp_cells):
        model = with_config(shipped, shipped.config.replace(correction_ramp_cells=cells))
        corrections, ramps = [], []
        for factor in (1, 2):
            assert working_size(640 * factor, 480 * factor, model.config.working_area) == (330, 248)
            inputs = [torch.nn.functional.interpolate(t, scale_factor=factor, mode="nearest")
                      for t in (rgb, depth, prior)]
            with torch.no_grad():
                prediction = model.predict_full(*inputs)
            ramps.append(measurement_ramp(prediction.inputs.crop(prediction.inputs.depth), cells))
            corrections.append(torch.log(prediction.depth / inputs[2])[0, 0, ::factor, ::factor])
        assert torch.equal(ramps[0], ramps[1])
        differences[cells] = (corrections[0] - corrections[1]).abs()[holes]
        if cells == 0:
            scale = corrections[0].abs()[holes].median()
            assert scale > 1e-3  # the shipped model does correct the holes
            assert differences[0].median() < 0.1 * scale and differences[0].quantile(0.95) < 0.5 * scale
    ramped = differences[shipped.config.correction_ramp_cells]
    assert ramped.median() <= differences[0].median() and ramped.quantile(0.95) <= differences[0].quantile(0.95)
