"""CostDCNet: configs, sparse-aware vs dense 3D encoder, plane handling, outputs, checkpoints."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.geometry import resize_color, resize_depth
from depth_completion_ros.model import (
    CheckpointError,
    CostDCNet,
    ModelConfig,
    ModelConfigError,
    available_configs,
    build_model,
    depth_to_planes,
    fuse_for_inference,
    load_checkpoint,
    load_model_config,
    placement_weights,
    plane_confidence,
    save_checkpoint,
)
from depth_completion_ros.model.fused import pixel_shuffle_x2, subpixel_kernel
from depth_completion_ros.model.layers import (
    MaskedBatchNorm,
    PlaneSites,
    PseudoConv3dBlock,
    SiteConv3d,
    cell_histogram,
    max_pool_volume,
    plane_one_hot,
    sites_from_histogram,
    upsample_volume,
)

# Every stage of the real configs, at a size that runs in milliseconds (total stride 8).
TINY = ModelConfig(
    name="tiny",
    num_planes=8,
    max_depth=4.0,
    feature_channels=4,
    encoder2d_widths=(8, 8, 8),
    encoder2d_blocks=1,
    encoder3d_widths=(4, 6, 8),
    unet_widths=(8, 8),
)


def random_inputs(batch: int, height: int, width: int, max_depth: float, hole_fraction: float = 0.4, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    rgb = torch.rand(batch, 3, height, width, generator=generator)
    depth = torch.rand(batch, 1, height, width, generator=generator) * max_depth * 1.2
    depth[torch.rand(depth.shape, generator=generator) < hole_fraction] = 0.0
    return rgb, depth


def randomise_batch_norm(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial running statistics and affine parameters, so eval-mode comparisons mean something."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (MaskedBatchNorm, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            channels = module.running_mean.numel()
            module.running_mean.copy_(torch.rand(channels, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(channels, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(channels, generator=generator) - 0.5)


def sparse_and_dense(config: ModelConfig) -> tuple[CostDCNet, CostDCNet]:
    torch.manual_seed(0)
    sparse = build_model(config.replace(encoder3d="sparse"))
    randomise_batch_norm(sparse)
    dense = build_model(config.replace(encoder3d="dense"))
    dense.load_state_dict(sparse.state_dict())
    return sparse, dense


# --- configs -------------------------------------------------------------------------------


def test_packaged_configs_load_and_build() -> None:
    assert {"costdcnet_faithful", "costdcnet_cpu", "costdcnet_naive"} <= set(available_configs())
    faithful = load_model_config("costdcnet_faithful")
    assert (faithful.num_planes, faithful.max_depth, faithful.encoder3d) == (16, 10.0, "sparse")
    assert faithful.encoder2d_widths == (64, 96, 128) and faithful.unet_widths == (32, 48, 64, 80)
    naive = load_model_config("costdcnet_naive")
    assert naive.replace(encoder3d="sparse", name=faithful.name, description="") == faithful
    for name in ("costdcnet_faithful", "costdcnet_cpu"):
        model = build_model(name)
        assert model.config.name == name and model.config.total_stride == 32


def test_config_round_trip_and_yaml_path(tmp_path) -> None:
    assert ModelConfig.from_dict(TINY.to_dict()) == TINY
    path = tmp_path / "mine.yaml"
    path.write_text("num_planes: 8\nunet_widths: [8, 8]\nfeature_channels: 4\n")
    config = load_model_config(path)
    assert config.name == "mine" and config.num_planes == 8 and config.unet_widths == (8, 8)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"encoder3d": "minkowski"}, "encoder3d must be one of"),
        ({"encoder2d_widths": (8, 8)}, "encoder2d reduces the image 2x"),
        ({"num_planes": 12}, "multiple of 8"),
        ({"max_depth": 0.0}, "min_depth < max_depth"),
        ({"encoder3d_stem_stride": 3}, "must be 1 or 2"),
    ],
)
def test_inconsistent_configs_are_rejected(changes: dict, message: str) -> None:
    with pytest.raises(ModelConfigError, match=message):
        ModelConfig(**{**dataclasses.asdict(load_model_config("costdcnet_faithful")), **changes})


def test_unknown_config_name_and_keys() -> None:
    with pytest.raises(ModelConfigError, match="packaged configs"):
        load_model_config("no_such_config")
    with pytest.raises(ModelConfigError, match="unknown model config keys \\['planes'\\]"):
        ModelConfig.from_dict({"planes": 16})


# --- sparse-aware 3D encoder == dense Conv3d reference -------------------------------------


def random_sites(batch: int, height: int, width: int, planes: int, generator: torch.Generator) -> PlaneSites:
    plane = torch.randint(0, planes, (batch, 1, height, width), generator=generator).float()
    # Smooth-ish surfaces plus outliers: most neighbours are within one plane, some are not.
    common = plane.mean(dim=(2, 3), keepdim=True).round()
    plane = torch.where(torch.rand(plane.shape, generator=generator) < 0.7, common, plane)
    valid = (torch.rand(plane.shape, generator=generator) < 0.7).float()
    return PlaneSites(plane * valid, valid)


def dense_volume(features: torch.Tensor, sites: PlaneSites, planes: int) -> torch.Tensor:
    """Scatter one-plane-per-pixel features into a dense (N, C, K, H, W) volume (independent of the model code)."""
    batch, channels, height, width = features.shape
    volume = torch.zeros(batch, channels, planes, height, width)
    index = sites.plane.long().unsqueeze(2).expand(batch, channels, 1, height, width)
    return volume.scatter(2, index, (features * sites.valid).unsqueeze(2))


@pytest.mark.parametrize("stride", [1, 2])
def test_site_conv_equals_dense_conv3d(stride: int) -> None:
    """The gather formulation equals F.conv3d over the plane volume, restricted to occupied outputs."""
    generator = torch.Generator().manual_seed(stride)
    planes, channels = 6, 5
    source = random_sites(2, 12, 16, planes, generator)
    one_hot = plane_one_hot(source.plane, source.valid, planes)
    target = source if stride == 1 else sites_from_histogram(cell_histogram(one_hot, 2))
    features = torch.randn(2, channels, 12, 16, generator=generator) * source.valid
    conv = SiteConv3d(channels, 7, stride)

    sparse = conv(features, source, target)
    reference = F.conv3d(dense_volume(features, source, planes), conv.weight, stride=(1, stride, stride), padding=1)
    reference = reference * dense_volume(torch.ones_like(target.plane), target, planes)

    torch.testing.assert_close(dense_volume(sparse, target, planes), reference, atol=1e-5, rtol=1e-5)
    assert torch.all(sparse * (1 - target.valid) == 0)  # nothing at empty sites
    assert (reference.abs() > 1e-3).sum() > 100  # the comparison covers real values


def test_masked_batch_norm_uses_only_occupied_sites() -> None:
    """Training statistics equal ordinary batch norm over the occupied entries alone; empty sites stay 0."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 7, generator=generator) * 3 + 1
    mask = (torch.rand(2, 1, 5, 7, generator=generator) < 0.6).float()
    norm = MaskedBatchNorm(3)
    randomise_batch_norm(norm)
    reference = torch.nn.BatchNorm1d(3)
    reference.load_state_dict(norm.state_dict())
    occupied = x.permute(0, 2, 3, 1)[mask[:, 0] > 0]  # (sites, C)

    out = norm(x, mask)
    torch.testing.assert_close(out.permute(0, 2, 3, 1)[mask[:, 0] > 0], reference(occupied))
    assert torch.all(out * (1 - mask) == 0)
    torch.testing.assert_close(norm.running_mean, reference.running_mean)
    torch.testing.assert_close(norm.running_var, reference.running_var)


