"""One inference interface for CostDCNet: PyTorch, ONNX Runtime (CUDA or CPU) and TensorRT.

Every backend takes ``rgb (N, 3, H, W)`` float in 0–1 and ``depth (N, 1, H, W)`` metres
(0 = invalid) and returns ``(completed_depth, confidence | None)``, both ``(N, 1, H, W)``.
numpy in gives numpy out; torch in gives torch out on the caller's device. The PyTorch and
TensorRT backends (and ONNX Runtime on CUDA, through IO binding) read torch CUDA tensors where
they lie, so a GPU pipeline never copies frames through host memory.

:func:`create_backend` picks the fastest backend that can run here (``auto``: TensorRT, ONNX
Runtime CUDA, ONNX Runtime CPU, PyTorch) and reports why each faster one was skipped.
TensorRT engines are tied to the TensorRT version, the GPU model and the exact ONNX file, so
they are cached under a name built from all three (:func:`engine_file_name`) and never built
implicitly: building takes minutes, which a node must not spend silently at start-up.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shlex
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from .depth_io import sanitize_depth
from .model import CheckpointError, CostDCNet, ModelConfig, ModelConfigError, load_checkpoint
from .resources import ModelNotFoundError, default_model_path, source_root

LOG = logging.getLogger(__name__)

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

#: Backend kinds in the order ``auto`` tries them (fastest first).
BACKEND_KINDS = ("tensorrt", "onnxruntime-cuda", "onnxruntime", "torch")
#: TensorRT build precisions.
ENGINE_PRECISIONS = ("fp16", "fp32")
#: Tensor names of the exported network (training/export_onnx.py).
INPUT_NAMES = ("rgb", "depth")
DEPTH_OUTPUT = "completed_depth"
CONFIDENCE_OUTPUT = "confidence"
#: ONNX metadata key that holds the model config as JSON (training/export_onnx.py writes it).
CONFIG_METADATA_KEY = "model_config"
#: The resolution (W, H) every shipped config is trained at (the Matterport3D benchmark's);
#: used when a model file does not record its own.
DEFAULT_MODEL_SIZE = (320, 256)
MODEL_SUFFIXES = (".engine", ".onnx", ".pt")


class BackendError(RuntimeError):
    """A backend cannot run here: missing library or device, or an unusable model file."""


class ModelFileError(BackendError):
    """A model file (.pt, .onnx, .engine) is missing, corrupt or not a CostDCNet export."""


class EngineNotBuiltError(BackendError):
    """No TensorRT engine is cached for this ONNX file, TensorRT version and GPU."""


class InferenceInputError(ValueError):
    """Inputs that the model cannot take (shape, dtype, size)."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> the current CUDA device when PyTorch sees one, else the CPU.

    An explicit CUDA device on a machine without one raises BackendError rather than failing
    later inside a kernel launch.
    """
    if device is None or device == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendError(f"device {str(device)!r} requested but PyTorch sees no CUDA device "
                               f"(torch {torch.__version__}, CUDA build: {torch.version.cuda is not None})")
        if resolved.index is None:
            resolved = torch.device("cuda", torch.cuda.current_device())
    elif resolved.type != "cpu":
        raise BackendError(f"unsupported device {str(device)!r} (use 'cpu', 'cuda' or 'cuda:N')")
    return resolved


def sanitize_metres(depth: ArrayT, min_depth: float = 0.0, max_depth: float = float("inf")) -> ArrayT:
    """Float32 metres with NaN, inf, negatives and values outside [min_depth, max_depth] set to 0.

    numpy goes through :func:`depth_io.sanitize_depth` (the one definition of a valid depth);
    torch tensors get the same rule on their own device, so GPU frames stay on the GPU.
    """
    if not isinstance(depth, torch.Tensor):
        return sanitize_depth(depth, min_depth=min_depth, max_depth=max_depth)
    if not depth.is_floating_point():
        raise InferenceInputError(f"depth must be float metres, got {depth.dtype}")
    depth = depth.to(torch.float32)
    valid = torch.isfinite(depth) & (depth > 0)
    if min_depth > 0:
        valid &= depth >= min_depth
    if np.isfinite(max_depth):
        valid &= depth <= max_depth
    return torch.where(valid, depth, 0.0)


def onnx_file_digest(onnx_path: str | os.PathLike) -> str:
    """First 16 hex digits of the file's SHA-256: a re-exported model never reuses an old engine."""
    return hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()[:16]


