"""Working resolution of a prior-anchored network, and the edge-aware way back to the frame.

One model serves 320×256 … 1920×1080 frames: every frame is brought to a *working resolution*
of about ``working_area`` pixels with the frame's aspect ratio (:func:`working_size`), padded
to the network stride; the network's log-depth correction is then brought back to the frame's
own size by :func:`edge_aware_upsample` and applied to the full-resolution prior. The same
scene at two resolutions thus gives the network the same input, and the output keeps the
frame's own edges (those of the prior and the image), not the working grid's.

Everything here is plain torch, vectorised, and shared by training (differentiable, batched)
and the inference library (after any backend: PyTorch, ONNX Runtime, TensorRT).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

#: Priors are clamped to at least this depth (m) before taking logarithms.
MIN_PRIOR_DEPTH = 1e-3
#: ITU-R BT.601 luma weights: the grey guide of the edge-aware upsampling.
LUMA = (0.299, 0.587, 0.114)
#: Added to the range weights so a pixel unlike all four neighbouring cells falls back to
#: plain bilinear interpolation instead of dividing by ~0.
RANGE_WEIGHT_FLOOR = 1e-4


def working_size(width: int, height: int, area: int) -> tuple[int, int]:
    """``(w, h)`` with the frame's aspect ratio and about ``area`` pixels (never larger than the frame)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    scale = min(1.0, math.sqrt(area / (width * height)))
    return max(1, round(width * scale)), max(1, round(height * scale))


def padded_size(width: int, height: int, multiple: int) -> tuple[int, int]:
    """The next multiples of the network stride."""
    return -(-width // multiple) * multiple, -(-height // multiple) * multiple


@dataclass(frozen=True)
class WorkingInputs:
    """The network's inputs at the working resolution, padded bottom/right to the stride.

    ``rgb`` (N, 3, h', w') 0–1, ``depth`` (N, 1, h', w') metres (0 = hole), ``prior`` (N, 1, h', w')
    metres; ``size`` is the unpadded working ``(w, h)``; ``guide`` (N, 2, h, w) is the unpadded
    log-prior and grey image the upsampling compares the frame's pixels with.
    """

    rgb: Tensor
    depth: Tensor
    prior: Tensor
    size: tuple[int, int]
    guide: Tensor

    def crop(self, values: Tensor) -> Tensor:
        """A network output (N, C, h', w') without the stride padding."""
        width, height = self.size
        return values[..., :height, :width]


def unit_colour(rgb: Tensor) -> Tensor:
    """Colour as floats in 0–1. uint8 frames (inference) are converted only where the frame path
    reads them (the working-resolution resize, the guide at the holes) instead of whole up front;
    float colour (training, already 0–1) passes through untouched, so gradients are kept. The
    converted copy is laid out planar (N, 3, H, W) whatever the input's strides: an interleaved
    camera frame viewed as (N, 3, H, W) area-resizes ~30 % slower in that layout."""
    if rgb.dtype != torch.uint8:
        return rgb
    return rgb.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)


def grey(rgb: Tensor) -> Tensor:
    """(N, 3, ...) -> (N, 1, ...) luma: images (N, 3, H, W) and pixel lists (P, 3) alike."""
    weights = torch.tensor(LUMA, dtype=rgb.dtype, device=rgb.device).view(1, 3, *([1] * (rgb.dim() - 2)))
    return (rgb * weights).sum(dim=1, keepdim=True)


def guide_image(rgb: Tensor, prior: Tensor) -> Tensor:
    """(N, 2, ...): log prior depth and grey level, the two cues for where corrections may spread.

    ``rgb`` (N, 3, ...) 0–1 and ``prior`` (N, 1, ...): whole images or the pixels being upsampled."""
    return torch.cat([prior.clamp_min(MIN_PRIOR_DEPTH).log(), grey(rgb)], dim=1)


