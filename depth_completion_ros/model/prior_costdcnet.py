"""CostDCNet anchored on a per-pixel prior: it refines the classical fill instead of replacing it.

    rgb (N,3,h,w), depth (N,1,h,w) metres, prior (N,1,h,w) metres — at the working resolution
      │
      ├─ offset of each measured pixel from the prior, log(depth / prior), binned into the K
      │  hypotheses o_k (signed log offsets: −offsets[::-1] ‖ offsets) → sites + residual
      ├─ Encoder2D(rgb ‖ log(prior / scale) ‖ valid ‖ log offset)   (scale: geometric mean of the prior)
      ├─ Encoder3D(occupied offset bins: [valid, residual])
      └─ offset-major volume ─► CostVolumeUNet ─► logits + per-offset bias ─► softmax p_k
           correction c = Σ_k p_k o_k (log depth), completed = prior · exp(c)
           confidence = mass of the most likely window of three offsets

Everything is relative to the prior and in log-depth, so the same weights work for a tabletop
at 0.4 m and a room at 8 m. The logits layer starts at zero weights and a bias symmetric around
offset 0, and the correction is computed as Σ_{k ≥ K/2} (p_k − p_{K−1−k}) o_k: at initialisation
the output *is* the prior, bit for bit, and training only moves it where data says so.
:mod:`.resolution` brings frames to the working resolution and the correction back to full
resolution. See docs/model.md.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .costdcnet import (
    CostVolumeUNet,
    Encoder2D,
    Encoder3D,
    Prediction,
    placement_weights,
    plane_confidence,
    plane_sum,
    softmax_over_planes,
)
from .layers import PlaneSites, cell_histogram, plane_one_hot
from .resolution import (
    MIN_PRIOR_DEPTH,
    WorkingInputs,
    apply_correction,
    padded_size,
    to_working_resolution,
    working_size,
)

#: Log offsets of measured pixels are scaled by this for the 3D encoder's residual channel
#: (0.1 in log depth, ~10 %, becomes 1) and clamped to ±1.
RESIDUAL_SCALE = 10.0
#: Input channels of the 2D encoder: rgb, log(prior / scale), validity, log offset.
ENCODER2D_CHANNELS = 6


class FullResolutionPrediction(NamedTuple):
    """:meth:`PriorCostDCNet.predict_full`: frame-sized ``depth`` and ``confidence`` (N, 1, H, W),
    the working-resolution :class:`Prediction` and the inputs it was made from."""

    depth: Tensor
    confidence: Tensor
    working: Prediction
    inputs: WorkingInputs


class PriorCostDCNet(nn.Module):
    """``forward(rgb, depth, prior) -> (completed_depth, confidence)`` at the working resolution.

    * ``rgb`` (N, 3, H, W) float 0–1; ``depth`` (N, 1, H, W) metres, 0/NaN/inf/negative = hole;
      ``prior`` (N, 1, H, W) metres, dense and positive (the classical fill of ``depth``).
    * ``H`` and ``W`` multiples of ``config.total_stride``.
    * ``completed_depth`` = prior · exp(correction), correction within ±``offsets[-1]`` in log
      depth; ``confidence`` in 0–1.

    :meth:`predict_full` runs the whole frame path (working resolution, network, edge-aware
    upsampling, measured pixels kept) for training and the PyTorch reference.
    """

    input_names = ("rgb", "depth", "prior")
    offsets: Tensor
    bin_edges: Tensor
    mirror: Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.anchor != "prior":
            raise ValueError(f"PriorCostDCNet needs a config with anchor: prior, {config.name!r} has {config.anchor!r}")
        self.config = config
        self.encoder2d = Encoder2D(config, in_channels=ENCODER2D_CHANNELS)
        self.encoder3d = Encoder3D(config, dense=config.encoder3d == "dense")
        self.cost_volume = CostVolumeUNet(config)
        half = len(config.offsets)
        positive = torch.tensor(config.offsets, dtype=torch.float32)
        self.register_buffer("offsets", torch.cat([-positive.flip(0), positive]), persistent=False)
        # Where measured pixels are placed: midpoints between hypotheses, except that the edge
        # between the two central ones moves from 0 to -offsets[0]. Most measured pixels sit
        # within a fraction of a per cent of the prior; an edge at exactly 0 would sort them by
        # the sign of that noise, and the network's input would flip with it.
        edges = (self.offsets[1:] + self.offsets[:-1]) / 2
        edges[half - 1] = -positive[0]
        self.register_buffer("bin_edges", edges, persistent=False)
        self.register_buffer("mirror", torch.arange(half - 1, -1, -1), persistent=False)
        # Per-offset logit bias: peaked at the two hypotheses around 0, symmetric, so the
        # expected offset is exactly 0 while the final layer's weights are 0.
        distance_from_centre = torch.cat([torch.arange(half - 1, -1, -1), torch.arange(half)]).float()
        self.offset_bias = nn.Parameter(-config.init_logit_decay * distance_from_centre)
        nn.init.zeros_(self.cost_volume.head.weight)
        assert self.cost_volume.head.bias is not None  # the U-Net's output convolution has a bias
        nn.init.zeros_(self.cost_volume.head.bias)

    # -- the network (working resolution; the ONNX graph)

    def check_inputs(self, rgb: Tensor, depth: Tensor, prior: Tensor) -> None:
        """Raise ``ValueError`` naming the problem for inputs the network cannot take."""
        for name, tensor, channels in (("rgb", rgb, 3), ("depth", depth, 1), ("prior", prior, 1)):
            if not isinstance(tensor, Tensor):
                raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
            if tensor.ndim != 4 or tensor.shape[1] != channels:
                raise ValueError(f"{name} must have shape (N, {channels}, H, W), got {tuple(tensor.shape)}")
            if not tensor.is_floating_point():
                raise ValueError(f"{name} must be a float tensor, got {tensor.dtype}")
        if rgb.shape[0] != depth.shape[0] or rgb.shape[2:] != depth.shape[2:] or prior.shape != depth.shape:
            raise ValueError(f"rgb {tuple(rgb.shape)}, depth {tuple(depth.shape)} and prior {tuple(prior.shape)} "
                             "differ in batch or image size")
        check_prior(prior)
        height, width = depth.shape[2:]
        stride = self.config.total_stride
        if height % stride or width % stride or height == 0 or width == 0:
            raise ValueError(f"image size {width}x{height} (WxH) is not a positive multiple of the network stride "
                             f"{stride}; use to_working_resolution, which pads")

    def forward(self, rgb: Tensor, depth: Tensor, prior: Tensor) -> tuple[Tensor, Tensor]:
        """``(completed_depth, confidence)``, the outputs of every backend and of the ONNX graph."""
        prediction = self.predict(rgb, depth, prior)
        return prediction.depth, prediction.confidence

    def predict(self, rgb: Tensor, depth: Tensor, prior: Tensor) -> Prediction:
        """Depth, confidence and the (N, K, H, W) offset probabilities (for losses on the distribution)."""
        if not torch.onnx.is_in_onnx_export():
            self.check_inputs(rgb, depth, prior)
        config, scale = self.config, self.config.up_scale
        prior = prior.clamp_min(MIN_PRIOR_DEPTH)
        log_prior = prior.log()
        valid = ((depth > 0) & (depth < float("inf"))).to(depth.dtype)
        log_offset = (torch.where(valid > 0, depth, prior).log() - log_prior) * valid
        plane = plane_sum((log_offset.unsqueeze(1) > self.bin_edges.view(1, -1, 1, 1, 1)).to(depth.dtype)) * valid
        one_hot = plane_one_hot(plane, valid, config.num_planes)
        centre = plane_sum(one_hot, self.offsets).unsqueeze(1)
        residual = ((log_offset - centre) * RESIDUAL_SCALE).clamp(-1.0, 1.0) * valid
        sites = PlaneSites(plane, valid)

        relative_log_prior = log_prior - log_prior.mean(dim=(2, 3), keepdim=True)
        features2d = self.encoder2d(torch.cat([rgb, relative_log_prior, valid, log_offset.clamp(-1.0, 1.0)], dim=1))
        volume3d = self.encoder3d(torch.cat([valid, residual], dim=1), sites, one_hot)
        placement = placement_weights(cell_histogram(one_hot, scale))
        volume = torch.cat([volume3d, features2d.unsqueeze(1) * placement.unsqueeze(2)], dim=2)
        logits = self.cost_volume(volume.flatten(0, 1)).unflatten(0, (-1, config.num_planes))  # (N, K, u², h, w)
        probabilities = softmax_over_planes(logits + self.offset_bias.view(1, -1, 1, 1, 1))
        half = config.num_planes // 2
        # Σ_k p_k o_k with mirrored pairs subtracted first: exactly 0 for a symmetric distribution.
        imbalance = probabilities[:, half:] - probabilities[:, :half].index_select(1, self.mirror)
        correction = plane_sum(imbalance, self.offsets[half:])
        completed = prior * torch.exp(F.pixel_shuffle(correction, scale))
        confidence = F.pixel_shuffle(plane_confidence(probabilities), scale)
        return Prediction(completed, confidence, F.pixel_shuffle(probabilities.flatten(1, 2), scale))

    # -- the whole frame

    def working_size(self, width: int, height: int) -> tuple[int, int]:
        """Unpadded working resolution for a ``width`` × ``height`` frame."""
        return working_size(width, height, self.config.working_area)

    def padded_working_size(self, width: int, height: int) -> tuple[int, int]:
        """The network's input size for a frame: the working size padded to the stride."""
        return padded_size(*self.working_size(width, height), self.config.total_stride)

    def predict_full(
        self, rgb: Tensor, depth: Tensor, prior: Tensor, size: tuple[int, int] | None = None
    ) -> FullResolutionPrediction:
        """Frame in, frame out: ``rgb``/``depth``/``prior`` (N, C, H, W) at any size; ``size``
        overrides the working resolution (training draws it to see many scales)."""
        check_prior(prior, like=depth)
        size = size or self.working_size(depth.shape[-1], depth.shape[-2])
        inputs = to_working_resolution(rgb, depth, prior, size, self.config.total_stride)
        working = self.predict(inputs.rgb, inputs.depth, inputs.prior)
        full_depth, full_confidence = apply_correction(inputs, working.depth, working.confidence, rgb, depth, prior,
                                                       self.guide_sigmas, self.config.correction_ramp_cells)
        return FullResolutionPrediction(full_depth, full_confidence, working, inputs)

    @property
    def guide_sigmas(self) -> tuple[float, float]:
        """Range sigmas of the edge-aware upsampling: log depth, grey level."""
        return self.config.guide_sigma_depth, self.config.guide_sigma_color


def check_prior(prior: Tensor | None, like: Tensor | None = None) -> None:
    """A prior must exist, match the depth's shape, be finite and positive everywhere."""
    if prior is None:
        raise ValueError("this model refines a prior depth (the classical fill): got prior=None")
    if like is not None:
        check_prior_shape(prior, like)
    if not bool(torch.isfinite(prior).all()):
        raise ValueError("prior holds NaN or inf: it must be a dense, finite depth (the classical fill)")
    if not bool((prior > 0).all()):
        raise ValueError(f"prior has {int((prior <= 0).sum())} pixels <= 0: it must be dense and positive "
                         "(the classical fill leaves none when the frame has any valid depth)")


def check_prior_shape(prior: Tensor, like: Tensor) -> None:
    """The prior is the classical fill of ``like`` (the depth), so it must have its shape."""
    if tuple(prior.shape) != tuple(like.shape):
        raise ValueError(f"prior has shape {tuple(prior.shape)}, the depth {tuple(like.shape)}: "
                         "the prior must be the classical fill of this depth, at its size")