def tensorrt_version() -> str:
    """Version of the importable ``tensorrt`` package; BackendError when there is none."""
    return import_tensorrt().__version__


def gpu_name(device: str | torch.device | None = None) -> str:
    """Marketing name of the CUDA device (engines are specific to it)."""
    return torch.cuda.get_device_name(resolve_device(device or "cuda"))


def engine_file_name(
    onnx_path: str | os.PathLike,
    precision: str = "fp16",
    *,
    trt_version: str | None = None,
    gpu: str | None = None,
) -> str:
    """Cache key of a TensorRT engine: ONNX stem, precision, TensorRT version, GPU, ONNX hash.

    ``trt_version`` and ``gpu`` default to this machine's; tests and tools may pass others.
    """
    _check_precision(precision)
    onnx_path = Path(onnx_path)
    trt_version = trt_version or tensorrt_version()
    gpu = gpu or gpu_name()
    gpu_slug = re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    return f"{onnx_path.stem}.{precision}.trt{trt_version}.{gpu_slug}.{onnx_file_digest(onnx_path)}.engine"


def engine_cache_dirs(onnx_path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> list[Path]:
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
    onnx_path: str | os.PathLike,
    precision: str = "fp16",
    cache_dir: str | os.PathLike | None = None,
    *,
    trt_version: str | None = None,
    gpu: str | None = None,
) -> Path:
    """Where :func:`training.build_engine.build_engine` writes the engine: the first writable cache dir."""
    name = engine_file_name(onnx_path, precision, trt_version=trt_version, gpu=gpu)
    dirs = engine_cache_dirs(onnx_path, cache_dir)
    for folder in dirs:
        if _writable_dir(folder):
            return folder / name
    return dirs[-1] / name


def find_cached_engine(
    onnx_path: str | os.PathLike,
    precision: str = "fp16",
    cache_dir: str | os.PathLike | None = None,
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
    onnx_path: str | os.PathLike, precision: str = "fp16", cache_dir: str | os.PathLike | None = None
) -> str:
    """The shell command that builds the engine :func:`find_cached_engine` looks for."""
    checkout = source_root()
    script = checkout / "training" / "build_engine.py" if checkout else Path("training/build_engine.py")
    command = ["python", str(script), str(Path(onnx_path).resolve()), "--precision", precision]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    return shlex.join(command)


