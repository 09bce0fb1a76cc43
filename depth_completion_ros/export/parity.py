"""Inputs and checks that prove an exported model computes what PyTorch computes.

Parity is checked on real frames where they exist (Matterport3D; for a prior-anchored model
also 7-Scenes and ClearGrasp frames at their own working resolutions) and on random input
otherwise; callers say loudly which one they used. The same inputs serve the ONNX export
(ONNX Runtime vs PyTorch) and the TensorRT build (engine vs ONNX Runtime).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..backends import CONFIDENCE_OUTPUT, DEPTH_OUTPUT, import_onnxruntime
from ..classical import classical_fill
from ..datasets import discover_frames, load_frame
from ..geometry import resize_color, resize_depth
from ..interpolation import midpoint_fill
from ..model import DepthNetwork, PriorCostDCNet, to_working_resolution
from ..resources import source_root

#: FP32 parity tolerance between ONNX Runtime and PyTorch, metres.
PARITY_TOLERANCE_M = 1e-3
#: Environment variable naming the folder of real frames for the parity checks.
PARITY_DATA_VARIABLE = "DC_SHARED_DATA"

#: Named network inputs (``model.input_names`` order) as float32 NCHW arrays.
NamedInputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class ParityResult:
    """Largest difference between two runtimes on one input."""

    name: str
    depth_max_abs_m: float
    confidence_max_abs: float

    @property
    def ok(self) -> bool:
        return self.depth_max_abs_m <= PARITY_TOLERANCE_M


def default_parity_data() -> Path | None:
    """``$DC_SHARED_DATA``, else the ``shared/data`` folder beside a source checkout (the
    project's development data), else None (an installed package has no frames of its own)."""
    if os.environ.get(PARITY_DATA_VARIABLE):
        return Path(os.environ[PARITY_DATA_VARIABLE])
    checkout = source_root()
    return checkout.parent / "shared" / "data" if checkout is not None else None


def parity_inputs(
    model: DepthNetwork, height: int, width: int, batch: int = 1, data_root: Path | None = None
) -> list[tuple[str, NamedInputs]]:
    """``(name, inputs)`` from real frames for ``model``; empty when the data folder is absent.

    ``data_root`` defaults to :func:`default_parity_data`. The plane model gets
    :func:`fitted_frames`; a prior-anchored model gets :func:`working_resolution_frames`
    (``height``/``width`` do not apply: each frame has its own).
    """
    if isinstance(model, PriorCostDCNet):
        return working_resolution_frames(model, batch, data_root)
    return fitted_frames(height, width, batch, data_root)


def fitted_frames(
    height: int, width: int, batch: int = 1, data_root: Path | None = None
) -> list[tuple[str, NamedInputs]]:
    """The Matterport frames resized (depth nearest-neighbour) to ``width`` x ``height``."""
    return [(name, _fitted_inputs(rgb, depth, height, width, batch))
            for name, rgb, depth in _real_frames(data_root, [("matterport3d", "matterport", slice(None))])]


def working_resolution_frames(
    model: PriorCostDCNet, batch: int = 1, data_root: Path | None = None
) -> list[tuple[str, NamedInputs]]:
    """What the library feeds a prior-anchored network: a Matterport3D, a 7-Scenes and a
    ClearGrasp frame after the midpoint pre-pass, with their classical fill as prior, each
    brought to its own working resolution (so a dynamic export is checked at several sizes)."""
    sources = [("matterport3d", "matterport", slice(0, 1)), ("7scenes_redkitchen", "frames", slice(250, 251)),
               ("cleargrasp_d435", "cleargrasp", slice(0, 1))]
    return [(name, _prior_inputs(model, rgb, depth, batch)) for name, rgb, depth in _real_frames(data_root, sources)]


def random_inputs(model: DepthNetwork, height: int, width: int, batch: int) -> list[tuple[str, NamedInputs]]:
    """One seeded random input of the model's kind: depth with 40 % holes around a positive prior."""
    generator = np.random.default_rng(0)
    rgb = generator.random((batch, 3, height, width), dtype=np.float32)
    prior = 0.3 + generator.random((batch, 1, height, width), dtype=np.float32) * (model.config.max_depth - 0.3)
    depth = prior * (1 + 0.1 * generator.standard_normal(prior.shape).astype(np.float32))
    depth[generator.random(depth.shape) < 0.4] = 0.0
    named = {"rgb": rgb, "depth": depth, "prior": prior}
    return [("random input", {key: named[key] for key in model.input_names})]


def check_parity(
    model: DepthNetwork, onnx_path: str | os.PathLike[str], inputs: list[tuple[str, NamedInputs]]
) -> list[ParityResult]:
    """Run PyTorch (FP32, CPU) and ONNX Runtime (CPU) on the same inputs; report the largest differences."""
    session = import_onnxruntime().InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    model = copy.deepcopy(model).float().cpu().eval()  # the caller's model keeps its device and dtype
    results = []
    for name, named in inputs:
        with torch.no_grad():
            expected = [t.numpy() for t in model(*(torch.from_numpy(named[key]) for key in model.input_names))]
        actual = session.run([DEPTH_OUTPUT, CONFIDENCE_OUTPUT], named)
        depth_diff, confidence_diff = (float(np.max(np.abs(a - e))) for a, e in zip(actual, expected, strict=True))
        results.append(ParityResult(name, depth_diff, confidence_diff))
    return results


def _real_frames(
    data_root: Path | None, sources: list[tuple[str, str, slice]]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(folder/name, rgb uint8, depth metres)`` of the selected frames of each folder present
    under ``data_root`` (default :func:`default_parity_data`)."""
    data_root = data_root if data_root is not None else default_parity_data()
    frames: list[tuple[str, np.ndarray, np.ndarray]] = []
    if data_root is None:
        return frames
    for folder, layout, selection in sources:
        root = data_root / folder
        if root.is_dir():
            for frame in discover_frames(root, layout=layout)[selection]:
                sample = load_frame(frame)
                if sample.rgb is None:
                    raise ValueError(f"{frame.name} in {root}: parity frames need colour")
                frames.append((f"{folder}/{sample.name}", sample.rgb, sample.depth))
    return frames


def _fitted_inputs(rgb: np.ndarray, depth: np.ndarray, height: int, width: int, batch: int) -> NamedInputs:
    if depth.shape != (height, width):
        rgb, depth = resize_color(rgb, width, height), resize_depth(depth, width, height)
    named = {"rgb": (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None],
             "depth": depth[None, None].astype(np.float32)}
    return {key: np.repeat(value, batch, axis=0) for key, value in named.items()}


def _prior_inputs(model: PriorCostDCNet, rgb: np.ndarray, depth: np.ndarray, batch: int) -> NamedInputs:
    """One frame as the library hands it to a backend (see :func:`working_resolution_frames`)."""
    prefilled = midpoint_fill(np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0))
    prior = classical_fill(prefilled, rgb)
    height, width = depth.shape
    rgb_t, depth_t, prior_t = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in
                               ((rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None], prefilled[None, None],
                                prior[None, None]))
    working = to_working_resolution(rgb_t, depth_t, prior_t, model.working_size(width, height),
                                    model.config.total_stride)
    named = {"rgb": working.rgb.numpy(), "depth": working.depth.numpy(), "prior": working.prior.numpy()}
    return {key: np.repeat(value, batch, axis=0) for key, value in named.items()}
