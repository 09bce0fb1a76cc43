"""Building blocks of CostDCNet, written with standard, ONNX/TensorRT-exportable operators.

The 3D encoder works on a depth-plane volume in which every pixel occupies at most one plane.
It has two interchangeable representations that share parameters (same ``state_dict``):

* **one plane per pixel** (``sparse``): features ``(N, C, H, W)`` plus :class:`PlaneSites`
  (the plane index and validity of every pixel). A 3×3×3 convolution then only needs, per
  pixel, the 3×3 image neighbourhood gated by plane difference (|Δplane| ≤ 1 selects the kernel
  slice) — cost proportional to the pixel count, not to ``num_planes × H × W``.
* **dense volume** (``dense``): features ``(N, C, K, H, W)`` zero outside occupied voxels and
  plain ``Conv3d`` — the straightforward reference the sparse form is tested against.

Both compute submanifold semantics (MinkowskiEngine's): outputs exist only at occupied sites,
and batch statistics use occupied sites only.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Plane offsets a 3×3×3 kernel reaches, in the order of its depth axis.
PLANE_OFFSETS = (-1, 0, 1)


@dataclass(frozen=True)
class PlaneSites:
    """The occupied voxels of one resolution level: at most one plane per pixel.

    ``plane`` holds integral plane indices as float (exact for any realistic plane count, and
    float compares export cleanly); ``valid`` is 1 where the pixel holds a voxel, else 0.
    """

    plane: Tensor  # (N, 1, H, W)
    valid: Tensor  # (N, 1, H, W)

    def occupancy(self, num_planes: int) -> Tensor:
        """Dense 0/1 occupancy ``(N, 1, K, H, W)`` of the same sites."""
        planes = torch.arange(num_planes, dtype=self.plane.dtype, device=self.plane.device).view(1, 1, -1, 1, 1)
        return (self.plane.unsqueeze(2) == planes).to(self.valid.dtype) * self.valid.unsqueeze(2)

    def mask(self, dense: bool, num_planes: int) -> Tensor:
        """Mask that broadcasts over features of the chosen representation."""
        return self.occupancy(num_planes) if dense else self.valid


def plane_one_hot(plane: Tensor, valid: Tensor, num_planes: int) -> Tensor:
    """Per-pixel plane indicator ``(N, K, H, W)``: 1 at the pixel's plane, all 0 where invalid."""
    return PlaneSites(plane, valid).occupancy(num_planes).squeeze(1)


def cell_histogram(one_hot: Tensor, cell: int) -> Tensor:
    """Fraction of each ``cell × cell`` block's pixels that lie in each plane ``(N, K, H/cell, W/cell)``."""
    return one_hot if cell == 1 else F.avg_pool2d(one_hot, cell)


def sites_from_histogram(histogram: Tensor) -> PlaneSites:
    """One site per cell, in the cell's most populated plane (ties go to the nearer plane)."""
    valid = (histogram.sum(dim=1, keepdim=True) > 0).to(histogram.dtype)
    plane = histogram.argmax(dim=1, keepdim=True).to(histogram.dtype)
    return PlaneSites(plane, valid)


class MaskedBatchNorm(nn.Module):
    """Batch norm whose training statistics come from occupied sites only, output masked.

    In eval mode it is ordinary ``batch_norm`` (exported as BatchNormalization, which ONNX
    Runtime and TensorRT fold into the preceding convolution) followed by the mask.
    """

    running_mean: Tensor
    running_var: Tensor

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if not self.training:
            normalised = F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
            return normalised * mask
        # Statistics in float32 like nn.BatchNorm under autocast: a half-precision site count
        # overflows at 65504 sites (a batch of four 320x256 frames has 327680).
        x32, mask32 = x.float(), mask.float()
        dims = [0, *range(2, x.ndim)]
        count = mask32.sum()
        safe_count = count.clamp(min=1.0)
        mean = (x32 * mask32).sum(dim=dims) / safe_count
        shape = [1, -1] + [1] * (x.ndim - 2)
        centred = (x32 - mean.view(shape)) * mask32
        var = (centred * centred).sum(dim=dims) / safe_count
        with torch.no_grad():
            has_sites = count > 0
            unbiased = var * count / (count - 1).clamp(min=1.0)
            for buffer, value in ((self.running_mean, mean), (self.running_var, unbiased)):
                buffer.copy_(torch.where(has_sites, torch.lerp(buffer.float(), value, self.momentum), buffer.float()))
        scale = self.weight.float() * torch.rsqrt(var + self.eps)
        return ((centred * scale.view(shape) + self.bias.float().view(shape)) * mask32).to(x.dtype)