class CompletionBackend(ABC):
    """Runs the network on ``(rgb, depth)`` batches; subclasses supply :meth:`_forward`.

    Attributes for callers that fit frames to the model:

    * ``input_size`` — ``(W, H)`` the backend requires (a static ONNX or engine), or None when
      any multiple of ``size_multiple`` works;
    * ``model_size`` — ``(W, H)`` the network was trained at: the target of crop/resize fitting;
    * ``max_batch`` — largest batch one call of the runtime takes (larger batches are split);
      with ``batch_fixed`` every call takes exactly that many (a short last chunk is padded);
    * ``config`` — the network's ModelConfig where the model file records it (depth range,
      stride), else None (a TensorRT engine, a foreign ONNX file).
    """

    #: Backend kind, one of BACKEND_KINDS.
    name: str
    #: Whether :meth:`_forward` takes torch tensors on ``device`` (else float32 numpy arrays).
    takes_tensors: bool

    def __init__(
        self,
        *,
        device: torch.device,
        source: Path | None,
        input_size: tuple[int, int] | None,
        size_multiple: int,
        model_size: tuple[int, int],
        max_batch: int | None = None,
        batch_fixed: bool = False,
        config: ModelConfig | None = None,
    ) -> None:
        self.device = device
        self.source = source
        self.input_size = input_size
        self.size_multiple = size_multiple
        self.model_size = model_size
        self.max_batch = max_batch
        self.batch_fixed = batch_fixed
        self.config = config
        #: Why ``create_backend(kind="auto")`` skipped each faster backend (empty otherwise).
        self.selection_reasons: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for logs: kind, device, input size, model file."""
        size = f"fixed input {_format_size(self.input_size)}" if self.input_size else (
            f"any input size in multiples of {self.size_multiple}")
        source = f", model {self.source}" if self.source else ""
        return f"{self.name} on {self.device} ({size}, frames fitted to {_format_size(self.model_size)}{source})"

    def check_inputs(self, rgb_shape: tuple[int, ...], depth_shape: tuple[int, ...]) -> None:
        """Raise InferenceInputError naming the problem if the shapes cannot be run."""
        if len(depth_shape) != 4 or depth_shape[1] != 1:
            raise InferenceInputError(f"depth must have shape (N, 1, H, W), got {depth_shape}")
        if len(rgb_shape) != 4 or rgb_shape[1] != 3:
            raise InferenceInputError(f"rgb must have shape (N, 3, H, W), got {rgb_shape}")
        if rgb_shape[0] != depth_shape[0] or rgb_shape[2:] != depth_shape[2:]:
            raise InferenceInputError(f"rgb {rgb_shape} and depth {depth_shape} differ in batch or image size")
        if depth_shape[0] == 0:
            raise InferenceInputError("empty batch")
        height, width = depth_shape[2:]
        if self.input_size is not None and (width, height) != self.input_size:
            raise InferenceInputError(
                f"{self.name} model takes {_format_size(self.input_size)} (WxH) only, got {width}x{height}; "
                f"fit frames with DepthCompleter(fit='crop' or 'resize')"
            )
        multiple = self.size_multiple
        if width == 0 or height == 0 or width % multiple or height % multiple:
            raise InferenceInputError(
                f"image size {width}x{height} (WxH) is not a positive multiple of the network stride {multiple}"
            )

    def infer(self, rgb: ArrayT, depth: ArrayT) -> tuple[ArrayT, ArrayT | None]:
        """Completed depth and confidence (or None) for a batch, in the caller's array type and device.

        Depth is sanitised first (NaN, inf, negative -> 0): drivers publish NaN for "no return".
        """
        is_tensor = isinstance(depth, torch.Tensor)
        kind = torch.Tensor if is_tensor else np.ndarray
        if not (isinstance(rgb, kind) and isinstance(depth, kind)):
            raise InferenceInputError(f"rgb and depth must both be numpy arrays or both torch tensors, got "
                                      f"{type(rgb).__name__} and {type(depth).__name__}")
        for name, array in (("rgb", rgb), ("depth", depth)):
            if not (array.is_floating_point() if is_tensor else np.issubdtype(array.dtype, np.floating)):
                hint = " (divide uint8 colour by 255)" if name == "rgb" else " (metres)"
                raise InferenceInputError(f"{name} must be floating point{hint}, got {array.dtype}")
        self.check_inputs(tuple(rgb.shape), tuple(depth.shape))
        depth = sanitize_metres(depth)
        if self.takes_tensors:
            rgb_in, depth_in = _to_tensor(rgb, self.device), _to_tensor(depth, self.device)
        else:
            rgb_in, depth_in = _to_numpy(rgb), _to_numpy(depth)
        completed, confidence = self._forward_batched(rgb_in, depth_in)
        if is_tensor:
            return _to_tensor(completed, depth.device), _to_tensor(confidence, depth.device)
        return _to_numpy(completed), _to_numpy(confidence)

    def _forward_batched(self, rgb: Any, depth: Any) -> tuple[Any, Any]:
        """Run in chunks of ``max_batch`` (static exports and TensorRT profiles cap the batch)."""
        count = depth.shape[0]
        step = self.max_batch or count
        if count == step or (count < step and not self.batch_fixed):
            return self._forward(rgb, depth)
        concat = torch.cat if self.takes_tensors else np.concatenate
        parts = []
        for start in range(0, count, step):
            rgb_chunk, depth_chunk = rgb[start : start + step], depth[start : start + step]
            if self.batch_fixed and depth_chunk.shape[0] < step:
                rgb_chunk, depth_chunk = _pad_batch(rgb_chunk, step), _pad_batch(depth_chunk, step)
            parts.append(self._forward(rgb_chunk, depth_chunk))
        completed = concat([part[0] for part in parts])[:count]
        confidence = None if parts[0][1] is None else concat([part[1] for part in parts])[:count]
        return completed, confidence

    @abstractmethod
    def _forward(self, rgb: Any, depth: Any) -> tuple[Any, Any]:
        """Run one batch already in this backend's representation (validated, sanitised)."""


