"""The backend kinds, how each is created from a model's files, and :func:`create_backend`.

Each kind is registered with the function that builds it from the model's forms (see
:func:`model_files.model_files`); the registry's order is the order ``auto`` tries them,
fastest first, so adding a runtime is one creator and one registry entry.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .base import BackendError, CompletionBackend
from .engine_cache import check_precision
from .model_files import model_files
from .onnxruntime_backend import OnnxRuntimeBackend
from .pytorch_backend import TorchBackend
from .tensorrt_backend import TensorRTBackend

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Request:
    """What the caller asked for besides the kind and the model: one argument for every creator."""

    files: Mapping[str, Path]
    device: str | torch.device | None
    precision: str
    engine_cache_dir: str | os.PathLike[str] | None
    intra_op_threads: int | None
    fp16: bool

    def require(self, suffix: str, kind: str) -> Path:
        """The model's ``suffix`` form; BackendError when the model has none (``kind`` needs it)."""
        if suffix not in self.files:
            given = ", ".join(str(p) for p in self.files.values())
            raise BackendError(f"{kind} needs a {suffix} model file, got {given}")
        return self.files[suffix]


def _tensorrt(request: _Request) -> CompletionBackend:
    if ".engine" in request.files:
        return TensorRTBackend(request.files[".engine"], request.device)
    onnx_path = request.require(".onnx", "tensorrt")
    return TensorRTBackend.from_onnx(onnx_path, request.precision, request.engine_cache_dir, request.device)


def _onnxruntime(use_cuda: bool) -> Callable[[_Request], CompletionBackend]:
    kind = "onnxruntime-cuda" if use_cuda else "onnxruntime"

    def create(request: _Request) -> CompletionBackend:
        return OnnxRuntimeBackend(request.require(".onnx", kind), use_cuda=use_cuda, device=request.device,
                                  intra_op_threads=request.intra_op_threads)

    return create


def _torch(request: _Request) -> CompletionBackend:
    return TorchBackend.from_checkpoint(request.require(".pt", "torch"), request.device, fp16=request.fp16)


#: Backend kind -> creator, in the order ``auto`` tries them (fastest first).
_CREATORS: dict[str, Callable[[_Request], CompletionBackend]] = {
    "tensorrt": _tensorrt,
    "onnxruntime-cuda": _onnxruntime(use_cuda=True),
    "onnxruntime": _onnxruntime(use_cuda=False),
    "torch": _torch,
}
#: Backend kinds in the order ``auto`` tries them (fastest first).
BACKEND_KINDS = tuple(_CREATORS)


def create_backend(
    kind: str = "auto",
    model_path: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    *,
    precision: str = "fp16",
    engine_cache_dir: str | os.PathLike[str] | None = None,
    intra_op_threads: int | None = None,
    fp16: bool = False,
) -> CompletionBackend:
    """Create the backend ``kind``, or with ``auto`` the first of BACKEND_KINDS that works here.

    ``model_path`` is the one file used: ``X.engine`` (TensorRT), ``X.onnx`` (ONNX Runtime, or
    TensorRT with its engine from the engine cache) or ``X.pt`` (PyTorch). Without a path the
    shipped CPU model is used, in whichever of its forms runs here. ``auto`` logs why
    each faster backend was skipped and stores the reasons in ``backend.selection_reasons``;
    when none can run, BackendError lists every reason.
    """
    if kind != "auto" and kind not in BACKEND_KINDS:
        raise ValueError(f"unknown backend {kind!r}; expected 'auto' or one of {list(BACKEND_KINDS)}")
    check_precision(precision)
    request = _Request(model_files(model_path), device, precision, engine_cache_dir, intra_op_threads, fp16)
    if kind != "auto":
        return _CREATORS[kind](request)
    reasons: list[str] = []
    for candidate, create in _CREATORS.items():
        try:
            backend = create(request)
        except BackendError as exc:
            reasons.append(f"{candidate}: {exc}")
            LOG.info("backend %s skipped: %s", candidate, exc)
            continue
        backend.selection_reasons = tuple(reasons)
        LOG.info("backend: %s", backend.describe())
        return backend
    raise BackendError("no inference backend can run this model:\n  " + "\n  ".join(reasons))
