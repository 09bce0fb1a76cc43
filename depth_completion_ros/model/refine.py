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
from .prior_costdcnet import check_prior, check_prior_shape
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

    ``rgb`` (B, H, W, 3) 0–255, normally uint8, ``depth`` (B, H, W) metres after the midpoint
    pre-pass (0 = hole), ``prior`` (B, H, W) metres: the classical fill of ``depth`` (dense,
    positive). numpy inputs are wrapped without copying. ``infer`` runs the network at the
    working resolution.
    """
    depth_t = torch.as_tensor(depth, dtype=torch.float32)
    prior_t = None if prior is None else torch.as_tensor(prior, dtype=torch.float32, device=depth_t.device)
    check_prior(prior_t, like=depth_t)
    return _refine_checked(infer, config, rgb, depth_t, prior_t)


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
    depth_t = torch.as_tensor(depth, dtype=torch.float32, device=prior_t.device)
    check_prior_shape(prior_t, depth_t)
    usable = ((prior_t > 0) & (prior_t < torch.inf)).flatten(1).all(dim=1)  # NaN fails both
    if bool(usable.all()):
        return _refine_checked(infer, config, rgb, depth_t, prior_t)  # what check_prior checks: done above
    refined, confidence = prior_t.clone(), torch.zeros_like(prior_t)
    if bool(usable.any()):
        picked = usable.nonzero().flatten().cpu().numpy()  # indexes numpy colour and tensors alike
        refined[picked], confidence[picked] = _refine_checked(infer, config, rgb[picked], depth_t[picked],
                                                              prior_t[picked])
    return refined, confidence


def _refine_checked(
    infer: WorkingInference, config: ModelConfig, rgb: np.ndarray | Tensor, depth: Tensor, prior: Tensor
) -> tuple[Tensor, Tensor]:
    """:func:`refine_frames` on float32 ``depth`` and a ``prior`` that passed :func:`check_prior`."""
    if config.anchor != "prior":
        raise ValueError(f"refine_frames needs a prior-anchored model config, got {config.name!r} ({config.anchor})")
    rgb_t = _colour_tensor(rgb, depth.device)
    depth, prior = depth[:, None], prior[:, None]
    height, width = depth.shape[-2:]
    working = to_working_resolution(rgb_t, depth, prior, working_size(width, height, config.working_area),
                                    config.total_stride)
    completed_w, confidence_w = infer(working.rgb, working.depth, working.prior)
    if confidence_w is None:
        confidence_w = torch.ones_like(completed_w)
    refined, confidence = apply_correction(working, completed_w, confidence_w, rgb_t, depth, prior,
                                           (config.guide_sigma_depth, config.guide_sigma_color))
    return refined[:, 0], confidence[:, 0]


def _colour_tensor(values: np.ndarray | Tensor, device: torch.device) -> Tensor:
    """``values`` (B, H, W, 3) as a (B, 3, H, W) view on ``device``. uint8 stays uint8: the frame
    path converts only the pixels it reads (:func:`.resolution.unit_colour`); any other type becomes 0–1
    float32. A read-only numpy array (zero-copy decoding returns views of the message buffer) is
    copied first: torch wraps non-writable memory only with a warning."""
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        values = values.copy()
    colour = torch.as_tensor(values, device=device).permute(0, 3, 1, 2)
    return colour if colour.dtype == torch.uint8 else colour.float() / 255.0