def test_masked_batch_norm_half_precision_counts_many_sites() -> None:
    x = torch.randn(1, 2, 300, 300).half()  # 90000 sites: more than float16 can count
    out = MaskedBatchNorm(2)(x, torch.ones(1, 1, 300, 300).half())
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    torch.testing.assert_close(out.float().std(dim=(0, 2, 3)), torch.ones(2), atol=0.01, rtol=0)


def test_sparse_model_equals_dense_model_eval_and_gradients() -> None:
    sparse, dense = sparse_and_dense(TINY)
    rgb, depth = random_inputs(2, 32, 48, TINY.max_depth)
    for model in (sparse, dense):
        model.eval()
    with torch.no_grad():
        for a, b in zip(sparse.predict(rgb, depth), dense.predict(rgb, depth), strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)

    # Training mode: masked batch statistics and every weight gradient agree too.
    for model in (sparse, dense):
        model.train()
        completed, confidence = model(rgb, depth)
        (completed.mean() + confidence.mean()).backward()
    for (name, a), b in zip(sparse.named_parameters(), dense.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-3, msg=name)
    for name, buffer in sparse.named_buffers():
        torch.testing.assert_close(buffer, dense.get_buffer(name), atol=1e-6, rtol=1e-5, msg=name)


def test_plane_major_volume_ops_equal_their_3d_counterparts() -> None:
    """The U-Net's Conv2d-only volume ops compute exactly the paper's Conv3d / MaxPool3d / nearest upsampling."""
    generator = torch.Generator().manual_seed(0)
    batch, channels, planes, height, width = 2, 3, 4, 6, 8
    volume = torch.randn(batch, channels, planes, height, width, generator=generator)  # (N, C, K, H, W)
    plane_major = volume.transpose(1, 2).flatten(0, 1)  # (N * K, C, H, W)

    def to_5d(x: torch.Tensor, k: int) -> torch.Tensor:
        return x.unflatten(0, (batch, k)).transpose(1, 2)

    block = PseudoConv3dBlock(channels, 5)
    randomise_batch_norm(block)
    block.eval()
    image_kernel = block.image_conv.weight.unsqueeze(2)  # (out, in, 1, 3, 3)
    plane_kernel = block.plane_conv.conv.weight.view(5, 3, 5).permute(0, 2, 1)[..., None, None]  # (out, in, 3, 1, 1)

    def bn(x: torch.Tensor, norm: torch.nn.BatchNorm2d) -> torch.Tensor:
        return F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)

    reference = F.elu(bn(F.conv3d(volume, image_kernel, padding=(0, 1, 1)), block.image_bn))
    reference = F.elu(bn(F.conv3d(reference, plane_kernel, padding=(1, 0, 0)), block.plane_bn))
    with torch.no_grad():
        torch.testing.assert_close(to_5d(block(plane_major, planes), planes), reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(to_5d(max_pool_volume(plane_major, planes), planes // 2), F.max_pool3d(volume, 2))
    upsampled = F.interpolate(volume, scale_factor=2.0, mode="nearest")
    torch.testing.assert_close(to_5d(upsample_volume(plane_major), 2 * planes), upsampled)


def test_subpixel_kernel_convolves_the_enlarged_image() -> None:
    """A 3x3 convolution of a nearest x2 enlarged image is the pixel shuffle of subpixel_kernel's
    convolution of the small image, border pixels (zero padding) included; pixel_shuffle_x2 is
    F.pixel_shuffle."""
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(2, 3, 5, 7, generator=generator)
    weight = torch.randn(4, 3, 3, 3, generator=generator)
    enlarged = F.conv2d(F.interpolate(image, scale_factor=2.0, mode="nearest"), weight, padding=1)
    torch.testing.assert_close(F.pixel_shuffle(F.conv2d(image, subpixel_kernel(weight), padding=1), 2), enlarged,
                               atol=1e-5, rtol=1e-5)
    assert torch.equal(pixel_shuffle_x2(enlarged), F.pixel_shuffle(enlarged, 2))


@pytest.mark.parametrize("name", ["costdcnet_cpu", "costdcnet_faithful"])
def test_fused_inference_form_computes_the_trained_function(name: str, matterport_root) -> None:
    """The plane models share the fused U-Net: on a real Matterport3D frame at its 320x256 and at
    384x224, outputs agree with the training modules within float32 rounding (measured: depth
    <= 2.4e-6 m, probabilities and confidence <= 1.2e-7; asserted 1e-5 m and 1e-5); the model's
    parameters stay as they were."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    randomise_batch_norm(model)
    weights = {key: value.clone() for key, value in model.state_dict().items()}
    fused = fuse_for_inference(model)
    sample = load_frame(discover_frames(matterport_root, layout="matterport")[0])
    for width, height in ((320, 256), (384, 224)):
        rgb = torch.from_numpy(resize_color(sample.rgb, width, height)).permute(2, 0, 1)[None].float() / 255
        depth = torch.from_numpy(resize_depth(np.nan_to_num(sample.depth), width, height))[None, None]
        with torch.no_grad():
            expected, actual = (network.predict(rgb, depth) for network in (model, fused))
        torch.testing.assert_close(actual.depth, expected.depth, atol=1e-5, rtol=0)
        torch.testing.assert_close(actual.confidence, expected.confidence, atol=1e-5, rtol=0)
        torch.testing.assert_close(actual.probabilities, expected.probabilities, atol=1e-5, rtol=0)
    state = model.state_dict()
    assert state.keys() == weights.keys() and all(torch.equal(state[key], weights[key]) for key in weights)


# --- plane handling ------------------------------------------------------------------------


def test_small_depths_are_kept_in_plane_zero() -> None:
    config = load_model_config("costdcnet_faithful")
    step = config.plane_step
    depth = torch.tensor(
        [0.0, 0.1 * step, 0.49 * step, 0.51 * step, 3.0 * step, float("nan"), float("inf"), -1.0, 99.0]
    )
    clean, sites, residual = depth_to_planes(depth.view(1, 1, 1, -1), config)
    assert sites.valid.flatten().tolist() == [0, 1, 1, 1, 1, 0, 0, 0, 1]
    assert sites.plane.flatten().tolist() == [0, 0, 0, 1, 3, 0, 0, 0, config.num_planes - 1]
    torch.testing.assert_close(residual.flatten()[:5], torch.tensor([0.0, 0.1, 0.49, -0.49, 0.0]), atol=1e-5, rtol=0)
    assert clean.flatten()[5:8].tolist() == [0.0, 0.0, 0.0]


def test_small_depth_reaches_the_network() -> None:
    """A pixel nearer than half a plane changes the prediction (it was dropped as empty before)."""
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    rgb, depth = random_inputs(1, 32, 32, TINY.max_depth)
    depth[..., 10:14, 10:14] = 0.0
    near = depth.clone()
    near[..., 10:14, 10:14] = 0.1 * TINY.plane_step
    with torch.no_grad():
        assert not torch.allclose(model(rgb, depth)[0], model(rgb, near)[0])


def test_placement_weights_are_positive_and_normalised() -> None:
    planes = 8
    plane = torch.tensor([[0, 0, 3, 3], [0, 5, 3, 3], [1, 1, 2, 2], [1, 1, 2, 2]], dtype=torch.float32).view(1, 1, 4, 4)
    valid = torch.ones_like(plane)
    valid[..., 2:, 2:] = 0  # bottom-right 2x2 cell is empty
    weights = placement_weights(cell_histogram(plane_one_hot(plane * valid, valid, planes), 2))
    assert torch.all(weights >= 0)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(1, 2, 2))
    torch.testing.assert_close(weights[0, :, 0, 0], torch.tensor([0.75, 0, 0, 0, 0, 0.25, 0, 0]))  # two planes
    torch.testing.assert_close(weights[0, :, 0, 1], F.one_hot(torch.tensor(3), planes).float())
    torch.testing.assert_close(weights[0, :, 1, 1], torch.full((planes,), 1 / planes))  # empty: uniform


def test_confidence_definition() -> None:
    planes = 16
    uniform = torch.full((1, planes, 1, 1), 1 / planes)
    peaked = F.one_hot(torch.tensor([7]), planes).float().view(1, planes, 1, 1)
    between = (peaked + torch.roll(peaked, 1, dims=1)) / 2  # depth halfway between planes 7 and 8
    bimodal = (peaked + torch.roll(peaked, 6, dims=1)) / 2  # two surfaces far apart
    values = [plane_confidence(p).item() for p in (uniform, peaked, between, bimodal)]
    assert values[0] == pytest.approx(0.0, abs=1e-6)
    assert values[1] == pytest.approx(1.0) and values[2] == pytest.approx(1.0)
    assert 0.3 < values[3] < 0.6


# --- outputs and inputs --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["costdcnet_cpu", "costdcnet_faithful"])
def test_output_shapes_and_ranges(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name).eval()
    config = model.config
    rgb, depth = random_inputs(2, 64, 64, config.max_depth)
    with torch.no_grad():
        prediction = model.predict(rgb, depth)
        completed, confidence = model(rgb, depth)
    assert completed.shape == confidence.shape == (2, 1, 64, 64)
    assert prediction.probabilities.shape == (2, config.num_planes, 64, 64)
    torch.testing.assert_close(prediction.depth, completed)
    torch.testing.assert_close(prediction.probabilities.sum(dim=1), torch.ones(2, 64, 64))
    expected = (prediction.probabilities * model.plane_depths.view(-1, 1, 1)).sum(dim=1, keepdim=True)
    torch.testing.assert_close(completed, expected, atol=1e-5, rtol=1e-5)
    assert completed.min() >= config.min_depth and completed.max() <= config.max_depth
    assert confidence.min() >= 0.0 and confidence.max() <= 1.0


def test_invalid_values_are_holes_and_empty_depth_still_predicts() -> None:
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    rgb, depth = random_inputs(1, 32, 32, TINY.max_depth)
    corrupted = depth.clone()
    holes = depth == 0
    count = int(holes.sum())
    corrupted[holes] = torch.tensor([float("nan"), float("inf"), -float("inf"), -2.0]).repeat(count // 4 + 1)[:count]
    with torch.no_grad():
        for a, b in zip(model(rgb, depth), model(rgb, corrupted), strict=True):
            torch.testing.assert_close(a, b)
        completed, confidence = model(rgb, torch.zeros_like(depth))
    assert torch.isfinite(completed).all() and torch.isfinite(confidence).all()
    assert completed.min() >= 0 and completed.max() <= TINY.max_depth


@pytest.mark.parametrize(
    "rgb_shape, depth_shape, message",
    [
        ((3, 32, 32), (1, 1, 32, 32), r"rgb must have shape \(N, 3, H, W\)"),
        ((1, 4, 32, 32), (1, 1, 32, 32), r"rgb must have shape"),
        ((1, 3, 32, 32), (1, 2, 32, 32), r"depth must have shape \(N, 1, H, W\)"),
        ((1, 3, 32, 32), (2, 1, 32, 32), "differ in batch or image size"),
        ((1, 3, 36, 32), (1, 1, 36, 32), "not a positive multiple of the network stride 8"),
    ],
)
def test_bad_inputs_raise_clear_errors(rgb_shape, depth_shape, message) -> None:
    model = build_model(TINY)
    with pytest.raises(ValueError, match=message):
        model(torch.rand(rgb_shape), torch.rand(depth_shape))


def test_integer_depth_is_rejected() -> None:
    with pytest.raises(ValueError, match="depth must be a float tensor"):
        build_model(TINY)(torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32, dtype=torch.int32))


def test_dataset_frame_runs(generated_matterport) -> None:
    """A Matterport3D-layout frame (320x256, depth with sensor-like holes) goes through the CPU model."""
    sample = load_frame(discover_frames(generated_matterport, layout="matterport")[0])
    rgb = torch.from_numpy(sample.rgb).permute(2, 0, 1)[None].float() / 255
    depth = torch.from_numpy(sample.depth)[None, None]
    torch.manual_seed(0)
    model = build_model("costdcnet_cpu").eval()
    with torch.no_grad():
        completed, confidence = model(rgb, depth)
    assert completed.shape == depth.shape == (1, 1, 256, 320)
    assert float(completed.min()) >= 0.0 and float(completed.max()) <= 10.0
    assert float(confidence.min()) >= 0.0 and float(confidence.max()) <= 1.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_half_precision_matches_cpu() -> None:
    torch.manual_seed(0)
    model = build_model("costdcnet_faithful").eval()
    rgb, depth = random_inputs(1, 64, 64, 10.0)
    with torch.no_grad():
        expected = model(rgb, depth)[0]
        cuda_model = model.cuda().half()
        completed = cuda_model(rgb.cuda().half(), depth.cuda().half())[0]
    assert completed.device.type == "cuda" and completed.dtype == torch.float16
    assert torch.isfinite(completed).all() and 0.0 <= float(completed.min()) <= float(completed.max()) <= 10.0
    assert float((completed.float().cpu() - expected).abs().mean()) < 0.05  # FP16 rounding, not a different model


# --- checkpoints ---------------------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(TINY)
    randomise_batch_norm(model)
    path = save_checkpoint(tmp_path / "run" / "best.pt", model, epoch=3, metrics={"rmse": 0.5})
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]  # no temporary file left behind
    loaded, meta = load_checkpoint(path)
    assert meta == {"epoch": 3, "metrics": {"rmse": 0.5}}
    assert loaded.config == TINY and not loaded.training
    rgb, depth = random_inputs(1, 32, 32, TINY.max_depth)
    with torch.no_grad():
        for a, b in zip(model.eval()(rgb, depth), loaded(rgb, depth), strict=True):
            torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_checkpoint_meta_must_be_plain_data(tmp_path) -> None:
    with pytest.raises(TypeError, match=r"meta\['metrics'\]\['rmse'\] is a numpy.float32"):
        save_checkpoint(tmp_path / "model.pt", build_model(TINY), metrics={"rmse": np.float32(0.5)})
    assert not list(tmp_path.iterdir())


def test_checkpoint_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a model checkpoint"):
        load_checkpoint(corrupt)
    truncated = tmp_path / "truncated.pt"
    save_checkpoint(truncated, build_model(TINY))
    truncated.write_bytes(truncated.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="not a model checkpoint"):
        load_checkpoint(truncated)
    plain = tmp_path / "plain.pt"
    torch.save(build_model(TINY).state_dict(), plain)
    with pytest.raises(CheckpointError, match="expected a mapping with keys"):
        load_checkpoint(plain)
    mismatched = tmp_path / "mismatched.pt"
    weights = build_model("costdcnet_cpu").state_dict()
    torch.save({"config": TINY.to_dict(), "state_dict": weights, "meta": {}}, mismatched)
    with pytest.raises(CheckpointError, match="weights do not match the stored config 'tiny'"):
        load_checkpoint(mismatched)


def test_parameter_counts_follow_the_paper() -> None:
    """The faithful config has the paper's ~1.9 M parameters; the CPU one under a quarter."""
    counts = {
        name: sum(p.numel() for p in build_model(name).parameters()) for name in ("costdcnet_faithful", "costdcnet_cpu")
    }
    assert math.isclose(counts["costdcnet_faithful"], 1.9e6, rel_tol=0.1)
    assert counts["costdcnet_cpu"] < counts["costdcnet_faithful"] / 4
