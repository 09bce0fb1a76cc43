"""Inference form of the networks: the trained function, rewritten as a cheaper graph.

:func:`fuse_for_inference` returns an eval-only copy of a network whose cost-volume U-Net and
site convolutions are rebuilt from the trained weights (like RepVGG's re-parameterisation); the
training modules and their ``state_dict`` stay as they are. Every step is an identity of the
maths, so outputs differ only by float rounding (test_model and test_prior_model check it on
real frames). ONNX export and the PyTorch backend run this form.

* Batch norms are folded into the convolutions before them.
* An up block's ``conv3x3(cat[up2(v), skip])`` is split by linearity into
  ``conv_a(up2(v)) + conv_b(skip)``. ``conv_a`` works per plane, so it commutes with the
  plane doubling of ``up2``; and a 3×3 convolution of a nearest ×2 enlarged image is a
  pixel shuffle of a 3×3 convolution of the small image with four outputs per channel, one
  per sub-pixel phase, whose taps are sums of the original taps (zero padding maps onto zero
  padding). ``conv_a`` thus runs on a quarter of the pixels of half the planes, and the
  enlarged volume and its concatenation with the skip are never built.
* A site convolution multiplies the taps by each plane offset's gate and takes one matrix
  product per offset, summed, instead of stacking all three gated copies first.
* For ONNX Runtime: ELU is exported as ``max(x, exp(min(x, 0)) - 1)`` (equal for every x, as
  e^x >= 1 + x), which its vectorised Min/Exp/Max run ~2x faster than its Elu kernel; the
  (3, 1, 1) plane convolution as a Conv3d between transposes instead of stacked plane copies;
  the ×2 pixel shuffle as two transposes instead of DepthToSpace.

docs/benchmarks.md ("Network graph for CPU inference") has the figures.
"""
from __future__ import annotations

import copy
from typing import TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .costdcnet import CostVolumeUNet, run_unet
from .layers import PlaneAxisConv, PlaneSites, PseudoConv3dBlock, SiteConv3d, plane_neighbours

NetworkT = TypeVar("NetworkT", bound=nn.Module)

#: Which taps of a 3×3 kernel on the ×2 enlarged image land on which tap of the small image,
#: per sub-pixel phase: ``PHASE_TAPS[phase, small_tap, enlarged_tap]``. Phase 0 (even row):
#: enlarged rows -1 / 0, +1 read small rows -1 / 0; phase 1 (odd row): -1, 0 / +1 read 0 / +1.
PHASE_TAPS = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]],
                           [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])


def fuse_for_inference(model: NetworkT) -> NetworkT:
    """An eval-mode copy of ``model`` with its cost-volume U-Net and its site convolutions in
    the fused form (see the module docstring); ``model`` itself is not touched. Inference only:
    the copy refuses ``train()``. Fusing an already fused model returns a plain copy."""
    fused = copy.deepcopy(model).eval()
    # The new modules' throw-away initialisation must not move the caller's random stream.
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        for parent in list(fused.modules()):
            for name, child in list(parent.named_children()):
                replacement: nn.Module | None = None
                if type(child) is CostVolumeUNet:
                    replacement = FusedCostVolumeUNet(child)
                elif type(child) is SiteConv3d:
                    replacement = FusedSiteConv3d(child)
                if replacement is not None:
                    like = next(child.parameters())
                    setattr(parent, name, replacement.to(like.device, like.dtype))
    return fused


