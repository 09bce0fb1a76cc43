"""CostDCNet (Kam et al., ECCV 2022) without MinkowskiEngine.

    rgb (N,3,H,W), depth (N,1,H,W) metres
      │
      ├─ depth_to_planes: validity, plane index, residual of every valid pixel
      ├─ Encoder2D(rgb ‖ depth/max) ───────────────► (N, F, h, w) ──────┐ placed into the planes by
      ├─ Encoder3D(occupied voxels: [1, residual]) ► (N, K, F, h, w) ─┐  │ the normalised cell
      │                                                               ▼  ▼ plane histogram
      └─ plane-major RGB-D volume (N·K, 2F, h, w) ─► CostVolumeUNet ─► (N, K, u², h, w) logits
           ─► softmax over planes, depth = Σ_k p_k · plane_depth_k, confidence (per sub-pixel)
           ─► pixel shuffle ×u ─► completed_depth, confidence (N, 1, H, W)       (h = H/u, w = W/u)

See docs/model.md for what differs from the paper and why.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .layers import (
    PlaneSites,
    PointwiseConv,
    PseudoConv3dBlock,
    ResidualBlock2d,
    SiteConvBnReLU,
    SiteResidualBlock,
    cell_histogram,
    max_pool_volume,
    plane_one_hot,
    sites_from_histogram,
    upsample_volume,
)

#: Size of the plane window whose probability mass defines the confidence.
CONFIDENCE_WINDOW = 3


class Prediction(NamedTuple):
    """Everything one forward pass yields; ``depth`` and ``confidence`` are ``(N, 1, H, W)``."""

    depth: Tensor
    confidence: Tensor
    probabilities: Tensor  # (N, K, H, W), softmax over the depth planes


class Encoder2D(nn.Module):
    """ResNet-style RGB-D encoder: stem, stages of basic blocks (stride 2 after the first), 1×1 head."""

    def __init__(self, config: ModelConfig, in_channels: int = 4) -> None:
        super().__init__()
        widths = config.encoder2d_widths
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stride=config.encoder2d_stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        blocks = []
        for index, width in enumerate(widths):
            previous = widths[max(index - 1, 0)]
            blocks.append(ResidualBlock2d(previous, width, stride=1 if index == 0 else 2))
            blocks.extend(ResidualBlock2d(width, width) for _ in range(config.encoder2d_blocks - 1))
        self.stages = nn.Sequential(*blocks)
        self.head = nn.Conv2d(widths[-1], config.feature_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        features: Tensor = self.head(self.stages(self.stem(x)))
        return features


class Encoder3D(nn.Module):
    """Encoder of the occupied depth-plane voxels, output as a dense ``(N, K, F, H/u, W/u)`` volume.

    Stem: 3×3×3 conv from the full-resolution voxels (stride ``encoder3d_stem_stride``); every
    later stage starts with a (1,2,2)-strided 3×3×3 conv; each level adds residual blocks. A
    reduced-resolution level keeps one site per cell, in the cell's most populated plane. With
    ``dense=True`` the same parameters run as ordinary Conv3d over the whole volume (reference).
    """

    def __init__(self, config: ModelConfig, dense: bool, in_channels: int = 2) -> None:
        super().__init__()
        self.dense = dense
        self.num_planes = config.num_planes
        widths = config.encoder3d_widths
        self.strides = [config.encoder3d_stem_stride] + [2] * (len(widths) - 1)
        self.downs = nn.ModuleList(
            SiteConvBnReLU(previous, width, stride)
            for previous, width, stride in zip((in_channels, *widths[:-1]), widths, self.strides, strict=True)
        )
        self.blocks = nn.ModuleList(
            nn.ModuleList(SiteResidualBlock(width) for _ in range(config.encoder3d_blocks)) for width in widths
        )
        self.head = PointwiseConv(widths[-1], config.feature_channels)

    def level_cells(self) -> list[int]:
        """Cell size (in input pixels) of every level, finest first."""
        cells, cell = [], 1
        for stride in self.strides:
            cell *= stride
            cells.append(cell)
        return cells

    def forward(self, features: Tensor, sites: PlaneSites, one_hot: Tensor) -> Tensor:
        """``features`` ``(N, C, H, W)`` at full-resolution ``sites``; ``one_hot`` from :func:`plane_one_hot`.
        Returns the plane-major volume ``(N, K, F, H/u, W/u)``, zero at empty voxels."""
        if self.dense:
            features = features.unsqueeze(2) * sites.occupancy(self.num_planes)
        source = sites
        for cell, down, blocks in zip(self.level_cells(), self.downs, self.blocks, strict=True):
            target = sites if cell == 1 else sites_from_histogram(cell_histogram(one_hot, cell))
            mask = target.mask(self.dense, self.num_planes)
            features = down(features, source, target, mask)
            for block in cast(nn.ModuleList, blocks):
                features = block(features, target, mask)
            source = target
        features = self.head(features) * mask
        if self.dense:
            return features.transpose(1, 2)
        return features.unsqueeze(1) * source.occupancy(self.num_planes).transpose(1, 2)


class CostVolumeUNet(nn.Module):
    """3D U-Net over the plane-major RGB-D volume ``(N * K, C, h, w)``: pseudo-3D blocks,
    MaxPool3d(2), nearest upsampling + skip concatenation, 1×1 head to ``up_scale²`` logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.num_planes = config.num_planes
        widths = config.unet_widths
        inputs = (2 * config.feature_channels, *widths[:-1])
        self.down = nn.ModuleList(PseudoConv3dBlock(i, o) for i, o in zip(inputs, widths, strict=True))
        self.up = nn.ModuleList(PseudoConv3dBlock(widths[i + 1] + widths[i], widths[i]) for i in range(len(widths) - 1))
        self.head = nn.Conv2d(widths[0], config.up_scale**2, 1)

    def forward(self, volume: Tensor) -> Tensor:
        return run_unet(volume, self.num_planes, self.down, self.up, self.head, _upsample_and_join)


