"""Build the TensorRT engine of an exported model, on the machine that will run it.

An engine only runs with the TensorRT version and the GPU model it was built with, so it is
built on the robot (once, a few minutes) and cached under a name made of the ONNX stem, the
precision, the TensorRT version, the GPU name and a hash of the ONNX file — the name the
``tensorrt`` backend looks for (:func:`~depth_completion_ros.backends.engine_file_name`). The
cache is beside the ONNX file, or ``~/.cache/depth_completion_ros/engines`` when that folder is
read-only, or ``cache_dir``. Before the engine is moved into the cache it is compared with ONNX
Runtime (CPU) on real frames (:mod:`.parity`; random input when there are none); an engine that
disagrees by more than the tolerance is not installed.

A prior-anchored model (inputs ``rgb``, ``depth``, ``prior``) runs at a working resolution that
follows each frame's aspect ratio, so its dynamic-size export gets one optimisation profile
over every working size (one stride up to the padded working size of a 2:1 frame, optimised
for 640x480 cameras) instead of one fixed size.

TensorRT 10's Python API, imported only when an engine is built (an optional dependency).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..backends import (
    ENGINE_PRECISIONS,
    OnnxRuntimeBackend,
    TensorRTBackend,
    engine_cache_path,
    gpu_name,
    import_tensorrt,
    resolve_device,
)
from ..depth_io import atomic_output
from ..model import ModelConfig, build_model
from ..model.resolution import padded_size, working_size
from .parity import ParityResult, parity_inputs, random_inputs

LOG = logging.getLogger(__name__)

#: Largest tolerated |TensorRT - ONNX Runtime| depth difference (metres), per precision. FP32
#: matches the export check; FP16 rounds logits to ~3 significant digits, which moves the
#: soft-argmax depth by centimetres where the plane distribution is flat.
DEFAULT_TOLERANCE_M = {"fp32": 1e-3, "fp16": 0.05}
#: Widest frame aspect ratio (either way) a prior model's engine profile covers.
MAX_ASPECT = 2.0
#: The frame size a prior model's engine is optimised for (the common RGB-D camera mode).
TYPICAL_FRAME = (640, 480)

Shape = tuple[int, ...]


class EngineBuildError(RuntimeError):
    """TensorRT could not parse or build the network, or the engine failed its parity check."""


def build_engine(
    onnx_path: str | os.PathLike[str],
    precision: str = "fp16",
    cache_dir: str | os.PathLike[str] | None = None,
    workspace_gb: float = 2.0,
    size: tuple[int, int] | None = None,
    max_batch: int = 1,
    tolerance_m: float | None = None,
) -> Path:
    """Build, parity-check and atomically cache the engine of ``onnx_path``; returns its path.

    ``size`` (W, H) and ``max_batch`` only matter for an ONNX file exported with dynamic axes:
    the engine gets one fixed image size (default: the size recorded in the ONNX metadata, else
    the training size; a prior-anchored model: every working size) and batches from 1 to
    ``max_batch``. Raises BackendError when TensorRT or a CUDA device is missing,
    EngineBuildError when the build or the parity check fails.
    """
    if precision not in ENGINE_PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {list(ENGINE_PRECISIONS)}")
    if workspace_gb <= 0 or max_batch < 1:
        raise ValueError(f"workspace_gb must be > 0 and max_batch >= 1, got {workspace_gb} and {max_batch}")
    if tolerance_m is not None and tolerance_m < 0:
        raise ValueError(f"tolerance must be >= 0 metres, got {tolerance_m}")
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"{onnx_path}: ONNX model not found")
    trt = import_tensorrt()
    device = resolve_device("cuda")
    target = engine_cache_path(onnx_path, precision, cache_dir)
    reference = OnnxRuntimeBackend(onnx_path)
    width, height = size or reference.model_size
    prior_config = reference.config if reference.config is not None and reference.config.anchor == "prior" else None

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"{onnx_path}: TensorRT cannot parse the ONNX graph: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    else:
        # TensorRT runs FP32 convolutions in TF32 (10-bit mantissa) by default; fp32 means fp32.
        config.clear_flag(trt.BuilderFlag.TF32)
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    if any(dim < 0 for tensor in inputs for dim in tensor.shape):
        profile = builder.create_optimization_profile()
        for tensor in inputs:
            if prior_config is not None and size is None:
                shapes = working_profile_shapes(tuple(tensor.shape), prior_config, max_batch)
            else:
                smallest, largest = _profile_shapes(tuple(tensor.shape), width, height, max_batch)
                shapes = (smallest, smallest, largest)
            profile.set_shape(tensor.name, *shapes)
        config.add_optimization_profile(profile)

    LOG.info("building %s engine for %s on %s with TensorRT %s (takes minutes)", precision, onnx_path,
             gpu_name(device), trt.__version__)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(f"{onnx_path}: TensorRT failed to build the engine (see its log above)")
    tolerance = DEFAULT_TOLERANCE_M[precision] if tolerance_m is None else tolerance_m
    with atomic_output(target) as tmp:
        tmp.write_bytes(bytes(serialized))
        results = check_engine_parity(tmp, onnx_path)
        for result in results:
            LOG.info("parity vs ONNX Runtime on %s: max |depth diff| %.4f mm, max |confidence diff| %.2e",
                     result.name, result.depth_max_abs_m * 1000, result.confidence_max_abs)
        worst = max(result.depth_max_abs_m for result in results)
        if worst > tolerance:
            raise EngineBuildError(
                f"engine differs from ONNX Runtime by {worst * 1000:.2f} mm (tolerance {tolerance * 1000:.2f} mm); "
                f"not installed. Try --precision fp32, or raise --tolerance if this accuracy is acceptable"
            )
    LOG.info("engine written to %s", target)
    return target


def check_engine_parity(engine_path: Path, onnx_path: Path) -> list[ParityResult]:
    """Run the engine (TensorRT) and the ONNX file (ONNX Runtime, CPU) on the same inputs."""
    reference = OnnxRuntimeBackend(onnx_path)
    engine = TensorRTBackend(engine_path, config=reference.config)
    width, height = engine.input_size or engine.model_size
    network = build_model(reference.config or ModelConfig())  # only chooses the kind of inputs
    inputs = parity_inputs(network, height, width) or random_inputs(network, height, width, 1)
    results = []
    for name, named in inputs:
        arrays = list(named.values())
        expected_depth, expected_confidence = reference.infer(*arrays)
        depth_out, confidence_out = engine.infer(*(torch.from_numpy(array).to(engine.device) for array in arrays))
        confidence_diff = (
            float(np.max(np.abs(confidence_out.cpu().numpy() - expected_confidence)))
            if confidence_out is not None and expected_confidence is not None else float("nan")
        )
        results.append(ParityResult(name, float(np.max(np.abs(depth_out.cpu().numpy() - expected_depth))),
                                    confidence_diff))
    return results


def working_profile_shapes(shape: Shape, config: ModelConfig, max_batch: int) -> tuple[Shape, Shape, Shape]:
    """(min, opt, max) shapes of an (N, C, H, W) input of a prior-anchored model: every padded
    working size, from one stride up to that of a ``MAX_ASPECT`` frame either way, optimised
    for a ``TYPICAL_FRAME`` camera."""
    if len(shape) != 4:
        raise EngineBuildError(f"expected 4-D (N, C, H, W) inputs, got shape {shape}")
    stride = config.total_stride
    wide = padded_size(*working_size(round(1000 * MAX_ASPECT), 1000, config.working_area), stride)
    largest_side = max(wide)
    opt_w, opt_h = padded_size(*working_size(*TYPICAL_FRAME, config.working_area), stride)
    channels = shape[1]
    return (1, channels, stride, stride), (1, channels, opt_h, opt_w), (max_batch, channels, largest_side, largest_side)


def _profile_shapes(shape: Shape, width: int, height: int, max_batch: int) -> tuple[Shape, Shape]:
    """(min, max) shapes of an (N, C, H, W) input: dynamic dims get the chosen size and 1…max_batch."""
    if len(shape) != 4:
        raise EngineBuildError(f"expected 4-D (N, C, H, W) inputs, got shape {shape}")
    batch, channels, rows, cols = shape
    fixed = (rows if rows > 0 else height, cols if cols > 0 else width)
    smallest = (batch if batch > 0 else 1, channels, *fixed)
    largest = (batch if batch > 0 else max_batch, channels, *fixed)
    return smallest, largest