def folded_batch_norm(weight: Tensor, norm: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """``(weight, bias)`` of a bias-free convolution followed by ``norm`` in eval mode."""
    assert norm.running_mean is not None and norm.running_var is not None  # BatchNorm2d tracks statistics
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    return weight * scale.view(-1, *([1] * (weight.ndim - 1))), norm.bias - norm.running_mean * scale


def subpixel_kernel(weight: Tensor) -> Tensor:
    """3×3 kernel ``(4 * out, in, 3, 3)`` on an image whose pixel shuffle ×2 equals ``weight``
    ``(out, in, 3, 3)`` on the nearest ×2 enlarged image (output channel ``4 * o + 2 * row + col``
    as :func:`torch.nn.functional.pixel_shuffle` orders the phases)."""
    taps = PHASE_TAPS.to(weight)
    phases = torch.einsum("arp,bcq,oipq->oabirc", taps, taps, weight)
    return phases.reshape(4 * weight.shape[0], weight.shape[1], 3, 3)


def pixel_shuffle_x2(x: Tensor) -> Tensor:
    """``F.pixel_shuffle(x, 2)`` as two transposes (the column phase, then the row phase), which
    ONNX Runtime runs ~3x faster than DepthToSpace or one 6-D transpose. Only constant sizes:
    the graph stays free in height and width."""
    columns = x.unflatten(1, (-1, 2)).permute(0, 1, 3, 4, 2).flatten(3)  # (N, 2C, h, 2w): column phase inner
    shuffled: Tensor = columns.unflatten(1, (-1, 2)).transpose(2, 3).flatten(2, 3)  # row phase between rows
    return shuffled


def elu(x: Tensor) -> Tensor:
    """ELU; exported as ``max(x, exp(min(x, 0)) - 1)``, which ONNX Runtime runs ~2x faster than Elu."""
    if torch.onnx.is_in_onnx_export():
        return torch.maximum(x, torch.exp(x.clamp(max=0.0)) - 1.0)
    return F.elu(x)


class InferenceOnly(nn.Module):
    """A module rebuilt from trained weights for inference: ``train(True)`` is an error."""

    def train(self, mode: bool = True) -> InferenceOnly:
        if mode:
            raise RuntimeError(f"{type(self).__name__} is an inference-only fused form; train the original model")
        return super().train(False)


class FusedSiteConv3d(InferenceOnly, SiteConv3d):
    """:class:`~.layers.SiteConv3d` whose gather runs one matrix product per plane offset on
    the taps gated for that offset, summed, instead of one product on all three gated copies
    stacked: the same sum in another order, with a third of the largest intermediate."""

    def __init__(self, conv: SiteConv3d) -> None:
        out_channels, in_channels = conv.weight.shape[:2]
        super().__init__(in_channels, out_channels, conv.stride)
        self.weight.data.copy_(conv.weight)

    def _gather(self, x: Tensor, source: PlaneSites, target: PlaneSites) -> Tensor:
        taps, gates = self.gated_neighbourhood(x, source, target)
        weight = self.weight.flatten(3)  # (out, in, plane offset, 9 taps)
        columns = [(taps * gate.unsqueeze(1)).flatten(1, 2) for gate in gates]  # (N, C * 9, H, W) per offset
        out = sum(torch.matmul(weight[:, :, index].flatten(1), gated.flatten(2)) for index, gated in enumerate(columns))
        assert isinstance(out, Tensor)
        by_pixel: Tensor = out.unflatten(2, columns[0].shape[2:])
        return by_pixel


class FusedPlaneAxisConv(InferenceOnly):
    """:class:`~.layers.PlaneAxisConv` with its batch norm folded in.

    PyTorch runs it as the training module does (neighbouring planes stacked as channels, one
    1×1 Conv2d: its CPU Conv3d is slower). The ONNX graph is a (3, 1, 1) Conv between two
    transposes instead: ONNX Runtime runs that in less time than the Pad/Slice/Concat that
    stack the planes, the blocked-layout reorders around the 1×1 Conv and the Conv itself.
    """

    def __init__(self, plane_conv: PlaneAxisConv, norm: nn.BatchNorm2d) -> None:
        super().__init__()
        weight, bias = folded_batch_norm(plane_conv.conv.weight, norm)
        out_channels, stacked_channels = weight.shape[:2]
        self.weight = nn.Parameter(weight.view(out_channels, stacked_channels))  # (out, 3 * in): planes k-1, k, k+1
        self.bias = nn.Parameter(bias)

    def forward(self, x: Tensor, planes: int) -> Tensor:
        if torch.onnx.is_in_onnx_export():
            kernel = self.weight.unflatten(1, (3, -1)).transpose(1, 2)[..., None, None]  # (out, in, 3, 1, 1)
            volume = x.unflatten(0, (-1, planes)).transpose(1, 2)  # (N, C, K, H, W)
            return F.conv3d(volume, kernel, self.bias, padding=(1, 0, 0)).transpose(1, 2).flatten(0, 1)
        return F.conv2d(plane_neighbours(x, planes), self.weight[..., None, None], self.bias)


class FusedDownBlock(InferenceOnly):
    """:class:`~.layers.PseudoConv3dBlock` with folded batch norms."""

    def __init__(self, block: PseudoConv3dBlock) -> None:
        super().__init__()
        weight, bias = folded_batch_norm(block.image_conv.weight, block.image_bn)
        self.image_conv = biased_conv3x3(weight, bias)
        self.plane_conv = FusedPlaneAxisConv(block.plane_conv, block.plane_bn)

    def forward(self, x: Tensor, planes: int) -> Tensor:
        return elu(self.plane_conv(elu(self.image_conv(x)), planes))


class FusedUpBlock(InferenceOnly):
    """An up block of the U-Net on ``(coarse volume, skip)`` without enlarging the coarse volume:
    the image convolution split into a sub-pixel convolution of the coarse part (on its own
    planes, shared by the two planes each one becomes) and a convolution of the skip part."""

    def __init__(self, block: PseudoConv3dBlock, coarse_channels: int) -> None:
        super().__init__()
        weight, bias = folded_batch_norm(block.image_conv.weight, block.image_bn)
        coarse_weight = subpixel_kernel(weight[:, :coarse_channels])
        self.coarse_conv = nn.Conv2d(coarse_weight.shape[1], coarse_weight.shape[0], 3, padding=1, bias=False)
        self.coarse_conv.weight.data.copy_(coarse_weight)
        self.skip_conv = biased_conv3x3(weight[:, coarse_channels:], bias)
        self.plane_conv = FusedPlaneAxisConv(block.plane_conv, block.plane_bn)

    def forward(self, coarse: Tensor, skip: Tensor, planes: int) -> Tensor:
        """``coarse`` ``(N * planes/2, C, h, w)``, ``skip`` ``(N * planes, C', 2h, 2w)``."""
        shared = pixel_shuffle_x2(self.coarse_conv(coarse)).unsqueeze(1)  # one per coarse plane
        image = (self.skip_conv(skip).unflatten(0, (-1, 2)) + shared).flatten(0, 1)
        return elu(self.plane_conv(elu(image), planes))


class FusedCostVolumeUNet(InferenceOnly):
    """:class:`~.costdcnet.CostVolumeUNet` with fused blocks (same input, same logits)."""

    def __init__(self, unet: CostVolumeUNet) -> None:
        super().__init__()
        self.num_planes = unet.num_planes
        down, up = ([cast(PseudoConv3dBlock, block) for block in blocks] for blocks in (unet.down, unet.up))
        self.down = nn.ModuleList(FusedDownBlock(block) for block in down)
        # Up block i enlarges a volume as wide as down block i + 1's output.
        self.up = nn.ModuleList(
            FusedUpBlock(block, wider.image_conv.out_channels) for block, wider in zip(up, down[1:], strict=True)
        )
        self.head = copy.deepcopy(unet.head)

    def forward(self, volume: Tensor) -> Tensor:
        return run_unet(volume, self.num_planes, self.down, self.up, self.head, _join_fused)


def _join_fused(block: nn.Module, volume: Tensor, skip: Tensor, planes: int) -> Tensor:
    joined: Tensor = block(volume, skip, planes)  # a FusedUpBlock upsamples inside its convolution
    return joined


def biased_conv3x3(weight: Tensor, bias: Tensor) -> nn.Conv2d:
    """A padded 3×3 ``Conv2d`` holding ``weight`` and ``bias``."""
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
    conv.weight.data.copy_(weight)
    assert conv.bias is not None
    conv.bias.data.copy_(bias)
    return conv