class TorchBackend(CompletionBackend):
    """CostDCNet in PyTorch on CPU or CUDA; optional FP16 autocast on CUDA.

    The backend owns ``model``: it is moved to ``device`` and switched to eval mode. Training
    code can wrap its live model for evaluation without writing a checkpoint.
    """

    name = "torch"
    takes_tensors = True

    def __init__(
        self,
        model: CostDCNet,
        device: str | torch.device | None = None,
        fp16: bool = False,
        source: Path | None = None,
        model_size: tuple[int, int] = DEFAULT_MODEL_SIZE,
    ) -> None:
        resolved = resolve_device(device)
        if fp16 and resolved.type != "cuda":
            raise BackendError("fp16 inference needs a CUDA device (CPU autocast to float16 is slower, not faster)")
        config: ModelConfig = model.config
        super().__init__(device=resolved, source=source, input_size=None, size_multiple=config.total_stride,
                         model_size=model_size, config=config)
        self.model = model.to(resolved).eval()
        self.fp16 = fp16

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike, device: str | torch.device | None = None, fp16: bool = False
    ) -> TorchBackend:
        """Load a ``.pt`` checkpoint written by ``model.save_checkpoint``."""
        path = Path(path)
        resolved = resolve_device(device)
        try:
            model, meta = load_checkpoint(path, map_location=resolved)
        except FileNotFoundError as exc:
            raise ModelFileError(f"{path}: checkpoint not found") from exc
        except CheckpointError as exc:
            raise ModelFileError(str(exc)) from exc
        return cls(model, resolved, fp16=fp16, source=path, model_size=_size_from_meta(meta, path))

    def describe(self) -> str:
        return super().describe() + (", fp16 autocast" if self.fp16 else "")

    @torch.inference_mode()
    def _forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.fp16):
            completed, confidence = self.model(rgb, depth)
        return completed.float(), confidence.float()


