"""Run a prior-anchored network on whole frames through any backend.

The network (PyTorch, ONNX Runtime, TensorRT) only ever sees the working resolution; this is
the frame path around it, the same functions training uses
(:meth:`PriorCostDCNet.predict_full`): frames to the working resolution, the backend, the
correction upsampled edge-aware onto the full-resolution prior, measured pixels kept.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .config import ModelConfig
from .prior_costdcnet import check_prior, check_prior_shape
from .resolution import WorkingInputs, apply_correction, to_working_resolution, working_size

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
    return _run(infer, _prepare_checked(config, rgb, depth_t, prior_t, None))


def refine_usable_frames(
    infer: WorkingInference,
    config: ModelConfig,
    rgb: np.ndarray | Tensor,
    depth: np.ndarray | Tensor,
    prior: np.ndarray | Tensor,
) -> tuple[Tensor, Tensor]:
    """:func:`refine_frames` for the frames that have a usable prior (dense and positive); a frame
    without one (no valid depth at all, so the classical fill is empty) keeps its prior with
    confidence 0. What the pipeline runs: a blank frame must not stop a stream.

    The same as :func:`prepare_refinement`, the network on its ``working`` inputs, then
    :func:`finish_refinement`: the halves let a stream run the network on one frame while the
    next is prepared and the previous finished.
    """
    return _run(infer, prepare_refinement(config, rgb, depth, prior))


@dataclass(frozen=True)
class RefinedFrames:
    """The frames with a usable prior, as the network and the edge-aware upsampling see them."""

    working: WorkingInputs  # the network's inputs at the working resolution
    rgb: Tensor  # (b, 3, H, W), uint8 or 0–1
    depth: Tensor  # (b, 1, H, W)
    prior: Tensor  # (b, 1, H, W)


@dataclass(frozen=True)
class PreparedRefinement:
    """Frames ready for the network. ``frames`` holds the ones with a usable prior (None when no
    frame has one: each then keeps its prior); ``usable`` their indices (None when all are)."""

    config: ModelConfig
    prior: Tensor  # (B, H, W), every frame
    frames: RefinedFrames | None
    usable: Tensor | None

    @property
    def working(self) -> WorkingInputs | None:
        """The network's inputs; None when there is nothing to run it on."""
        return None if self.frames is None else self.frames.working


def prepare_refinement(
    config: ModelConfig, rgb: np.ndarray | Tensor, depth: np.ndarray | Tensor, prior: np.ndarray | Tensor
) -> PreparedRefinement:
    """The network's working-resolution inputs for the frames with a usable prior (arguments as
    :func:`refine_frames`)."""
    prior_t = torch.as_tensor(prior, dtype=torch.float32)
    depth_t = torch.as_tensor(depth, dtype=torch.float32, device=prior_t.device)
    check_prior_shape(prior_t, depth_t)
    usable = ((prior_t > 0) & (prior_t < torch.inf)).flatten(1).all(dim=1)  # NaN fails both
    picked = None
    if not bool(usable.all()):
        picked = usable.nonzero().flatten()
        # numpy colour is indexed with a numpy index
        rgb = rgb[picked.cpu().numpy()] if isinstance(rgb, np.ndarray) else rgb[picked]
        depth_t = depth_t[picked]
    return _prepare_checked(config, rgb, depth_t, prior_t, picked)


def finish_refinement(
    prepared: PreparedRefinement, outputs: tuple[Tensor, Tensor | None] | None
) -> tuple[Tensor, Tensor]:
    """Refined depth and confidence (B, H, W) from the network's working-resolution ``outputs``
    (completed depth, confidence or None) for ``prepared`` (None when it has no working inputs)."""
    frames = prepared.frames
    if frames is None or outputs is None:
        return prepared.prior.clone(), torch.zeros_like(prepared.prior)
    completed_w, confidence_w = outputs
    if confidence_w is None:
        confidence_w = torch.ones_like(completed_w)
    config = prepared.config
    refined, confidence = apply_correction(frames.working, completed_w, confidence_w, frames.rgb, frames.depth,
                                           frames.prior, (config.guide_sigma_depth, config.guide_sigma_color),
                                           config.correction_ramp_cells)
    if prepared.usable is None:
        return refined[:, 0], confidence[:, 0]
    all_refined, all_confidence = prepared.prior.clone(), torch.zeros_like(prepared.prior)
    all_refined[prepared.usable], all_confidence[prepared.usable] = refined[:, 0], confidence[:, 0]
    return all_refined, all_confidence


def _run(infer: WorkingInference, prepared: PreparedRefinement) -> tuple[Tensor, Tensor]:
    """The network on ``prepared``'s working inputs, brought back to the frames."""
    working = prepared.working
    return finish_refinement(prepared, None if working is None else infer(working.rgb, working.depth, working.prior))


def _prepare_checked(
    config: ModelConfig, rgb: np.ndarray | Tensor, depth: Tensor, prior: Tensor, usable: Tensor | None
) -> PreparedRefinement:
    """Working inputs of ``depth`` (b, H, W) and ``rgb`` (the usable frames) with the usable frames'
    ``prior`` (``prior`` itself holds all B frames)."""
    if config.anchor != "prior":
        raise ValueError(f"refine_frames needs a prior-anchored model config, got {config.name!r} ({config.anchor})")
    usable_prior = prior if usable is None else prior[usable]
    if usable_prior.shape[0] == 0:
        return PreparedRefinement(config, prior, None, usable)
    rgb_t = _colour_tensor(rgb, depth.device)
    depth4, prior4 = depth[:, None], usable_prior[:, None]
    height, width = depth4.shape[-2:]
    working = to_working_resolution(rgb_t, depth4, prior4, working_size(width, height, config.working_area),
                                    config.total_stride)
    return PreparedRefinement(config, prior, RefinedFrames(working, rgb_t, depth4, prior4), usable)


def _colour_tensor(values: np.ndarray | Tensor, device: torch.device) -> Tensor:
    """``values`` (B, H, W, 3) as a (B, 3, H, W) view on ``device``. uint8 stays uint8: the frame
    path converts only the pixels it reads (:func:`.resolution.unit_colour`); any other type becomes 0–1
    float32. A read-only numpy array (zero-copy decoding returns views of the message buffer) is
    copied first: torch wraps non-writable memory only with a warning."""
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        values = values.copy()
    colour = torch.as_tensor(values, device=device).permute(0, 3, 1, 2)
    return colour if colour.dtype == torch.uint8 else colour.float() / 255.0