#: ``up_step(block, coarser volume, skip, planes) -> volume`` of :func:`run_unet`.
UpStep = Callable[[nn.Module, Tensor, Tensor, int], Tensor]


def run_unet(
    volume: Tensor, planes: int, down: nn.ModuleList, up: nn.ModuleList, head: nn.Module, up_step: UpStep
) -> Tensor:
    """The cost-volume U-Net's data flow, shared by the training form and the fused inference form
    (which differ only in how an up block joins the coarser volume with its skip): down blocks
    with MaxPool3d(2) between them, then up blocks from the coarsest, then the head."""
    skips = []
    for index, block in enumerate(down):
        if index > 0:
            volume = max_pool_volume(volume, planes)
            planes //= 2
        volume = block(volume, planes)
        skips.append(volume)
    for block, skip in zip(reversed(up), reversed(skips[:-1]), strict=True):
        planes *= 2
        volume = up_step(block, volume, skip, planes)
    logits: Tensor = head(volume)
    return logits


def _upsample_and_join(block: nn.Module, volume: Tensor, skip: Tensor, planes: int) -> Tensor:
    joined: Tensor = block(torch.cat([upsample_volume(volume), skip], dim=1), planes)
    return joined


class CostDCNet(nn.Module):
    """Depth completion from RGB + raw depth through a depth-plane cost volume.

    ``forward(rgb, depth) -> (completed_depth, confidence)``:

    * ``rgb`` ``(N, 3, H, W)`` float in 0–1; ``depth`` ``(N, 1, H, W)`` float metres, 0 = invalid.
      NaN, ±inf and negative depths count as invalid. Valid depths outside
      ``[min_depth, max_depth]`` are clamped to that range. With no valid depth at all the
      network still predicts from RGB.
    * ``H`` and ``W`` must be multiples of ``config.total_stride``.
    * ``completed_depth`` ``(N, 1, H, W)`` metres in ``[min_depth, max_depth]``; ``confidence``
      ``(N, 1, H, W)`` in 0–1: the probability mass in the most likely window of
      three neighbouring planes, rescaled so a uniform distribution gives 0 and all mass in
      three planes gives 1.
    """

    input_names = ("rgb", "depth")
    plane_depths: Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder2d = Encoder2D(config)
        self.encoder3d = Encoder3D(config, dense=config.encoder3d == "dense")
        self.cost_volume = CostVolumeUNet(config)
        plane_depths = config.min_depth + config.plane_step * torch.arange(config.num_planes, dtype=torch.float32)
        self.register_buffer("plane_depths", plane_depths, persistent=False)

    def check_inputs(self, rgb: Tensor, depth: Tensor) -> None:
        """Raise ``ValueError`` naming the problem for inputs the network cannot take."""
        for name, tensor, channels in (("rgb", rgb, 3), ("depth", depth, 1)):
            if not isinstance(tensor, Tensor):
                raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
            if tensor.ndim != 4 or tensor.shape[1] != channels:
                raise ValueError(f"{name} must have shape (N, {channels}, H, W), got {tuple(tensor.shape)}")
            if not tensor.is_floating_point():
                raise ValueError(f"{name} must be a float tensor, got {tensor.dtype}")
        if rgb.shape[0] != depth.shape[0] or rgb.shape[2:] != depth.shape[2:]:
            raise ValueError(f"rgb {tuple(rgb.shape)} and depth {tuple(depth.shape)} differ in batch or image size")
        height, width = depth.shape[2:]
        stride = self.config.total_stride
        if height % stride or width % stride or height == 0 or width == 0:
            fit_width, fit_height = max(stride, width // stride * stride), max(stride, height // stride * stride)
            raise ValueError(
                f"image size {width}x{height} (WxH) is not a positive multiple of the network stride {stride}; "
                f"crop or resize to e.g. {fit_width}x{fit_height}"
            )

    def forward(self, rgb: Tensor, depth: Tensor) -> tuple[Tensor, Tensor]:
        """``(completed_depth, confidence)``, the two outputs every backend and the ONNX graph give."""
        return self._depth_and_confidence(self._subpixel_probabilities(rgb, depth))

    def predict(self, rgb: Tensor, depth: Tensor) -> Prediction:
        """Depth, confidence and the ``(N, K, H, W)`` plane probabilities they come from (for
        losses on the distribution), from one pass through the network."""
        probabilities = self._subpixel_probabilities(rgb, depth)  # (N, K, u², h, w)
        completed, confidence = self._depth_and_confidence(probabilities)
        return Prediction(completed, confidence, F.pixel_shuffle(probabilities.flatten(1, 2), self.config.up_scale))

    def _depth_and_confidence(self, probabilities: Tensor) -> tuple[Tensor, Tensor]:
        scale = self.config.up_scale
        completed = F.pixel_shuffle(expected_depth(probabilities, self.plane_depths), scale)
        return completed, F.pixel_shuffle(plane_confidence(probabilities), scale)

    def _subpixel_probabilities(self, rgb: Tensor, depth: Tensor) -> Tensor:
        """Plane probabilities before the pixel shuffle, ``(N, K, u², H/u, W/u)``.

        Everything per pixel (softmax, expectation, confidence) runs in this layout, and only the
        final one-channel maps are shuffled: ONNX Runtime's Softmax over the planes of the
        full-resolution volume alone cost more than the rest of the CPU model.
        """
        if not torch.onnx.is_in_onnx_export():  # the exporter checks once, before tracing
            self.check_inputs(rgb, depth)
        config = self.config
        depth, sites, residual = depth_to_planes(depth, config)
        one_hot = plane_one_hot(sites.plane, sites.valid, config.num_planes)

        features2d = self.encoder2d(torch.cat([rgb, depth / config.max_depth], dim=1))
        volume3d = self.encoder3d(torch.cat([sites.valid, residual], dim=1), sites, one_hot)  # (N, K, F, h, w)
        placement = placement_weights(cell_histogram(one_hot, config.up_scale))
        volume = torch.cat([volume3d, features2d.unsqueeze(1) * placement.unsqueeze(2)], dim=2)
        logits = self.cost_volume(volume.flatten(0, 1))  # (N * K, u², h, w)
        return softmax_over_planes(logits.unflatten(0, (-1, config.num_planes)))


def depth_to_planes(depth: Tensor, config: ModelConfig) -> tuple[Tensor, PlaneSites, Tensor]:
    """Split raw depth into ``(clean depth, sites, residual)``.

    ``clean depth`` is the input with NaN/inf/negative values set to 0. Every valid pixel gets
    the nearest plane and its offset from it in plane units (``residual`` in [-0.5, 0.5], 0
    where invalid). Validity is tracked separately from the plane index, so a depth nearer
    than half a plane is kept in plane 0 (the original code dropped it as "empty").
    """
    valid = ((depth > 0) & (depth < float("inf"))).to(depth.dtype)  # NaN compares false: invalid
    depth = torch.where(valid > 0, depth, torch.zeros_like(depth))
    position = (depth.clamp(config.min_depth, config.max_depth) - config.min_depth) / config.plane_step
    plane = torch.floor(position + 0.5)
    return depth, PlaneSites(plane * valid, valid), (position - plane) * valid


def softmax_over_planes(logits: Tensor) -> Tensor:
    """Softmax over the plane axis (``dim=1``), written out: exported as elementwise ops and
    reductions, which ONNX Runtime runs ~20x faster than its Softmax on a non-last axis."""
    exponentials = torch.exp(logits - logits.amax(dim=1, keepdim=True))
    return exponentials / plane_sum(exponentials).unsqueeze(1)


def plane_sum(x: Tensor, weights: Tensor | None = None) -> Tensor:
    """``Σ_k weights_k · x[:, k]`` over the plane axis (``dim=1``, removed); all weights 1 if None.

    Exported as one MatMul of the weight row with the ``(K, rest)`` matrix: ONNX Runtime runs
    that ~10x faster than ReduceSum over a non-last axis. PyTorch keeps its own reduction.
    """
    if torch.onnx.is_in_onnx_export():
        row = x.new_ones(x.shape[1]) if weights is None else weights
        return torch.matmul(row.view(1, -1), x.flatten(2)).view_as(x[:, 0])
    if weights is None:
        return x.sum(dim=1)
    return (x * weights.view(-1, *([1] * (x.ndim - 2)))).sum(dim=1)


def expected_depth(probabilities: Tensor, plane_depths: Tensor) -> Tensor:
    """Soft-argmax ``Σ_k p_k · depth_k`` over the plane axis (``dim=1``, removed); ``plane_depths`` is 1-D."""
    return plane_sum(probabilities, plane_depths)


def placement_weights(histogram: Tensor) -> Tensor:
    """Weights that place a cell's 2D features into the planes ``(N, K, h, w)``; every cell sums to 1.

    A cell's weight per plane is the fraction of its valid pixels in that plane; a cell without
    depth spreads evenly over all planes. Always positive where used and normalised, unlike the
    original mask arithmetic, which gave zero or negative weights to cells spanning several planes.
    """
    total = histogram.sum(dim=1, keepdim=True)
    uniform = torch.full_like(histogram, 1.0 / histogram.shape[1])
    return torch.where(total > 0, histogram / total.clamp(min=1e-12), uniform)


def plane_confidence(probabilities: Tensor) -> Tensor:
    """Peak probability mass of any 3 neighbouring planes (plane axis ``dim=1``, removed),
    rescaled so a uniform distribution gives 0 and all mass within 3 planes gives 1.

    A depth between two planes legitimately splits its mass over them, so mass in a small
    window (not the single largest probability, nor entropy) measures certainty.
    """
    planes = probabilities.shape[1]
    # Interior windows suffice: an edge window (two planes) never exceeds its interior neighbour.
    window = probabilities[:, :-2] + probabilities[:, 1:-1] + probabilities[:, 2:]
    floor = CONFIDENCE_WINDOW / planes
    return ((window.amax(dim=1) - floor) / (1.0 - floor)).clamp(0.0, 1.0)

