"""Export a depth-completion network to ONNX, with its config in the file's metadata.

The graph has inputs ``rgb`` (N,3,H,W) float 0–1 and ``depth`` (N,1,H,W) float metres
(0/NaN/inf = invalid) — and ``prior`` (N,1,H,W) metres for a prior-anchored model, whose
graph runs at the working resolution (the library resizes frames to it and upsamples the
correction after the backend) — outputs ``completed_depth`` and ``confidence`` (N,1,H,W), and only
standard operators (Conv, BatchNormalization folded, MaxPool, Resize, DepthToSpace, Softmax,
ArgMax, Pad/Slice/Concat, elementwise). The model config and input size are stored in the
ONNX ``metadata_props`` so backends can configure themselves from the file alone.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .. import __version__
from ..backends import CONFIDENCE_OUTPUT, CONFIG_METADATA_KEY, DEPTH_OUTPUT
from ..depth_io import atomic_output
from ..model import DepthNetwork, PriorCostDCNet, fuse_for_inference
from .parity import random_inputs

if TYPE_CHECKING:
    import onnx

OUTPUT_NAMES = (DEPTH_OUTPUT, CONFIDENCE_OUTPUT)
DEFAULT_OPSET = 17


def export_onnx(
    model: DepthNetwork,
    output: str | os.PathLike[str],
    height: int = 256,
    width: int = 320,
    dynamic: bool = False,
    batch: int = 1,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write ``model`` as ONNX (atomically) and return the path.

    ``dynamic=False`` fixes the input to ``(batch, ·, height, width)`` — what TensorRT builds
    fastest; ``dynamic=True`` leaves batch, height and width free (each image size must still be
    a multiple of ``model.config.total_stride``: the strided convolutions, MaxPool, the volume
    reshapes and DepthToSpace must divide evenly). ``height``/``width`` then only size the
    tracing example. What is exported is the model's fused inference form
    (:func:`~depth_completion_ros.model.fuse_for_inference`, eval mode); ``model`` is untouched. A
    prior-anchored model must be exported with ``dynamic=True``: it runs at each frame's own
    working resolution.
    """
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    if isinstance(model, PriorCostDCNet) and not dynamic:
        raise ValueError(f"{model.config.name} runs at each frame's working resolution (aspect ratio kept): "
                         "export it with dynamic=True (--dynamic)")
    output = Path(output)
    _export(fuse_for_inference(model), output, height, width, dynamic, batch, opset)
    return output


def _export(model: DepthNetwork, output: Path, height: int, width: int, dynamic: bool, batch: int, opset: int) -> None:
    import onnx  # only needed here: importing it costs every command-line start ~0.5 s

    device = next(model.parameters()).device
    _, named = random_inputs(model, height, width, batch)[0]
    example = [torch.from_numpy(array).to(device) for array in named.values()]
    model.check_inputs(*example)
    dynamic_axes = None
    if dynamic:
        axes = {0: "batch", 2: "height", 3: "width"}
        dynamic_axes = {name: axes for name in (*model.input_names, *OUTPUT_NAMES)}
    with atomic_output(output) as tmp, torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is chosen on purpose (docs/model.md); its deprecation notices
        # are not actionable for the user.
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        # F.pad's reversed pad list leaves one constant step -1 Slice unfolded; ONNX Runtime folds it.
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(
            model,
            tuple(example),
            str(tmp),
            input_names=list(model.input_names),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
        graph = onnx.load(str(tmp))
        _add_metadata(graph, model, batch, height, width, dynamic)
        onnx.checker.check_model(graph, full_check=True)
        onnx.save(graph, str(tmp))


def _add_metadata(
    graph: onnx.ModelProto, model: DepthNetwork, batch: int, height: int, width: int, dynamic: bool
) -> None:
    import onnx

    config = model.config
    if isinstance(model, PriorCostDCNet):
        inputs = ("rgb (N,3,H,W) float 0-1; depth (N,1,H,W) float metres, 0/NaN/inf = invalid; prior (N,1,H,W) "
                  "float metres > 0 (the classical fill); all at the working resolution padded to total_stride")
        outputs = ("completed_depth (N,1,H,W) metres = prior * exp(correction); confidence (N,1,H,W) 0-1 "
                   "(peak 3-offset mass, rescaled)")
    else:
        inputs = "rgb (N,3,H,W) float 0-1; depth (N,1,H,W) float metres, 0/NaN/inf = invalid"
        outputs = "completed_depth (N,1,H,W) metres; confidence (N,1,H,W) 0-1 (peak 3-plane mass, rescaled)"
    metadata = {
        CONFIG_METADATA_KEY: json.dumps(config.to_dict()),
        "model_name": config.name,
        "input_batch": "dynamic" if dynamic else str(batch),
        "input_height": "dynamic" if dynamic else str(height),
        "input_width": "dynamic" if dynamic else str(width),
        "total_stride": str(config.total_stride),
        "min_depth": str(config.min_depth),
        "max_depth": str(config.max_depth),
        "inputs": inputs,
        "outputs": outputs,
        "producer": f"depth_completion_ros {__version__}",
    }
    onnx.helper.set_model_props(graph, metadata)
    graph.doc_string = f"CostDCNet depth completion ({config.name}); metadata_props hold the model config."


def read_onnx_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (model config JSON, input size, depth range)."""
    import onnx

    return {prop.key: prop.value for prop in onnx.load(str(path), load_external_data=False).metadata_props}