class OnnxRuntimeBackend(CompletionBackend):
    """An exported CostDCNet in ONNX Runtime, on the CUDA execution provider or the CPU.

    On CUDA with a CUDA build of PyTorch, tensors are bound in place (IO binding), so frames
    on the GPU never visit host memory.
    """

    def __init__(
        self,
        onnx_path: str | os.PathLike,
        use_cuda: bool = False,
        device: str | torch.device | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        ort = _import_onnxruntime()
        path = _existing_file(onnx_path, "ONNX model")
        if use_cuda:
            # ONNX Runtime finds CUDA without PyTorch: a CPU build of torch may sit beside onnxruntime-gpu.
            resolved = torch.device("cuda", 0) if device in (None, "auto") else torch.device(device)
            if resolved.type != "cuda":
                raise BackendError(f"onnxruntime-cuda cannot run on device {str(device)!r}")
            resolved = torch.device("cuda", resolved.index or 0)
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError(f"onnxruntime {ort.__version__} has no CUDAExecutionProvider "
                                   f"(install onnxruntime-gpu instead of onnxruntime)")
            providers: list[Any] = [("CUDAExecutionProvider", {"device_id": resolved.index}), "CPUExecutionProvider"]
        else:
            resolved = resolve_device("cpu" if device in (None, "auto") else device)
            if resolved.type != "cpu":
                raise BackendError(f"onnxruntime (CPU) cannot run on device {resolved}; use kind 'onnxruntime-cuda'")
            providers = ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if intra_op_threads is not None:
            if intra_op_threads < 0:
                raise ValueError(f"intra_op_threads must be >= 0 (0 = onnxruntime's default), got {intra_op_threads}")
            options.intra_op_num_threads = intra_op_threads
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except _onnxruntime_load_errors() as exc:
            raise ModelFileError(f"{path}: onnxruntime cannot load it ({exc})") from exc
        if use_cuda and session.get_providers()[0] != "CUDAExecutionProvider":
            raise BackendError("onnxruntime could not start its CUDA provider (CUDA or cuDNN libraries missing? "
                               "see the onnxruntime warning above)")
        self.name = "onnxruntime-cuda" if use_cuda else "onnxruntime"
        self.takes_tensors = use_cuda and torch.cuda.is_available()
        self._session = session
        batch, _, height, width = _check_onnx_signature(session, path)
        metadata = session.get_modelmeta().custom_metadata_map
        config = _config_from_metadata(metadata, path)
        fixed = (width, height) if isinstance(width, int) and isinstance(height, int) else None
        fixed_batch = batch if isinstance(batch, int) else None
        super().__init__(
            device=resolved,
            source=path,
            input_size=fixed,
            size_multiple=config.total_stride if config else 1,
            model_size=fixed or _size_from_metadata(metadata),
            max_batch=fixed_batch,
            batch_fixed=fixed_batch is not None,
            config=config,
        )
        self._output_names = [o.name for o in session.get_outputs() if o.name in (DEPTH_OUTPUT, CONFIDENCE_OUTPUT)]

    def _forward(self, rgb: Any, depth: Any) -> tuple[Any, Any]:
        if self.takes_tensors:
            return self._forward_bound(rgb, depth)
        results = self._session.run(self._output_names, {"rgb": rgb, "depth": depth})
        outputs = dict(zip(self._output_names, results, strict=True))
        return outputs[DEPTH_OUTPUT], outputs.get(CONFIDENCE_OUTPUT)

    def _forward_bound(self, rgb: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """IO binding on torch CUDA tensors: ONNX Runtime reads and writes them in place."""
        binding = self._session.io_binding()
        index = self.device.index
        outputs = {name: torch.empty_like(depth) for name in self._output_names}
        for name, tensor in (("rgb", rgb), ("depth", depth), *outputs.items()):
            bind = binding.bind_input if name in INPUT_NAMES else binding.bind_output
            bind(name, "cuda", index, np.float32, tuple(tensor.shape), tensor.data_ptr())
        # ONNX Runtime works on its own CUDA stream: the inputs PyTorch queued must be complete.
        torch.cuda.current_stream(self.device).synchronize()
        self._session.run_with_iobinding(binding)
        return outputs[DEPTH_OUTPUT], outputs.get(CONFIDENCE_OUTPUT)


class TensorRTBackend(CompletionBackend):
    """A serialized TensorRT 10 engine run with ``execute_async_v3`` on torch CUDA tensors.

    Inputs and outputs are torch tensors whose device pointers are handed to TensorRT; the
    engine runs on a private torch CUDA stream ordered after the caller's current stream, and
    the caller's stream waits for it, so no host synchronisation happens.
    """

    name = "tensorrt"
    takes_tensors = True

    def __init__(self, engine_path: str | os.PathLike, device: str | torch.device | None = None) -> None:
        trt = import_tensorrt()
        resolved = resolve_device("cuda" if device in (None, "auto") else device)
        if resolved.type != "cuda":
            raise BackendError(f"TensorRT runs on CUDA devices only, not {resolved}")
        path = _existing_file(engine_path, "TensorRT engine")
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(resolved):
            self._runtime = trt.Runtime(self._logger)
            self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if self._engine is None:
                raise ModelFileError(
                    f"{path}: TensorRT {trt.__version__} cannot deserialize this engine (corrupt, or built by "
                    f"another TensorRT version or for another GPU); rebuild it with training/build_engine.py"
                )
            self._context = self._engine.create_execution_context()
            self._stream = torch.cuda.Stream(resolved)
        engine = self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = {n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT}
        outputs = [n for n in names if n not in inputs]
        if inputs != set(INPUT_NAMES) or DEPTH_OUTPUT not in outputs:
            raise ModelFileError(f"{path}: expected inputs {list(INPUT_NAMES)} and output {DEPTH_OUTPUT!r}, "
                                 f"engine has inputs {sorted(inputs)} and outputs {outputs}")
        dtypes = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16}
        self._dtypes = {}
        for name in names:
            if engine.get_tensor_dtype(name) not in dtypes:
                raise ModelFileError(f"{path}: tensor {name!r} has unsupported type {engine.get_tensor_dtype(name)}")
            self._dtypes[name] = dtypes[engine.get_tensor_dtype(name)]
        self._output_names = [n for n in outputs if n in (DEPTH_OUTPUT, CONFIDENCE_OUTPUT)]
        declared = tuple(int(v) for v in engine.get_tensor_shape("depth"))
        if min(declared) >= 0:  # a static engine: no optimisation profile to ask
            smallest = largest = declared
        else:
            smallest, _, largest = (tuple(int(v) for v in dims) for dims in engine.get_tensor_profile_shape("depth", 0))
        fixed = (largest[3], largest[2]) if smallest[2:] == largest[2:] else None
        super().__init__(device=resolved, source=path, input_size=fixed, size_multiple=1,
                         model_size=fixed or DEFAULT_MODEL_SIZE, max_batch=largest[0],
                         batch_fixed=smallest[0] == largest[0])

    @classmethod
    def from_onnx(
        cls,
        onnx_path: str | os.PathLike,
        precision: str = "fp16",
        cache_dir: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
    ) -> TensorRTBackend:
        """Load the cached engine built from ``onnx_path``; EngineNotBuiltError (with the build
        command) when this TensorRT version and GPU have none yet."""
        import_tensorrt()
        onnx_path = _existing_file(onnx_path, "ONNX model")
        resolve_device("cuda" if device in (None, "auto") else device)
        return cls(find_cached_engine(onnx_path, precision, cache_dir, device), device)

    def _forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        context, stream = self._context, self._stream
        inputs = (("rgb", rgb), ("depth", depth))
        tensors = {name: tensor.to(self._dtypes[name]).contiguous() for name, tensor in inputs}
        for name, tensor in tensors.items():
            if not context.set_input_shape(name, tuple(tensor.shape)):
                raise InferenceInputError(f"TensorRT engine rejects {name} shape {tuple(tensor.shape)} "
                                          f"(outside its optimisation profile)")
        for name in self._output_names:
            shape = tuple(context.get_tensor_shape(name))
            tensors[name] = torch.empty(shape, dtype=self._dtypes[name], device=self.device)
        for name, tensor in tensors.items():
            context.set_tensor_address(name, tensor.data_ptr())
        caller = torch.cuda.current_stream(self.device)
        stream.wait_stream(caller)
        if not context.execute_async_v3(stream.cuda_stream):
            raise BackendError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        for tensor in tensors.values():
            # Memory allocated on the caller's stream must not be reused before TensorRT is done.
            tensor.record_stream(stream)
        caller.wait_stream(stream)
        confidence = tensors.get(CONFIDENCE_OUTPUT)
        return tensors[DEPTH_OUTPUT].float(), None if confidence is None else confidence.float()


def create_backend(
    kind: str = "auto",
    model_path: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    *,
    precision: str = "fp16",
    engine_cache_dir: str | os.PathLike | None = None,
    intra_op_threads: int | None = None,
    fp16: bool = False,
) -> CompletionBackend:
    """Create the backend ``kind``, or with ``auto`` the first of BACKEND_KINDS that works here.

    ``model_path`` names a model by any of its files: ``X.engine``, ``X.onnx`` or ``X.pt``;
    files with the same stem beside it are its other forms (the engine of ``X.onnx`` is looked
    up in the engine cache). Without a path the shipped CPU model is used. ``auto`` logs why
    each faster backend was skipped and stores the reasons in ``backend.selection_reasons``;
    when none can run, BackendError lists every reason.
    """
    if kind != "auto" and kind not in BACKEND_KINDS:
        raise ValueError(f"unknown backend {kind!r}; expected 'auto' or one of {list(BACKEND_KINDS)}")
    _check_precision(precision)
    files = model_files(model_path)

    def create(candidate: str) -> CompletionBackend:
        if candidate == "tensorrt":
            if ".engine" in files:
                return TensorRTBackend(files[".engine"], device)
            return TensorRTBackend.from_onnx(_require(files, ".onnx", candidate), precision, engine_cache_dir, device)
        if candidate in ("onnxruntime-cuda", "onnxruntime"):
            return OnnxRuntimeBackend(_require(files, ".onnx", candidate), use_cuda=candidate == "onnxruntime-cuda",
                                      device=device, intra_op_threads=intra_op_threads)
        return TorchBackend.from_checkpoint(_require(files, ".pt", candidate), device, fp16=fp16)

    if kind != "auto":
        return create(kind)
    reasons: list[str] = []
    for candidate in BACKEND_KINDS:
        try:
            backend = create(candidate)
        except BackendError as exc:
            reasons.append(f"{candidate}: {exc}")
            LOG.info("backend %s skipped: %s", candidate, exc)
            continue
        backend.selection_reasons = tuple(reasons)
        LOG.info("backend: %s", backend.describe())
        return backend
    raise BackendError("no inference backend can run this model:\n  " + "\n  ".join(reasons))


def model_files(model_path: str | os.PathLike | None) -> dict[str, Path]:
    """The forms of one model, by suffix: the given file plus same-stem siblings (.engine/.onnx/.pt).

    ``None`` means the shipped CPU model (its ONNX export, else its checkpoint).
    """
    path = _shipped_model() if model_path is None else Path(model_path)
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"{path}: unknown model file type {path.suffix!r}; expected one of {list(MODEL_SUFFIXES)}")
    path = _existing_file(path, "model")
    files = {path.suffix: path}
    for suffix in (".onnx", ".pt"):
        sibling = path.with_suffix(suffix)
        if suffix not in files and sibling.is_file():
            files[suffix] = sibling
    return files


