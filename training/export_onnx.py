"""Export CostDCNet to ONNX and prove the export computes what PyTorch computes.

    python training/export_onnx.py --checkpoint run/best.pt --output models/costdcnet_cpu.onnx
    python training/export_onnx.py --config costdcnet_cpu --output /tmp/untrained.onnx --dynamic
    python training/export_onnx.py --checkpoint models/costdcnet_prior_cpu.pt --output models/costdcnet_prior_cpu.onnx --dynamic

The graph has inputs ``rgb`` (N,3,H,W) float 0–1 and ``depth`` (N,1,H,W) float metres
(0/NaN/inf = invalid) — and ``prior`` (N,1,H,W) metres for a prior-anchored model, whose
graph runs at the working resolution (the library resizes frames to it and upsamples the
correction after the backend) — outputs ``completed_depth`` and ``confidence`` (N,1,H,W), and only
standard operators (Conv, BatchNormalization folded, MaxPool, Resize, DepthToSpace, Softmax,
ArgMax, Pad/Slice/Concat, elementwise). The model config and input size are stored in the
ONNX ``metadata_props`` so backends can configure themselves from the file alone. After
writing, the export is always compared with PyTorch on real frames (Matterport3D; for a
prior-anchored model also 7-Scenes and ClearGrasp frames at their working resolutions), or,
when the shared data folder is absent, on random input, said so loudly.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

if not __package__:  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

from depth_completion_ros import __version__  # noqa: E402
from depth_completion_ros.datasets import discover_frames, load_frame  # noqa: E402
from depth_completion_ros.depth_io import atomic_output  # noqa: E402
from depth_completion_ros.geometry import resize_color, resize_depth  # noqa: E402
from depth_completion_ros.classical import classical_fill  # noqa: E402
from depth_completion_ros.interpolation import midpoint_fill  # noqa: E402
from depth_completion_ros.model import DepthNetwork, PriorCostDCNet, build_model, load_checkpoint  # noqa: E402
from depth_completion_ros.model import to_working_resolution  # noqa: E402

OUTPUT_NAMES = ("completed_depth", "confidence")
DEFAULT_OPSET = 17
#: FP32 parity tolerance between ONNX Runtime and PyTorch, metres.
PARITY_TOLERANCE_M = 1e-3
#: Folder of the real frames used for the parity check (``$DC_SHARED_DATA`` overrides).
SHARED_DATA = Path(os.environ.get("DC_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@dataclass(frozen=True)
class ParityResult:
    """Largest ONNX Runtime vs PyTorch difference on one input."""

    name: str
    depth_max_abs_m: float
    confidence_max_abs: float

    @property
    def ok(self) -> bool:
        return self.depth_max_abs_m <= PARITY_TOLERANCE_M


#: Named network inputs (``model.input_names`` order) as float32 NCHW arrays.
NamedInputs = dict[str, np.ndarray]


def export_onnx(
    model: DepthNetwork,
    output: str | os.PathLike,
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
    tracing example. The model is exported in eval mode and left in the mode it was in. A
    prior-anchored model must be exported with ``dynamic=True``: it runs at each frame's own
    working resolution.
    """
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    if isinstance(model, PriorCostDCNet) and not dynamic:
        raise ValueError(f"{model.config.name} runs at each frame's working resolution (aspect ratio kept): "
                         "export it with dynamic=True (--dynamic)")
    output = Path(output)
    was_training = model.training
    model.eval()
    try:
        _export(model, output, height, width, dynamic, batch, opset)
    finally:
        model.train(was_training)
    return output


def _export(model: DepthNetwork, output: Path, height: int, width: int, dynamic: bool, batch: int, opset: int) -> None:
    device = next(model.parameters()).device
    example = [torch.from_numpy(array).to(device) for array in _random_inputs(model, height, width, batch)[0][1].values()]
    model.check_inputs(*example)
    dynamic_axes = None
    if dynamic:
        axes = {0: "batch", 2: "height", 3: "width"}
        dynamic_axes = {name: axes for name in model.input_names + OUTPUT_NAMES}
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


def _add_metadata(graph: onnx.ModelProto, model: DepthNetwork, batch: int, height: int, width: int, dynamic: bool) -> None:
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
        "model_config": json.dumps(config.to_dict()),
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
    del graph.metadata_props[:]
    onnx.helper.set_model_props(graph, metadata)
    graph.doc_string = f"CostDCNet depth completion ({config.name}); metadata_props hold the model config."


def read_onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (model config JSON, input size, depth range)."""
    return {prop.key: prop.value for prop in onnx.load(str(path), load_external_data=False).metadata_props}


def parity_inputs(
    model: DepthNetwork, height: int, width: int, batch: int = 1, data_root: Path = SHARED_DATA
) -> list[tuple[str, NamedInputs]]:
    """``(name, inputs)`` from real frames for ``model``; empty when the data folder is absent.

    The plane model gets :func:`fitted_frames`; a prior-anchored model gets
    :func:`working_resolution_frames` (``height``/``width`` do not apply: each frame has its own).
    """
    if isinstance(model, PriorCostDCNet):
        return working_resolution_frames(model, batch, data_root)
    return fitted_frames(height, width, batch, data_root)


def fitted_frames(height: int, width: int, batch: int = 1, data_root: Path = SHARED_DATA) -> list[tuple[str, NamedInputs]]:
    """The Matterport frames resized (depth nearest-neighbour) to ``width`` x ``height``."""
    return [(name, _fitted_inputs(rgb, depth, height, width, batch))
            for name, rgb, depth in _real_frames(data_root, [("matterport3d", "matterport", slice(None))])]


def working_resolution_frames(model: PriorCostDCNet, batch: int = 1, data_root: Path = SHARED_DATA) -> list[tuple[str, NamedInputs]]:
    """What the library feeds a prior-anchored network: a Matterport3D, a 7-Scenes and a
    ClearGrasp frame after the midpoint pre-pass, with their classical fill as prior, each
    brought to its own working resolution (so a dynamic export is checked at several sizes)."""
    sources = [("matterport3d", "matterport", slice(0, 1)), ("7scenes_redkitchen", "frames", slice(250, 251)),
               ("cleargrasp_d435", "cleargrasp", slice(0, 1))]
    return [(name, _prior_inputs(model, rgb, depth, batch)) for name, rgb, depth in _real_frames(data_root, sources)]


def _real_frames(data_root: Path, sources: list[tuple[str, str, slice]]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(folder/name, rgb uint8, depth metres)`` of the selected frames of each present folder."""
    frames = []
    for folder, layout, selection in sources:
        root = data_root / folder
        if root.is_dir():
            for frame in discover_frames(root, layout=layout)[selection]:
                sample = load_frame(frame)
                frames.append((f"{folder}/{sample.name}", sample.rgb, sample.depth))
    return frames


