"""Checks every released prior-refining model must pass, shared by training's model selection,
:mod:`training.release` and the tests.

Validation scores averages over large hidden regions; a model can improve them while it learns
a bias that moves every small hole, which those averages hide (step 6900 of the first prior_cpu
run: 0.14 m on a 1 m wall, 63 % worse on ClearGrasp). A classical fill is exact on a flat wall,
so the error there is the model's alone.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np

from depth_completion_ros.backends import TorchBackend
from depth_completion_ros.model import DepthNetwork
from depth_completion_ros.pipeline import DepthCompleter

#: Largest error (m) allowed where a released model fills a small hole in a flat wall.
FLAT_WALL_TOLERANCE_M = 0.05


def flat_wall_hole_error(completer: DepthCompleter, wall_m: float = 1.0) -> float:
    """Largest error (m) of ``completer`` on a 3x3 hole in a flat wall ``wall_m`` away (640x480,
    textured colour)."""
    depth = np.full((480, 640), wall_m, np.float32)
    depth[239:242, 319:322] = 0.0
    rgb = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    filled = completer.complete(depth, rgb).depth[239:242, 319:322]
    return float(np.abs(filled - wall_m).max())


def model_flat_wall_error(model: DepthNetwork) -> float:
    """:func:`flat_wall_hole_error` of a live (training) model, through the whole pipeline on the
    CPU; ``model`` itself is neither moved nor switched out of training mode."""
    evaluated = copy.deepcopy(model).cpu()
    return flat_wall_hole_error(DepthCompleter("model", backend=TorchBackend(evaluated, "cpu")))


def passes_flat_wall_check(metrics: Mapping[str, float]) -> bool:
    """Whether validation ``metrics`` belong to weights that pass the flat-wall check; metrics
    without the check (runs older than it, absolute-plane models) pass."""
    return metrics.get("flat_wall_error", 0.0) <= FLAT_WALL_TOLERANCE_M
