"""Deployment artefacts of a trained network: the ONNX export and the TensorRT engine.

``onnx_export`` writes the ONNX file (config in its metadata), ``parity`` proves an export
computes what its source computes (on real frames where there are some), ``tensorrt_engine``
builds, checks and caches the engine the ``tensorrt`` backend runs. The command-line faces are
``depth-completion export-onnx`` and ``depth-completion build-engine`` (:mod:`..cli.export`).
"""
from .onnx_export import DEFAULT_OPSET, OUTPUT_NAMES, export_onnx, read_onnx_metadata
from .parity import (
    PARITY_DATA_VARIABLE,
    PARITY_TOLERANCE_M,
    NamedInputs,
    ParityResult,
    check_parity,
    default_parity_data,
    fitted_frames,
    parity_inputs,
    random_inputs,
    working_resolution_frames,
)
from .tensorrt_engine import DEFAULT_TOLERANCE_M, EngineBuildError, build_engine, working_profile_shapes

__all__ = [
    "DEFAULT_OPSET",
    "DEFAULT_TOLERANCE_M",
    "OUTPUT_NAMES",
    "PARITY_DATA_VARIABLE",
    "PARITY_TOLERANCE_M",
    "EngineBuildError",
    "NamedInputs",
    "ParityResult",
    "build_engine",
    "check_parity",
    "default_parity_data",
    "export_onnx",
    "fitted_frames",
    "parity_inputs",
    "random_inputs",
    "read_onnx_metadata",
    "working_profile_shapes",
    "working_resolution_frames",
]
