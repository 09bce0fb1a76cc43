"""TensorRT engine cache: where engines live and the name that ties one to its ONNX file.

TensorRT engines are tied to the TensorRT version, the GPU model and the exact ONNX file, so
they are cached under a name built from all three (:func:`engine_file_name`) and never built
implicitly: building takes minutes, which a node must not spend silently at start-up. A
missing engine is an EngineNotBuiltError that prints the command that builds it.
"""
from __future__ import annotations

import hashlib
import os
import re
import shlex
from pathlib import Path

import torch

from .base import EngineNotBuiltError, resolve_device
from .runtimes import import_tensorrt

#: TensorRT build precisions.
ENGINE_PRECISIONS = ("fp16", "fp32")


def onnx_file_digest(onnx_path: str | os.PathLike[str]) -> str:
    """First 16 hex digits of the file's SHA-256: a re-exported model never reuses an old engine."""
    return hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()[:16]


def tensorrt_version() -> str:
    """Version of the importable ``tensorrt`` package; BackendError when there is none."""
    return str(import_tensorrt().__version__)


def gpu_name(device: str | torch.device | None = None) -> str:
    """Marketing name of the CUDA device (engines are specific to it)."""
    return torch.cuda.get_device_name(resolve_device(device or "cuda"))


def engine_file_name(
    onnx_path: str | os.PathLike[str],
    precision: str = "fp16",
    *,
    trt_version: str | None = None,
    gpu: str | None = None,
) -> str:
    """Cache key of a TensorRT engine: ONNX stem, precision, TensorRT version, GPU, ONNX hash.

    ``trt_version`` and ``gpu`` default to this machine's; tests and tools may pass others.
    """
    check_precision(precision)
    onnx_path = Path(onnx_path)
    trt_version = trt_version or tensorrt_version()
    gpu = gpu or gpu_name()
    gpu_slug = re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    return f"{onnx_path.stem}.{precision}.trt{trt_version}.{gpu_slug}.{onnx_file_digest(onnx_path)}.engine"


def engine_cache_dirs(onnx_path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where engines for ``onnx_path`` are looked for, in order.

    An explicit ``cache_dir`` is the only place. Otherwise: beside the ONNX file (ROS
    convention), then the user cache (``$XDG_CACHE_HOME/depth_completion_ros/engines``) for
    installs whose share folder is read-only.
    """
    if cache_dir is not None:
        return [Path(cache_dir)]
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "depth_completion_ros" / "engines"
    return [Path(onnx_path).resolve().parent, user_cache]


def engine_cache_path(
    onnx_path: str | os.PathLike[str],
    precision: str = "fp16",
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    trt_version: str | None = None,
    gpu: str | None = None,
) -> Path:
    """Where :func:`depth_completion_ros.export.build_engine` writes the engine: the first writable cache dir."""
    name = engine_file_name(onnx_path, precision, trt_version=trt_version, gpu=gpu)
    dirs = engine_cache_dirs(onnx_path, cache_dir)
    for folder in dirs:
        if _writable_dir(folder):
            return folder / name
    return dirs[-1] / name


def find_cached_engine(
    onnx_path: str | os.PathLike[str],
    precision: str = "fp16",
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
) -> Path:
    """The cached engine for this ONNX file, TensorRT version and GPU; EngineNotBuiltError with the
    exact build command when there is none."""
    name = engine_file_name(onnx_path, precision, gpu=gpu_name(device))
    dirs = engine_cache_dirs(onnx_path, cache_dir)
    for folder in dirs:
        if (folder / name).is_file():
            return folder / name
    raise EngineNotBuiltError(
        f"no TensorRT engine {name} for {onnx_path} in {', '.join(map(str, dirs))}. Engines are built "
        f"once per TensorRT version and GPU (a few minutes), never implicitly; build it with: "
        f"{build_engine_command(onnx_path, precision, cache_dir)}"
    )


def build_engine_command(
    onnx_path: str | os.PathLike[str], precision: str = "fp16", cache_dir: str | os.PathLike[str] | None = None
) -> str:
    """The shell command that builds the engine :func:`find_cached_engine` looks for: the
    ``depth-completion build-engine`` console script, there after pip install and colcon build alike."""
    command = ["depth-completion", "build-engine", str(Path(onnx_path).resolve()), "--precision", precision]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    return shlex.join(command)


def check_precision(precision: str) -> None:
    """ValueError unless ``precision`` is one of ENGINE_PRECISIONS."""
    if precision not in ENGINE_PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {list(ENGINE_PRECISIONS)}")


def _writable_dir(folder: Path) -> bool:
    """Whether an engine could be created in ``folder`` (creating it if needed)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)
