"""The optional inference runtimes, imported when a backend needs them.

ONNX Runtime and TensorRT are optional dependencies (TensorRT exists only on NVIDIA machines),
so they are imported on demand and their absence is a BackendError with an install hint, which
``create_backend("auto")`` records as the reason to try the next backend.
"""
from __future__ import annotations

from typing import Any

from .base import BackendError


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, or BackendError saying how to install it (an optional dependency)."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendError(f"TensorRT is not importable ({exc}); install TensorRT 10 for this Python "
                           f"(pip install tensorrt, or the python3-libnvinfer package on Jetson)") from exc
    return tensorrt


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module, or BackendError naming why it cannot be imported."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(f"onnxruntime is not importable ({exc})") from exc
    return onnxruntime