def to_working_resolution(
    rgb: Tensor, depth: Tensor, prior: Tensor, size: tuple[int, int], multiple: int
) -> WorkingInputs:
    """Resize full-resolution ``rgb`` (N,3,H,W), ``depth`` and ``prior`` (N,1,H,W) to ``size`` (w, h).

    ``rgb`` is 0–1 floats or uint8 0–255 (:func:`unit_colour`).

    Colour and prior are area-averaged (the prior is dense, so averaging is exact where a cell
    is one surface and a blend across a depth edge); measured depth is resized by nearest
    neighbour, which never invents depths between a hole and a surface. At depth edges and on
    textured surfaces the two differ, and the network sees that difference.
    """
    width, height = size
    shrink = width < rgb.shape[-1] or height < rgb.shape[-2]
    mode = "area" if shrink else "bilinear"
    options = {} if shrink else {"align_corners": False}
    rgb_w = F.interpolate(unit_colour(rgb), size=(height, width), mode=mode, **options)
    prior_w = F.interpolate(prior.clamp_min(MIN_PRIOR_DEPTH), size=(height, width), mode=mode, **options)
    depth_w = F.interpolate(depth, size=(height, width), mode="nearest-exact")
    guide = guide_image(rgb_w, prior_w)
    pad_w, pad_h = padded_size(width, height, multiple)[0] - width, padded_size(width, height, multiple)[1] - height
    if pad_w or pad_h:
        rgb_w = F.pad(rgb_w, (0, pad_w, 0, pad_h), mode="replicate")
        prior_w = F.pad(prior_w, (0, pad_w, 0, pad_h), mode="replicate")
        depth_w = F.pad(depth_w, (0, pad_w, 0, pad_h))
    return WorkingInputs(rgb_w, depth_w, prior_w, (width, height), guide)


