"""training.confidence_calibration on real frames: what it collects is what the frame path gives."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depth_completion_ros.datasets import discover_frames
from depth_completion_ros.evaluation import scored_frames
from depth_completion_ros.pipeline import DepthCompleter
from training.confidence_calibration import collect

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "costdcnet_prior_cpu.onnx"


def test_collects_the_confidence_and_error_of_every_model_fill(redkitchen_root, tmp_path) -> None:
    frames = discover_frames(redkitchen_root)[250:252]
    completer = DepthCompleter("model", model_path=str(SHIPPED))
    confidence, error = collect(completer, frames, seed=0, panel_path=tmp_path / "panel.png")
    expected = 0
    for frame in scored_frames(frames, "hidden", 0, progress=False):
        filled = completer.complete(frame.input_depth, frame.sample.rgb)
        expected += int(((frame.input_depth == 0) & (frame.reference > 0.1) & (filled.confidence > 0)).sum())
    assert confidence.shape == error.shape == (expected,) and expected > 1000
    assert confidence.min() > 0 and confidence.max() <= 1 and error.min() >= 0
    assert (tmp_path / "panel.png").stat().st_size > 0
    with pytest.raises(ValueError, match="no confidence to calibrate"):
        collect(DepthCompleter(method="classical"), frames[:1])
    assert np.isfinite(error).all()
