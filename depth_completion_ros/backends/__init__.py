"""One inference interface for CostDCNet: PyTorch, ONNX Runtime (CUDA or CPU) and TensorRT.

Every backend takes ``rgb (N, 3, H, W)`` float in 0-1 and ``depth (N, 1, H, W)`` metres
(0 = invalid) and returns ``(completed_depth, confidence | None)``, both ``(N, 1, H, W)``.
numpy in gives numpy out; torch in gives torch out on the caller's device. The PyTorch and
TensorRT backends (and ONNX Runtime on CUDA, through IO binding) read torch CUDA tensors where
they lie, so a GPU pipeline never copies frames through host memory.

:func:`create_backend` picks the fastest backend that can run here (``auto``: TensorRT, ONNX
Runtime CUDA, ONNX Runtime CPU, PyTorch) and reports why each faster one was skipped.

One module per job: ``base`` (the contract, errors, the base class), ``factory`` (the kind
registry and :func:`create_backend`), ``pytorch_backend``, ``onnxruntime_backend``,
``tensorrt_backend`` (TensorRT 10), ``engine_cache`` (engine names and folders; engines are
never built implicitly), ``model_files`` (a model's forms and the shipped default) and
``runtimes`` (the optional runtimes, imported on demand).
"""
from .base import (
    CONFIDENCE_OUTPUT,
    DEFAULT_MODEL_SIZE,
    DEPTH_OUTPUT,
    INPUT_NAMES,
    BackendError,
    CompletionBackend,
    EngineNotBuiltError,
    InferenceInputError,
    ModelFileError,
    resolve_device,
)
from .engine_cache import (
    ENGINE_PRECISIONS,
    build_engine_command,
    engine_cache_dirs,
    engine_cache_path,
    engine_file_name,
    find_cached_engine,
    gpu_name,
    onnx_file_digest,
    tensorrt_version,
)
from .factory import BACKEND_KINDS, create_backend
from .model_files import MODEL_SUFFIXES, model_files
from .onnxruntime_backend import CONFIG_METADATA_KEY, OnnxRuntimeBackend
from .pytorch_backend import TorchBackend
from .runtimes import import_onnxruntime, import_tensorrt
from .tensorrt_backend import TensorRTBackend

__all__ = [
    "BACKEND_KINDS",
    "CONFIDENCE_OUTPUT",
    "CONFIG_METADATA_KEY",
    "DEFAULT_MODEL_SIZE",
    "DEPTH_OUTPUT",
    "ENGINE_PRECISIONS",
    "INPUT_NAMES",
    "MODEL_SUFFIXES",
    "BackendError",
    "CompletionBackend",
    "EngineNotBuiltError",
    "InferenceInputError",
    "ModelFileError",
    "OnnxRuntimeBackend",
    "TensorRTBackend",
    "TorchBackend",
    "build_engine_command",
    "create_backend",
    "engine_cache_dirs",
    "engine_cache_path",
    "engine_file_name",
    "find_cached_engine",
    "gpu_name",
    "import_onnxruntime",
    "import_tensorrt",
    "model_files",
    "onnx_file_digest",
    "resolve_device",
    "tensorrt_version",
]