def _source_coordinates(full: int, low: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """For each full-resolution row (or column): the two low-resolution neighbours and the
    bilinear fraction towards the second (pixel-centre aligned, clamped at the borders)."""
    position = ((torch.arange(full, device=device, dtype=dtype) + 0.5) * (low / full) - 0.5).clamp(0, low - 1)
    first = position.floor()
    fraction = position - first
    first = first.long()
    return first, (first + 1).clamp(max=low - 1), fraction


def edge_aware_upsample(
    values: Tensor,
    guide_low: Tensor,
    pixel_guide: Tensor,
    sigmas: tuple[float, ...],
    pixels: tuple[Tensor, Tensor, Tensor],
    frame_size: tuple[int, int],
) -> Tensor:
    """Joint bilateral upsampling (Kopf et al. 2007) over the four neighbouring low-res cells.

    ``values`` (N, C, h, w) and ``guide_low`` (N, G, h, w) at the working resolution; ``pixels``
    the ``(frame, y, x)`` indices of the P pixels to compute in a frame of ``frame_size``
    ``(H, W)`` (the holes: the cost follows the hole area, not the frame size) and
    ``pixel_guide`` (P, G) their guide values; ``sigmas`` one range sigma per guide channel.
    Returns (P, C). Each pixel averages its four bilinear neighbours, each weighted by its
    bilinear weight times ``exp(-Σ_g (Δguide_g / σ_g)² / 2)``: a correction made on one side of
    a depth or colour edge does not leak to the other. A weighted mean of zeros is exactly zero,
    so a zero correction stays the prior exactly. Differentiable with respect to ``values``.
    """
    if len(sigmas) != guide_low.shape[1] or guide_low.shape[1] != pixel_guide.shape[1]:
        raise ValueError(f"need one sigma per guide channel: {len(sigmas)} sigmas, guides "
                         f"{tuple(guide_low.shape)} and {tuple(pixel_guide.shape)}")
    _, channels, low_h, low_w = values.shape
    full_h, full_w = frame_size
    frame, y, x = pixels
    device, dtype = values.device, values.dtype
    first_row, second_row, row_fraction = (t[y] for t in _source_coordinates(full_h, low_h, device, dtype))
    first_col, second_col, col_fraction = (t[x] for t in _source_coordinates(full_w, low_w, device, dtype))
    inverse_sigma = torch.tensor([1.0 / s for s in sigmas], dtype=values.dtype, device=values.device)
    # One row per low-res cell (values, then scaled guide), rows contiguous: gathering P whole rows
    # is then one memcpy each, ~30x faster than from the (N, C, h, w) layout's strided view.
    cells = torch.cat([values, guide_low * inverse_sigma.view(1, -1, 1, 1)], dim=1)
    cells = cells.permute(0, 2, 3, 1).flatten(0, 2).contiguous()
    pixel_guide = pixel_guide * inverse_sigma  # (P, G)
    total = values.new_zeros(frame.shape[0], channels)
    weight_sum = values.new_zeros(frame.shape[0], 1)
    for row, row_weight in ((first_row, 1 - row_fraction), (second_row, row_fraction)):
        for col, col_weight in ((first_col, 1 - col_fraction), (second_col, col_fraction)):
            picked = cells.index_select(0, (frame * low_h + row) * low_w + col)  # (P, C + G)
            distance = (picked[:, channels:] - pixel_guide).square().sum(dim=1, keepdim=True)
            weight = (torch.exp(-0.5 * distance) + RANGE_WEIGHT_FLOOR) * (row_weight * col_weight).unsqueeze(1)
            total = total + weight * picked[:, :channels]
            weight_sum = weight_sum + weight
    return total / weight_sum


def measurement_ramp(depth_w: Tensor, cells: int) -> Tensor:
    """(N, 1, h, w) weights in [0, 1]: 0 at working cells with a measurement, rising by
    ``1 / cells`` per cell of (chessboard) distance from the nearest one, 1 from ``cells`` away.

    Why: near its measurements a hole is bridged best by the measurements themselves (the
    prior), and the network, which sees the frame at about a quarter of its width, is least
    reliable there; its corrections pay off in the interior of larger holes (docs/model.md).
    ``cells = 0`` gives all ones (no ramp). Not differentiable (nothing to learn in it).
    """
    if cells <= 0:
        return torch.ones_like(depth_w)
    measured = depth_w > 0
    distance = _chessboard_distance(measured) if depth_w.device.type == "cpu" else _dilation_distance(measured, cells)
    return (distance.clamp(max=cells) / cells).to(depth_w.dtype)


def _chessboard_distance(measured: Tensor) -> Tensor:
    """Chessboard distance of every cell to the nearest measured one (CPU: OpenCV's exact
    two-pass transform, ~20x faster than the dilations of :func:`_dilation_distance`)."""
    holes = (~measured).to(torch.uint8).numpy()
    distance = np.stack([cv2.distanceTransform(frame[0], cv2.DIST_C, 3) for frame in holes])
    return torch.from_numpy(distance)[:, None]


def _dilation_distance(measured: Tensor, cells: int) -> Tensor:
    """:func:`_chessboard_distance` capped at ``cells``, by ``cells - 1`` 3x3 dilations on any device."""
    reached = measured.float()
    distance = 1.0 - reached
    for _ in range(cells - 1):
        reached = F.max_pool2d(reached, kernel_size=3, stride=1, padding=1)
        distance = distance + (1.0 - reached)
    return distance


def apply_correction(
    working: WorkingInputs,
    completed_w: Tensor,
    confidence_w: Tensor,
    rgb: Tensor,
    depth: Tensor,
    prior: Tensor,
    sigmas: tuple[float, float],
    ramp_cells: int = 0,
) -> tuple[Tensor, Tensor]:
    """Full-resolution ``(depth, confidence)`` from the network's working-resolution outputs.

    The correction ``log(completed_w / prior_w)``, scaled by :func:`measurement_ramp` over
    ``ramp_cells`` cells, and the confidence are upsampled edge-aware at the holes of ``depth``
    and the correction is applied to the full-resolution ``prior`` there; pixels with measured
    ``depth`` keep it exactly (confidence 1 there). ``rgb`` is 0–1 floats or uint8
    (:func:`unit_colour`). Only the hole pixels are read, computed and written (one copy of
    ``depth`` and one of the confidence), so the cost follows the hole area.
    """
    completed_w, confidence_w = working.crop(completed_w), working.crop(confidence_w)
    prior_w = working.crop(working.prior)
    correction_w = torch.log(completed_w.clamp_min(MIN_PRIOR_DEPTH) / prior_w)
    if ramp_cells > 0:
        correction_w = correction_w * measurement_ramp(working.crop(working.depth), ramp_cells)
    height, width = depth.shape[-2:]
    holes = (depth > 0).logical_not_().flatten().nonzero().squeeze(1)  # flat indices into (N, 1, H, W)
    frame, y, x = holes // (height * width), holes // width % height, holes % width
    hole_prior = prior.reshape(-1).index_select(0, holes).clamp_min(MIN_PRIOR_DEPTH)[:, None]  # (P, 1)
    hole_guide = guide_image(unit_colour(rgb[frame, :, y, x]), hole_prior)  # (P, 2)
    upsampled = edge_aware_upsample(torch.cat([correction_w, confidence_w], dim=1), working.guide, hole_guide,
                                    sigmas, (frame, y, x), (height, width))
    refined = depth.clone(memory_format=torch.contiguous_format)
    refined.view(-1).index_copy_(0, holes, hole_prior[:, 0] * torch.exp(upsampled[:, 0]))
    confidence = torch.ones_like(depth, memory_format=torch.contiguous_format)
    confidence.view(-1).index_copy_(0, holes, upsampled[:, 1])
    return refined, confidence
