"""What every backend shares: the tensor contract, the errors, device resolution and the base class.

A backend takes ``rgb (N, 3, H, W)`` float in 0-1 and ``depth (N, 1, H, W)`` metres (0 =
invalid) — and ``prior (N, 1, H, W)`` metres for a prior-anchored model (``refines_prior``; the
classical fill, see :func:`depth_completion_ros.model.refine_frames`) — and returns
``(completed_depth, confidence | None)``, both ``(N, 1, H, W)``. numpy in
gives numpy out; torch in gives torch out on the caller's device. Subclasses only run one
validated, sanitised batch in their runtime's representation (:meth:`CompletionBackend._forward`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from ..arrays import to_numpy
from ..depth_io import sanitize_depth
from ..model import ModelConfig

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

#: Tensor names of the exported network (:func:`depth_completion_ros.export.export_onnx`).
INPUT_NAMES = ("rgb", "depth")
#: Input names of a prior-anchored network (``PriorCostDCNet``): the classical fill as third input.
PRIOR_INPUT_NAMES = ("rgb", "depth", "prior")
DEPTH_OUTPUT = "completed_depth"
CONFIDENCE_OUTPUT = "confidence"
#: The resolution (W, H) every shipped config is trained at (the Matterport3D benchmark's);
#: used when a model file does not record its own.
DEFAULT_MODEL_SIZE = (320, 256)


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


def network_input_names(path: Path, inputs: Collection[str], outputs: Collection[str]) -> tuple[str, ...]:
    """The input names, in the network's order, that a model file's ``inputs`` and ``outputs`` say
    it has: a plain or a prior-anchored network; ModelFileError naming what the file holds otherwise."""
    names = next((names for names in (INPUT_NAMES, PRIOR_INPUT_NAMES) if set(inputs) == set(names)), None)
    if names is None or DEPTH_OUTPUT not in outputs:
        raise ModelFileError(f"{path}: expected inputs {list(INPUT_NAMES)} and output {DEPTH_OUTPUT!r} (inputs "
                             f"{list(PRIOR_INPUT_NAMES)} for a prior-anchored model), found inputs {sorted(inputs)} "
                             f"and outputs {sorted(outputs)}")
    return names


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
        input_names: tuple[str, ...] = INPUT_NAMES,
    ) -> None:
        self.device = device
        self.source = source
        self.input_size = input_size
        self.size_multiple = size_multiple
        self.model_size = model_size
        self.max_batch = max_batch
        self.batch_fixed = batch_fixed
        self.config = config
        self.input_names = input_names
        #: Why ``create_backend(kind="auto")`` skipped each faster backend (empty otherwise).
        self.selection_reasons: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for logs: kind, device, input size, model file."""
        size = f"fixed input {format_size(self.input_size)}" if self.input_size else (
            f"any input size in multiples of {self.size_multiple}")
        source = f", model {self.source}" if self.source else ""
        return f"{self.name} on {self.device} ({size}, frames fitted to {format_size(self.model_size)}{source})"

    @property
    def refines_prior(self) -> bool:
        """Whether the network takes a ``prior`` (it refines the classical fill at its working
        resolution; callers run it through :func:`depth_completion_ros.model.refine_frames`)."""
        return self.input_names == PRIOR_INPUT_NAMES

    def check_inputs(
        self, rgb_shape: tuple[int, ...], depth_shape: tuple[int, ...], prior_shape: tuple[int, ...] | None = None
    ) -> None:
        """Raise InferenceInputError naming the problem if the shapes cannot be run."""
        if self.refines_prior and prior_shape is None:
            raise InferenceInputError(f"this {self.name} model refines a prior depth (the classical fill): "
                                      f"pass prior (N, 1, H, W) metres")
        if not self.refines_prior and prior_shape is not None:
            raise InferenceInputError(f"this {self.name} model takes no prior (inputs {list(self.input_names)})")
        if prior_shape is not None and prior_shape != depth_shape:
            raise InferenceInputError(f"prior {prior_shape} and depth {depth_shape} differ in shape")
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
                f"{self.name} model takes {format_size(self.input_size)} (WxH) only, got {width}x{height}; "
                f"fit frames with DepthCompleter(fit='crop' or 'resize')"
            )
        multiple = self.size_multiple
        if width == 0 or height == 0 or width % multiple or height % multiple:
            raise InferenceInputError(
                f"image size {width}x{height} (WxH) is not a positive multiple of the network stride {multiple}"
            )

    def infer(self, rgb: ArrayT, depth: ArrayT, prior: ArrayT | None = None) -> tuple[ArrayT, ArrayT | None]:
        """Completed depth and confidence (or None) for a batch, in the caller's array type and device.

        Depth is sanitised first (:func:`depth_io.sanitize_depth`: NaN, inf, negative and absurdly
        far values -> 0): drivers publish NaN for "no return" and some publish 1e6 m or more.
        ``prior`` (prior-anchored models only) is passed as given: the network checks it.
        """
        kind = torch.Tensor if isinstance(depth, torch.Tensor) else np.ndarray
        arrays = {"rgb": rgb, "depth": depth, **({} if prior is None else {"prior": prior})}
        if not all(isinstance(array, kind) for array in arrays.values()):
            each = "both" if len(arrays) == 2 else "all"
            raise InferenceInputError(f"{', '.join(list(arrays)[:-1])} and {list(arrays)[-1]} must {each} be numpy "
                                      f"arrays or {each} torch tensors, got "
                                      f"{' and '.join(type(array).__name__ for array in arrays.values())}")
        for name, array in arrays.items():
            if isinstance(array, torch.Tensor):
                is_float = array.is_floating_point()
            else:
                is_float = np.issubdtype(array.dtype, np.floating)
            if not is_float:
                hint = " (divide uint8 colour by 255)" if name == "rgb" else " (metres)"
                raise InferenceInputError(f"{name} must be floating point{hint}, got {array.dtype}")
        self.check_inputs(tuple(rgb.shape), tuple(depth.shape), None if prior is None else tuple(prior.shape))
        arrays["depth"] = sanitize_depth(depth)
        convert = (lambda array: _to_tensor(array, self.device)) if self.takes_tensors else _to_float32_numpy
        completed, confidence = self._forward_batched(*(convert(array) for array in arrays.values()))
        if isinstance(depth, torch.Tensor):
            device = depth.device
            return _to_tensor(completed, device), None if confidence is None else _to_tensor(confidence, device)
        return _to_float32_numpy(completed), None if confidence is None else _to_float32_numpy(confidence)

    def _forward_batched(self, *inputs: Any) -> tuple[Any, Any]:
        """Run in chunks of ``max_batch`` (static exports and TensorRT profiles cap the batch)."""
        count = inputs[0].shape[0]
        step = self.max_batch or count
        if count == step or (count < step and not self.batch_fixed):
            return self._forward(*inputs)
        concat = torch.cat if self.takes_tensors else np.concatenate
        parts = []
        for start in range(0, count, step):
            chunks = [array[start : start + step] for array in inputs]
            if self.batch_fixed and chunks[0].shape[0] < step:
                chunks = [_pad_batch(chunk, step) for chunk in chunks]
            parts.append(self._forward(*chunks))
        completed = concat([part[0] for part in parts])[:count]
        confidence = None if parts[0][1] is None else concat([part[1] for part in parts])[:count]
        return completed, confidence

    @abstractmethod
    def _forward(self, rgb: Any, depth: Any, prior: Any = None) -> tuple[Any, Any]:
        """Run one batch already in this backend's representation (validated, sanitised);
        ``prior`` only for a prior-anchored model."""


def format_size(size: tuple[int, int] | None) -> str:
    """``WxH``, or ``any`` for a backend without a fixed input size."""
    return "any" if size is None else f"{size[0]}x{size[1]}"


def _pad_batch(array: Any, size: int) -> Any:
    """Repeat the last item until the batch has ``size`` items (for fixed-batch models)."""
    short = size - array.shape[0]
    if isinstance(array, torch.Tensor):
        return torch.cat([array, array[-1:].expand(short, *array.shape[1:])])
    return np.concatenate([array, np.repeat(array[-1:], short, axis=0)])


def _to_tensor(array: Any, device: torch.device) -> torch.Tensor:
    """Float32 contiguous tensor on ``device``."""
    return torch.as_tensor(array).to(device=device, dtype=torch.float32).contiguous()


def _to_float32_numpy(array: Any) -> np.ndarray:
    """Float32 contiguous numpy array (what ONNX Runtime's CPU session takes)."""
    return np.ascontiguousarray(to_numpy(array), dtype=np.float32)
