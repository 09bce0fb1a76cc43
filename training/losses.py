"""Masked depth-regression losses.

Ground truth for depth completion is never dense: Matterport's rendered depth has holes, a
self-supervised target is only known where the raw sensor measured something. So every loss
here averages over the pixels whose target is valid (> 0) and nowhere else, and a pixel that
the *input* lacked (a hole the network had to fill) can weigh more than one it was given:
without that, the easy observed pixels dominate the average and the network learns to copy
its input (the seed's "poor where large regions are missing").
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Depths are clamped to at least this (m) before the log of ``log_l1`` and ``log_l2``.
MIN_LOG_DEPTH = 1e-3
LOSS_KINDS = ("l1", "l2", "smooth_l1", "log_l1", "log_l2")


@dataclass(frozen=True)
class LossConfig:
    """``kind``: l1 (the paper's), l2, smooth_l1 (Huber with ``beta`` metres), log_l1 (L1 of
    log depth: a relative error, so a 1 m room and a 0.4 m tabletop weigh alike) or log_l2 (its
    square: still relative, but its optimum is the conditional *mean* of log depth rather than
    the median, so where a hole may belong to either side of a depth step the output hedges
    between them instead of committing to one; RMSE rewards the hedge, L1 the commitment);
    ``hole_weight``: weight of target pixels missing from the input relative to observed ones
    (1 = plain masked mean); ``observed_weight`` 0 trains on hole pixels only;
    ``plane_weight``: weight of :func:`plane_distribution_loss` added to the depth loss;
    ``anchor_weight`` (prior-anchored models): weight of the same cross-entropy at the *measured*
    pixels of the working resolution, towards their measured offset from the prior. The pipeline
    returns measured pixels as measured, so nothing else constrains the network's output there,
    yet it is what the edge-aware upsampling carries into the small holes between them: without
    this term a model can learn a bias that moves every small hole (training.checks)."""

    kind: str = "l1"
    hole_weight: float = 1.0
    observed_weight: float = 1.0
    beta: float = 0.1
    plane_weight: float = 0.0
    anchor_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in LOSS_KINDS:
            raise ValueError(f"unknown loss kind {self.kind!r} (use one of {', '.join(LOSS_KINDS)})")
        if self.hole_weight < 0 or self.observed_weight < 0 or self.hole_weight + self.observed_weight == 0:
            raise ValueError(
                f"loss weights must be >= 0 and not both 0, got hole_weight={self.hole_weight}, "
                f"observed_weight={self.observed_weight}"
            )
        if self.beta <= 0:
            raise ValueError(f"smooth_l1 beta must be positive, got {self.beta}")
        if self.plane_weight < 0 or self.anchor_weight < 0:
            raise ValueError(f"plane_weight and anchor_weight must be >= 0, got {self.plane_weight} and "
                             f"{self.anchor_weight}")


def pixel_weights(target: torch.Tensor, input_depth: torch.Tensor, config: LossConfig) -> torch.Tensor:
    """Per-pixel weights: 0 where the target is invalid, ``hole_weight`` where the input was
    missing, ``observed_weight`` where it was given."""
    valid = target > 0
    hole = valid & (input_depth <= 0)
    observed = valid & (input_depth > 0)
    return hole.to(target.dtype) * config.hole_weight + observed.to(target.dtype) * config.observed_weight


def masked_depth_loss(
    pred: torch.Tensor, target: torch.Tensor, input_depth: torch.Tensor, config: LossConfig = LossConfig()
) -> torch.Tensor:
    """Weighted mean of the per-pixel error over valid target pixels (a scalar).

    ``pred``, ``target`` and ``input_depth`` are (N, 1, H, W) metres with 0 = invalid. A batch
    with no valid target pixel gives 0 with a gradient (so DDP ranks stay in step), not NaN.
    """
    if pred.shape != target.shape or target.shape != input_depth.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)}, target {tuple(target.shape)} and input {tuple(input_depth.shape)} must match"
        )
    weights = pixel_weights(target, input_depth, config)
    if config.kind == "l1":
        error = (pred - target).abs()
    elif config.kind == "l2":
        error = (pred - target).square()
    elif config.kind in ("log_l1", "log_l2"):
        error = pred.clamp_min(MIN_LOG_DEPTH).log() - target.clamp_min(MIN_LOG_DEPTH).log()
        error = error.abs() if config.kind == "log_l1" else error.square()
    else:
        error = F.smooth_l1_loss(pred, target, reduction="none", beta=config.beta)
    # Invalid targets may hold anything the network predicts; zero them so 0 * inf cannot be NaN.
    error = torch.where(weights > 0, error, torch.zeros_like(error))
    return weighted_mean(error, weights)


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum(w * v) / sum(w)``; 0 (with a gradient) when every weight is 0."""
    return (values * weights).sum() / weights.sum().clamp_min(torch.finfo(weights.dtype).tiny)


def plane_targets(positions: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """The "two-hot" distribution over sorted hypotheses ``bins`` (K,) whose expectation is
    ``positions`` (N, 1, H, W), clamped to the bins' range; returns (N, K, H, W): weight
    ``1 - f`` on the hypothesis just below and ``f`` on the one above (linear between them).

    ``bins`` are absolute depths (evenly spaced planes) or log offsets around a prior (log-spaced).
    """
    bins = bins.to(positions.dtype)
    positions = positions.clamp(bins[0], bins[-1])
    above = torch.searchsorted(bins, positions.contiguous(), right=True).clamp(1, bins.numel() - 1)
    below = above - 1
    fraction = ((positions - bins[below]) / (bins[above] - bins[below])).clamp(0, 1)
    distribution = torch.zeros(positions.shape[0], bins.numel(), *positions.shape[2:], device=positions.device)
    distribution.scatter_(1, below, 1.0 - fraction)
    return distribution.scatter_add_(1, above, fraction)


def plane_distribution_loss(
    probabilities: torch.Tensor,
    target: torch.Tensor,
    input_depth: torch.Tensor,
    plane_depths: torch.Tensor,
    config: LossConfig = LossConfig(),
    positions: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy between the network's per-pixel plane probabilities and the two-hot target.

    ``positions`` is what the hypotheses ``plane_depths`` discretise (default ``target``: absolute
    planes; for a prior-anchored model the target's log offset from the prior).

    CostDCNet regresses depth as the expectation over K planes (soft-argmax). An L1 loss on that
    expectation alone says little about *how* the mass should sit, so the distribution sharpens
    slowly; supervising the distribution directly (as stereo cost-volume networks do) gives every
    plane a gradient and speeds up training. Weighted like :func:`masked_depth_loss`.
    """
    weights = pixel_weights(target, input_depth, config)
    log_probabilities = probabilities.float().clamp_min(1e-8).log()
    targets = plane_targets(target if positions is None else positions, plane_depths)
    cross_entropy = -(targets * log_probabilities).sum(dim=1, keepdim=True)
    return weighted_mean(cross_entropy, weights)