def _fitted_inputs(rgb: np.ndarray, depth: np.ndarray, height: int, width: int, batch: int) -> NamedInputs:
    if depth.shape != (height, width):
        rgb, depth = resize_color(rgb, width, height), resize_depth(depth, width, height)
    named = {"rgb": (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None],
             "depth": depth[None, None].astype(np.float32)}
    return {key: np.repeat(value, batch, axis=0) for key, value in named.items()}


def _prior_inputs(model: PriorCostDCNet, rgb: np.ndarray, depth: np.ndarray, batch: int) -> NamedInputs:
    """One frame as the library hands it to a backend (see :func:`working_resolution_frames`)."""
    prefilled = midpoint_fill(np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0))
    prior = classical_fill(prefilled, rgb)
    height, width = depth.shape
    tensors = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in
               ((rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None], prefilled[None, None], prior[None, None])]
    working = to_working_resolution(*tensors, model.working_size(width, height), model.config.total_stride)
    named = {"rgb": working.rgb.numpy(), "depth": working.depth.numpy(), "prior": working.prior.numpy()}
    return {key: np.repeat(value, batch, axis=0) for key, value in named.items()}


def check_parity(model: DepthNetwork, onnx_path: str | os.PathLike, inputs: list[tuple[str, NamedInputs]]) -> list[ParityResult]:
    """Run PyTorch (FP32, CPU) and ONNX Runtime (CPU) on the same inputs; report the largest differences."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    model = copy.deepcopy(model).float().cpu().eval()  # the caller's model keeps its device and dtype
    results = []
    for name, named in inputs:
        with torch.no_grad():
            expected = [t.numpy() for t in model(*(torch.from_numpy(named[key]) for key in model.input_names))]
        actual = session.run(list(OUTPUT_NAMES), named)
        differences = [float(np.max(np.abs(a - e))) for a, e in zip(actual, expected)]
        results.append(ParityResult(name, *differences))
    return results


def _random_inputs(model: DepthNetwork, height: int, width: int, batch: int) -> list[tuple[str, NamedInputs]]:
    generator = np.random.default_rng(0)
    rgb = generator.random((batch, 3, height, width), dtype=np.float32)
    prior = 0.3 + generator.random((batch, 1, height, width), dtype=np.float32) * (model.config.max_depth - 0.3)
    depth = prior * (1 + 0.1 * generator.standard_normal(prior.shape).astype(np.float32))
    depth[generator.random(depth.shape) < 0.4] = 0.0
    named = {"rgb": rgb, "depth": depth, "prior": prior}
    return [("random input", {key: named[key] for key in model.input_names})]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="trained checkpoint (.pt from save_checkpoint)")
    source.add_argument("--config", help="export freshly initialised weights of this config (name or YAML path)")
    parser.add_argument("--output", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--batch", type=int, default=1, help="fixed batch size (ignored with --dynamic)")
    parser.add_argument("--dynamic", action="store_true", help="dynamic batch, height and width")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    args = parser.parse_args(argv)

    if args.checkpoint is not None:
        model, _ = load_checkpoint(args.checkpoint)
    else:
        torch.manual_seed(0)
        model = build_model(args.config)
    try:
        path = export_onnx(model, args.output, args.height, args.width, args.dynamic, args.batch, args.opset)
    except ValueError as exc:
        parser.error(str(exc))
    parameters = sum(p.numel() for p in model.parameters())
    print(f"wrote {path} ({model.config.name}, {parameters:,} parameters, opset {args.opset}, "
          f"{'dynamic size' if args.dynamic else f'{args.batch}x{args.height}x{args.width}'})")

    batch = 1 if args.dynamic else args.batch
    inputs = parity_inputs(model, args.height, args.width, batch)
    if not inputs:
        print(f"NOTE: no real frames at {SHARED_DATA} (set DC_SHARED_DATA); parity on RANDOM input only")
        inputs = _random_inputs(model, args.height, args.width, batch)
    results = check_parity(model, path, inputs)
    print(f"\nParity ONNX Runtime vs PyTorch (FP32, CPU), tolerance {PARITY_TOLERANCE_M * 1000:.1f} mm on depth:")
    print("| frame | max abs depth diff (mm) | max abs confidence diff | ok |\n|---|---|---|---|")
    for result in results:
        print(f"| {result.name} | {result.depth_max_abs_m * 1000:.4f} | {result.confidence_max_abs:.2e} | {'yes' if result.ok else 'NO'} |")
    if not all(result.ok for result in results):
        print(f"PARITY FAILED: ONNX output differs from PyTorch by more than {PARITY_TOLERANCE_M * 1000:.1f} mm", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