def _shipped_model() -> Path:
    """The shipped CPU model: its ONNX export where present, else its checkpoint."""
    problems = []
    for kind in ("onnx", "pt"):
        try:
            return default_model_path(kind=kind)
        except ModelNotFoundError as exc:
            problems.append(str(exc))
    raise ModelFileError("no model path given and no shipped model: " + " ".join(problems))


def _require(files: Mapping[str, Path], suffix: str, kind: str) -> Path:
    if suffix not in files:
        given = ", ".join(str(p) for p in files.values())
        raise BackendError(f"{kind} needs a {suffix} model file; none beside {given}")
    return files[suffix]


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: {what} file not found")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: {what} file is empty")
    return path


def _check_precision(precision: str) -> None:
    if precision not in ENGINE_PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {list(ENGINE_PRECISIONS)}")


def _writable_dir(folder: Path) -> bool:
    """Whether an engine could be created in ``folder`` (creating it if needed)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _format_size(size: tuple[int, int] | None) -> str:
    return "any" if size is None else f"{size[0]}x{size[1]}"


def _size_from_meta(meta: Mapping[str, Any], path: Path) -> tuple[int, int]:
    """Training resolution recorded in a checkpoint's meta (``input_size: [W, H]``), else the default."""
    size = meta.get("input_size")
    if size is None:
        return DEFAULT_MODEL_SIZE
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise ModelFileError(f"{path}: meta 'input_size' must be [width, height], got {size!r}")
    return int(size[0]), int(size[1])


