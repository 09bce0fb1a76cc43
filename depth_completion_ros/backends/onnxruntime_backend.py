"""An exported CostDCNet in ONNX Runtime, on its CUDA execution provider or the CPU."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model import ModelConfig, ModelConfigError
from .base import (
    CONFIDENCE_OUTPUT,
    DEFAULT_MODEL_SIZE,
    DEPTH_OUTPUT,
    BackendError,
    CompletionBackend,
    ModelFileError,
    network_input_names,
    resolve_device,
)
from .model_files import existing_file
from .runtimes import import_onnxruntime

#: ONNX metadata key that holds the model config as JSON (:func:`~depth_completion_ros.export.export_onnx` writes it).
CONFIG_METADATA_KEY = "model_config"


class OnnxRuntimeBackend(CompletionBackend):
    """An exported CostDCNet in ONNX Runtime, on the CUDA execution provider or the CPU.

    On CUDA with a CUDA build of PyTorch, tensors are bound in place (IO binding), so frames
    on the GPU never visit host memory.
    """

    def __init__(
        self,
        onnx_path: str | os.PathLike[str],
        use_cuda: bool = False,
        device: str | torch.device | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        ort = import_onnxruntime()
        path = existing_file(onnx_path, "ONNX model")
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
        input_names, (batch, _, height, width) = _check_onnx_signature(session, path)
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
            input_names=input_names,
        )
        self._output_names = [o.name for o in session.get_outputs() if o.name in (DEPTH_OUTPUT, CONFIDENCE_OUTPUT)]

    def _forward(self, rgb: Any, depth: Any, prior: Any = None) -> tuple[Any, Any]:
        feeds = dict(zip(self.input_names, (rgb, depth, prior), strict=False))
        if self.takes_tensors:
            return self._forward_bound(feeds)
        results = self._session.run(self._output_names, feeds)
        outputs = dict(zip(self._output_names, results, strict=True))
        return outputs[DEPTH_OUTPUT], outputs.get(CONFIDENCE_OUTPUT)

    def _forward_bound(self, feeds: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """IO binding on torch CUDA tensors: ONNX Runtime reads and writes them in place."""
        binding = self._session.io_binding()
        index = self.device.index
        outputs = {name: torch.empty_like(feeds["depth"]) for name in self._output_names}
        for name, tensor in (*feeds.items(), *outputs.items()):
            bind = binding.bind_input if name in feeds else binding.bind_output
            bind(name, "cuda", index, np.float32, tuple(tensor.shape), tensor.data_ptr())
        # ONNX Runtime works on its own CUDA stream: the inputs PyTorch queued must be complete.
        torch.cuda.current_stream(self.device).synchronize()
        self._session.run_with_iobinding(binding)
        return outputs[DEPTH_OUTPUT], outputs.get(CONFIDENCE_OUTPUT)


def _check_onnx_signature(session: Any, path: Path) -> tuple[tuple[str, ...], list[Any]]:
    """Check the exported names and float32 types; returns the input names (in the network's
    order) and the depth input's shape (ints or names)."""
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    names = network_input_names(path, inputs, outputs)
    for tensor in (*inputs.values(), *outputs.values()):
        if tensor.type != "tensor(float)":
            raise ModelFileError(f"{path}: tensor {tensor.name!r} is {tensor.type}, expected tensor(float)")
    shape = list(inputs["depth"].shape)
    if len(shape) != 4:
        raise ModelFileError(f"{path}: depth input must be 4-D (N, 1, H, W), got {shape}")
    return names, shape


def _size_from_metadata(metadata: Mapping[str, str]) -> tuple[int, int]:
    """(W, H) that export_onnx recorded (``input_width``/``input_height``); "dynamic" or absent -> default."""
    width, height = metadata.get("input_width", ""), metadata.get("input_height", "")
    return (int(width), int(height)) if width.isdigit() and height.isdigit() else DEFAULT_MODEL_SIZE


def onnx_model_config(onnx_path: str | os.PathLike[str]) -> ModelConfig | None:
    """The model config an ONNX file records (None for a foreign file): what a TensorRT engine
    built from it needs to know (a prior-anchored model's working resolution)."""
    ort = import_onnxruntime()
    path = existing_file(onnx_path, "ONNX model")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except _onnxruntime_load_errors() as exc:
        raise ModelFileError(f"{path}: onnxruntime cannot load it ({exc})") from exc
    return _config_from_metadata(session.get_modelmeta().custom_metadata_map, path)


def _config_from_metadata(metadata: Mapping[str, str], path: Path) -> ModelConfig | None:
    """The model config stored by :func:`~depth_completion_ros.export.export_onnx`, or None for a foreign ONNX file."""
    text = metadata.get(CONFIG_METADATA_KEY)
    if text is None:
        return None
    try:
        return ModelConfig.from_dict(json.loads(text))
    except (json.JSONDecodeError, ModelConfigError) as exc:
        raise ModelFileError(f"{path}: metadata {CONFIG_METADATA_KEY!r} is not a valid model config ({exc})") from exc


def _onnxruntime_load_errors() -> tuple[type[BaseException], ...]:
    """ONNX Runtime's load failures: its pybind exceptions derive from Exception directly."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return (state.Fail, state.InvalidArgument, state.InvalidGraph, state.InvalidProtobuf, state.NoSuchFile,
            state.NotImplemented, state.RuntimeException)