class SiteConv3d(nn.Module):
    """3×3×3 convolution (stride 1 or (1, 2, 2)) between the occupied sites of two levels.

    ``forward`` takes either representation (see the module docstring): 4-D features use the
    gather formulation, 5-D dense volumes use ``conv3d``; both give the same numbers. The
    weight has the layout of ``nn.Conv3d`` (``out, in, plane, row, col``) and no bias (a batch
    norm follows).
    """

    feature_taps: Tensor
    site_taps: Tensor

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"SiteConv3d stride must be 1 or 2, got {stride}")
        self.stride = stride
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3, 3))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.register_buffer("feature_taps", neighbourhood_kernel(in_channels), persistent=False)
        self.register_buffer("site_taps", neighbourhood_kernel(2), persistent=False)  # plane and validity

    def forward(self, x: Tensor, source: PlaneSites, target: PlaneSites) -> Tensor:
        if x.ndim == 5:
            out = F.conv3d(x, self.weight, stride=(1, self.stride, self.stride), padding=1)
            return out * target.occupancy(x.shape[2])
        return self._gather(x, source, target)

    def _gather(self, x: Tensor, source: PlaneSites, target: PlaneSites) -> Tensor:
        """Per target pixel, the 3×3 source neighbourhood gated by plane difference, then one matrix product."""
        taps, gates = self.gated_neighbourhood(x, source, target)
        stacked = torch.stack(gates, dim=1).unsqueeze(1)  # (N, 1, 3, 9, H, W)
        columns = (taps.unsqueeze(2) * stacked).flatten(1, 3)  # (N, C * 27, H, W), ordered like the weight
        # A matrix product rather than a 1×1 conv: with C * 27 input channels it runs faster in
        # ONNX Runtime (no blocked-layout reorder) and its backward pass is several times faster.
        out = torch.matmul(self.weight.flatten(1), columns.flatten(2))
        by_pixel: Tensor = out.unflatten(2, columns.shape[2:])
        return by_pixel

    def gated_neighbourhood(self, x: Tensor, source: PlaneSites, target: PlaneSites) -> tuple[Tensor, list[Tensor]]:
        """``(taps, gates)`` of the gather: ``taps`` ``(N, C, 9, H, W)``, the 3×3 source neighbourhood of
        every target pixel; per plane offset (kernel slice), a gate ``(N, 9, H, W)``: 1 where the
        neighbour is a site on the target's plane + offset, else 0."""
        neighbour_sites = neighbourhood(torch.cat([source.plane, source.valid], dim=1), self.site_taps, self.stride)
        neighbour_planes, neighbour_valid = neighbour_sites[:, :9], neighbour_sites[:, 9:] * target.valid
        gates = [(neighbour_planes == target.plane + offset).to(x.dtype) * neighbour_valid for offset in PLANE_OFFSETS]
        taps = neighbourhood(x, self.feature_taps, self.stride).unflatten(1, (x.shape[1], 9))
        return taps, gates


def neighbourhood_kernel(channels: int) -> Tensor:
    """One-hot depthwise kernels ``(channels * 9, 1, 3, 3)`` for :func:`neighbourhood`."""
    return torch.eye(9).view(9, 1, 3, 3).repeat(channels, 1, 1, 1)


def neighbourhood(x: Tensor, kernel: Tensor, stride: int = 1) -> Tensor:
    """The 3×3 neighbourhood of every output pixel, ``(N, C, H, W) -> (N, C * 9, H/stride, W/stride)``.

    Channel ``c * 9 + 3 * row + col`` holds input pixel ``(stride * i + row - 1, stride * j + col - 1)``
    (zero outside the image), computed as a depthwise convolution with the one-hot ``kernel`` of
    :func:`neighbourhood_kernel`. That is exact (one product with 1, the rest with 0), a single
    Conv node in ONNX, and its gradient is one transposed convolution — unlike nine slices,
    whose backward pass zero-fills nine padded copies.
    """
    return F.conv2d(x, kernel, stride=stride, padding=1, groups=x.shape[1])