def _check_onnx_signature(session: Any, path: Path) -> list[Any]:
    """Check the exported names and float32 types; returns the depth input's shape (ints or names)."""
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if set(inputs) != set(INPUT_NAMES) or DEPTH_OUTPUT not in outputs:
        raise ModelFileError(f"{path}: expected inputs {list(INPUT_NAMES)} and output {DEPTH_OUTPUT!r}, "
                             f"found inputs {sorted(inputs)} and outputs {sorted(outputs)}")
    for tensor in (*inputs.values(), *outputs.values()):
        if tensor.type != "tensor(float)":
            raise ModelFileError(f"{path}: tensor {tensor.name!r} is {tensor.type}, expected tensor(float)")
    shape = list(inputs["depth"].shape)
    if len(shape) != 4:
        raise ModelFileError(f"{path}: depth input must be 4-D (N, 1, H, W), got {shape}")
    return shape


def _size_from_metadata(metadata: Mapping[str, str]) -> tuple[int, int]:
    """(W, H) that export_onnx recorded (``input_width``/``input_height``); "dynamic" or absent -> default."""
    width, height = metadata.get("input_width", ""), metadata.get("input_height", "")
    return (int(width), int(height)) if width.isdigit() and height.isdigit() else DEFAULT_MODEL_SIZE


