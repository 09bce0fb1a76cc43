"""Run a prior-anchored network on whole frames through any backend.

The network (PyTorch, ONNX Runtime, TensorRT) only ever sees the working resolution; this is
the frame path around it, the same functions training uses
(:meth:`PriorCostDCNet.predict_full`): frames to the working resolution, the backend, the
correction upsampled edge-aware onto the full-resolution prior, measured pixels kept.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from .config import ModelConfig
from .prior_costdcnet import check_prior
from .resolution import apply_correction, to_working_resolution, working_size

#: ``infer(rgb, depth, prior) -> (completed_depth, confidence | None)`` on (N, C, h, w) tensors.
WorkingInference = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor | None]]


def refine_frames(
    infer: WorkingInference,
    config: ModelConfig,
    rgb: np.ndarray | Tensor,
    depth: np.ndarray | Tensor,
    prior: np.ndarray | Tensor,
) -> tuple[Tensor, Tensor]:
    """Refined depth and confidence (B, H, W) float32 tensors on the inputs' device.

    ``rgb`` (B, H, W, 3) uint8, ``depth`` (B, H, W) metres after the midpoint pre-pass (0 =
    hole), ``prior`` (B, H, W) metres: the classical fill of ``depth`` (dense, positive). numpy
    inputs are wrapped without copying. ``infer`` runs the network at the working resolution.
    """
    if config.anchor != "prior":
        raise ValueError(f"refine_frames needs a prior-anchored model config, got {config.name!r} ({config.anchor})")
    depth_t = torch.as_tensor(depth, dtype=torch.float32)
    prior_t = None if prior is None else torch.as_tensor(prior, dtype=torch.float32, device=depth_t.device)
    check_prior(prior_t, like=depth_t)
    rgb_t = _float_tensor(rgb, depth_t.device).permute(0, 3, 1, 2).div(255.0)
    depth_t, prior_t = depth_t[:, None], prior_t[:, None]
    height, width = depth_t.shape[-2:]
    working = to_working_resolution(rgb_t, depth_t, prior_t, working_size(width, height, config.working_area),
                                    config.total_stride)
    completed_w, confidence_w = infer(working.rgb, working.depth, working.prior)
    if confidence_w is None:
        confidence_w = torch.ones_like(completed_w)
    refined, confidence = apply_correction(working, completed_w, confidence_w, rgb_t, depth_t, prior_t,
                                           (config.guide_sigma_depth, config.guide_sigma_color))
    return refined[:, 0], confidence[:, 0]


def refine_usable_frames(
    infer: WorkingInference,
    config: ModelConfig,
    rgb: np.ndarray | Tensor,
    depth: np.ndarray | Tensor,
    prior: np.ndarray | Tensor,
) -> tuple[Tensor, Tensor]:
    """:func:`refine_frames` for the frames that have a usable prior (dense and positive); a frame
    without one (no valid depth at all, so the classical fill is empty) keeps its prior with
    confidence 0. What the pipeline runs: a blank frame must not stop a stream."""
    prior_t = torch.as_tensor(prior, dtype=torch.float32)
    usable = (prior_t.flatten(1) > 0).all(dim=1) & torch.isfinite(prior_t).flatten(1).all(dim=1)
    refined, confidence = prior_t.clone(), torch.zeros_like(prior_t)
    if bool(usable.all()):
        return refine_frames(infer, config, rgb, depth, prior_t)
    if bool(usable.any()):
        picked = usable.nonzero().flatten()
        refined[picked], confidence[picked] = refine_frames(
            infer, config, torch.as_tensor(rgb, device=prior_t.device)[picked],
            torch.as_tensor(depth, dtype=torch.float32, device=prior_t.device)[picked], prior_t[picked])
    return refined, confidence


def _float_tensor(values: np.ndarray | Tensor, device: torch.device) -> Tensor:
    """``values`` as float32 on ``device``. A numpy array is converted by numpy, which makes the
    one copy the conversion needs anyway: a zero-copy decoded image is a read-only view of the
    message buffer, which torch would wrap only with a warning."""
    if isinstance(values, np.ndarray):
        return torch.from_numpy(values.astype(np.float32)).to(device)
    return values.to(device=device, dtype=torch.float32)