class PointwiseConv(nn.Module):
    """1×1 (×1) convolution that accepts 4-D features or 5-D volumes with the same weight."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, x: Tensor) -> Tensor:
        kernel = self.weight.view(*self.weight.shape, *([1] * (x.ndim - 2)))
        return F.conv3d(x, kernel) if x.ndim == 5 else F.conv2d(x, kernel)


class SiteConvBnReLU(nn.Module):
    """Convolution between site levels, masked batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = SiteConv3d(in_channels, out_channels, stride)
        self.bn = MaskedBatchNorm(out_channels)

    def forward(self, x: Tensor, source: PlaneSites, target: PlaneSites, mask: Tensor) -> Tensor:
        return torch.relu(self.bn(self.conv(x, source, target), mask))


class SiteResidualBlock(nn.Module):
    """ResNet basic block on occupied sites (two submanifold 3×3×3 convolutions)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = SiteConv3d(channels, channels)
        self.bn1 = MaskedBatchNorm(channels)
        self.conv2 = SiteConv3d(channels, channels)
        self.bn2 = MaskedBatchNorm(channels)

    def forward(self, x: Tensor, sites: PlaneSites, mask: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x, sites, sites), mask))
        out = self.bn2(self.conv2(out, sites, sites), mask)
        return torch.relu(out + x)


class ResidualBlock2d(nn.Module):
    """ResNet basic block; a strided 1×1 projection keeps the skip path when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.skip = (
            nn.Identity()
            if stride == 1 and in_channels == out_channels
            else nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.skip(x))


class PlaneAxisConv(nn.Module):
    """(3, 1, 1) convolution along the plane axis of a plane-major volume ``(N * K, C, H, W)``.

    The neighbouring planes are stacked as channels and mixed by one 1×1 Conv2d; same result
    as ``Conv3d(kernel=(3, 1, 1), padding=(1, 0, 0))`` on ``(N, C, K, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3 * in_channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor, planes: int) -> Tensor:
        mixed: Tensor = self.conv(plane_neighbours(x, planes))
        return mixed


def plane_neighbours(x: Tensor, planes: int) -> Tensor:
    """Planes k-1, k, k+1 (zero beyond the ends) stacked as channels: ``(N * K, C, H, W) -> (N * K, 3C, H, W)``."""
    padded = F.pad(x.unflatten(0, (-1, planes)), (0, 0, 0, 0, 0, 0, 1, 1))  # (N, K + 2, C, H, W)
    return torch.cat([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]], dim=2).flatten(0, 1)


class PseudoConv3dBlock(nn.Module):
    """CostDCNet's "pseudo-3D" block: (1,3,3) conv over the image, then (3,1,1) over planes,
    each with batch norm and ELU, no bias.

    The volume is plane-major, ``(N * K, C, H, W)``, so every convolution is a Conv2d: PyTorch's
    CPU Conv3d is several times slower for these kernels, and ONNX Runtime and TensorRT run 2D
    convolutions at least as fast as 3D ones.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.image_conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.image_bn = nn.BatchNorm2d(out_channels)
        self.plane_conv = PlaneAxisConv(out_channels, out_channels)
        self.plane_bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor, planes: int) -> Tensor:
        x = F.elu(self.image_bn(self.image_conv(x)))
        return F.elu(self.plane_bn(self.plane_conv(x, planes)))


def max_pool_volume(x: Tensor, planes: int) -> Tensor:
    """``MaxPool3d(2)`` of a plane-major volume ``(N * K, C, H, W) -> (N * K/2, C, H/2, W/2)``."""
    pooled: Tensor = F.max_pool2d(x, 2).unflatten(0, (-1, planes // 2, 2))
    return pooled.amax(dim=2).flatten(0, 1)


def upsample_volume(x: Tensor) -> Tensor:
    """Nearest ×2 upsampling of a plane-major volume ``(N * K, C, H, W) -> (N * 2K, C, 2H, 2W)``.

    Broadcast + reshape: the same numbers as ``F.interpolate(mode="nearest")`` on the 5-D
    volume, exported as Expand/Reshape, which ONNX Runtime runs several times faster than Resize.
    """
    batch_planes, channels, height, width = x.shape
    expanded = x.view(batch_planes, 1, channels, height, 1, width, 1).expand(-1, 2, -1, -1, 2, -1, 2)
    return expanded.reshape(2 * batch_planes, channels, 2 * height, 2 * width)