def _config_from_metadata(metadata: Mapping[str, str], path: Path) -> ModelConfig | None:
    """The model config stored by training/export_onnx.py, or None for a foreign ONNX file."""
    text = metadata.get(CONFIG_METADATA_KEY)
    if text is None:
        return None
    try:
        return ModelConfig.from_dict(json.loads(text))
    except (json.JSONDecodeError, ModelConfigError) as exc:
        raise ModelFileError(f"{path}: metadata {CONFIG_METADATA_KEY!r} is not a valid model config ({exc})") from exc


def _pad_batch(array: Any, size: int) -> Any:
    """Repeat the last item until the batch has ``size`` items (for fixed-batch models)."""
    short = size - array.shape[0]
    if isinstance(array, torch.Tensor):
        return torch.cat([array, array[-1:].expand(short, *array.shape[1:])])
    return np.concatenate([array, np.repeat(array[-1:], short, axis=0)])


def _to_tensor(array: Any, device: torch.device) -> torch.Tensor | None:
    """Float32 contiguous tensor on ``device``; None stays None (a model without confidence)."""
    return None if array is None else torch.as_tensor(array).to(device=device, dtype=torch.float32).contiguous()


def _to_numpy(array: Any) -> np.ndarray | None:
    """Float32 contiguous numpy array; None stays None."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    return None if array is None else np.ascontiguousarray(array, dtype=np.float32)


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, or BackendError saying how to install it (an optional dependency)."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendError(f"TensorRT is not importable ({exc}); install TensorRT 10 for this Python "
                           f"(pip install tensorrt, or the python3-libnvinfer package on Jetson)") from exc
    return tensorrt


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(f"onnxruntime is not importable ({exc})") from exc
    return onnxruntime


def _onnxruntime_load_errors() -> tuple[type[BaseException], ...]:
    """ONNX Runtime's load failures: its pybind exceptions derive from Exception directly."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return (state.Fail, state.InvalidArgument, state.InvalidGraph, state.InvalidProtobuf, state.NoSuchFile,
            state.NotImplemented, state.RuntimeException)
