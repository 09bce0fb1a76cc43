"""A serialized TensorRT 10 engine, run in place on torch CUDA tensors.

``tensorrt`` itself is imported only when an engine is loaded (:func:`runtimes.import_tensorrt`),
so this module imports everywhere and machines without TensorRT fall back to the other backends.
"""
from __future__ import annotations

import os

import torch

from ..model import ModelConfig
from .base import (
    CONFIDENCE_OUTPUT,
    DEFAULT_MODEL_SIZE,
    DEPTH_OUTPUT,
    PRIOR_INPUT_NAMES,
    BackendError,
    CompletionBackend,
    InferenceInputError,
    ModelFileError,
    network_input_names,
    resolve_device,
)
from .engine_cache import find_cached_engine
from .model_files import existing_file
from .onnxruntime_backend import onnx_model_config
from .runtimes import import_tensorrt


class TensorRTBackend(CompletionBackend):
    """A serialized TensorRT 10 engine run with ``execute_async_v3`` on torch CUDA tensors.

    Inputs and outputs are torch tensors whose device pointers are handed to TensorRT; the
    engine runs on a private torch CUDA stream ordered after the caller's current stream, and
    the caller's stream waits for it, so no host synchronisation happens.
    """

    name = "tensorrt"
    takes_tensors = True

    def __init__(
        self, engine_path: str | os.PathLike[str], device: str | torch.device | None = None,
        config: ModelConfig | None = None,
    ) -> None:
        """``config``: the network's config, which an engine does not record (:meth:`from_onnx`
        reads it from the ONNX file); a prior-anchored engine needs it."""
        trt = import_tensorrt()
        resolved = resolve_device("cuda" if device in (None, "auto") else device)
        if resolved.type != "cuda":
            raise BackendError(f"TensorRT runs on CUDA devices only, not {resolved}")
        path = existing_file(engine_path, "TensorRT engine")
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(resolved):
            self._runtime = trt.Runtime(self._logger)
            self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if self._engine is None:
                raise ModelFileError(
                    f"{path}: TensorRT {trt.__version__} cannot deserialize this engine (corrupt, or built by "
                    f"another TensorRT version or for another GPU); rebuild it with: "
                    f"depth-completion build-engine <model.onnx>"
                )
            self._context = self._engine.create_execution_context()
            self._stream = torch.cuda.Stream(resolved)
        engine = self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = {n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT}
        outputs = [n for n in names if n not in inputs]
        input_names = network_input_names(path, inputs, outputs)
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
        if input_names == PRIOR_INPUT_NAMES and (config is None or config.anchor != "prior"):
            raise ModelFileError(f"{path}: a prior-anchored engine needs its model config; load it with "
                                 f"TensorRTBackend.from_onnx (which reads the config from the ONNX file)")
        super().__init__(device=resolved, source=path, input_size=fixed, size_multiple=1,
                         model_size=fixed or DEFAULT_MODEL_SIZE, max_batch=largest[0],
                         batch_fixed=smallest[0] == largest[0], config=config, input_names=input_names)

    @classmethod
    def from_onnx(
        cls,
        onnx_path: str | os.PathLike[str],
        precision: str = "fp16",
        cache_dir: str | os.PathLike[str] | None = None,
        device: str | torch.device | None = None,
    ) -> TensorRTBackend:
        """Load the cached engine built from ``onnx_path``; EngineNotBuiltError (with the build
        command) when this TensorRT version and GPU have none yet."""
        import_tensorrt()
        onnx_path = existing_file(onnx_path, "ONNX model")
        resolve_device("cuda" if device in (None, "auto") else device)
        engine = find_cached_engine(onnx_path, precision, cache_dir, device)
        return cls(engine, device, config=onnx_model_config(onnx_path))

    def _forward(
        self, rgb: torch.Tensor, depth: torch.Tensor, prior: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        context, stream = self._context, self._stream
        given = (rgb, depth) if prior is None else (rgb, depth, prior)
        inputs = tuple(zip(self.input_names, given, strict=False))
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

