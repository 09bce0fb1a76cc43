"""``depth-completion export-onnx`` and ``build-engine``: deploy a trained network.

``export-onnx`` writes a checkpoint (or freshly initialised weights of a config) as ONNX and
proves that ONNX Runtime computes what PyTorch computes; ``build-engine`` builds, checks and
caches the TensorRT engine of that file on the machine that will run it (the name the
``tensorrt`` backend looks for). The work is done by :mod:`depth_completion_ros.export`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..backends import ENGINE_PRECISIONS, BackendError
from ..export import (
    DEFAULT_OPSET,
    DEFAULT_TOLERANCE_M,
    PARITY_DATA_VARIABLE,
    PARITY_TOLERANCE_M,
    EngineBuildError,
    build_engine,
    check_parity,
    export_onnx,
    parity_inputs,
    random_inputs,
)
from ..model import build_model, load_checkpoint
from .common import positive_float, positive_int

#: ``build-engine`` exit statuses besides 0 (built) and 2 (usage errors, missing files).
EXIT_FAILED = 1
EXIT_UNAVAILABLE = 2


def run_export_onnx(args: argparse.Namespace) -> int:
    """Export, then compare with PyTorch on real frames (random input, said so, when there are none)."""
    if args.checkpoint is not None:
        model, _ = load_checkpoint(args.checkpoint)
    else:
        torch.manual_seed(0)  # the same untrained weights on every run
        model = build_model(args.config)
    path = export_onnx(model, args.output, args.height, args.width, args.dynamic, args.batch, args.opset)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"wrote {path} ({model.config.name}, {parameters:,} parameters, opset {args.opset}, "
          f"{'dynamic size' if args.dynamic else f'{args.batch}x{args.height}x{args.width}'})")

    batch = 1 if args.dynamic else args.batch
    inputs = parity_inputs(model, args.height, args.width, batch, args.parity_data)
    if not inputs:
        where = args.parity_data or f"${PARITY_DATA_VARIABLE}"
        print(f"NOTE: no real frames at {where} (pass --parity-data); parity on RANDOM input only")
        inputs = random_inputs(model, args.height, args.width, batch)
    results = check_parity(model, path, inputs)
    print(f"\nParity ONNX Runtime vs PyTorch (FP32, CPU), tolerance {PARITY_TOLERANCE_M * 1000:.1f} mm on depth:")
    print("| frame | max abs depth diff (mm) | max abs confidence diff | ok |\n|---|---|---|---|")
    for result in results:
        print(f"| {result.name} | {result.depth_max_abs_m * 1000:.4f} | {result.confidence_max_abs:.2e} "
              f"| {'yes' if result.ok else 'NO'} |")
    if not all(result.ok for result in results):
        print(f"PARITY FAILED: ONNX output differs from PyTorch by more than {PARITY_TOLERANCE_M * 1000:.1f} mm",
              file=sys.stderr)
        return EXIT_FAILED
    return 0


def run_build_engine(args: argparse.Namespace) -> int:
    """Build and cache the engine; prints its path (the last stdout line)."""
    if (args.width is None) != (args.height is None):
        raise ValueError("give both --width and --height, or neither")
    size = (args.width, args.height) if args.width is not None else None
    try:
        path = build_engine(args.onnx, args.precision, args.cache_dir, args.workspace_gb, size, args.max_batch,
                            args.tolerance)
    except BackendError as exc:
        print(f"error: cannot build a TensorRT engine on this machine: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except EngineBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(path)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``export-onnx`` and ``build-engine``."""
    export = subparsers.add_parser(
        "export-onnx",
        help="export a checkpoint to ONNX and check it against PyTorch",
        description="Write a trained checkpoint (or a config's freshly initialised weights) as ONNX, with the "
        "model config in its metadata, then compare ONNX Runtime with PyTorch on real frames. "
        "Exit status: 0 written and matching, 1 parity failure, 2 usage errors.",
    )
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="trained checkpoint (.pt: model.pt, best.pt, last.pt)")
    source.add_argument("--config", help="export freshly initialised weights of this model config (name or YAML path)")
    export.add_argument("--output", type=Path, required=True, help="ONNX file to write")
    export.add_argument("--height", type=positive_int, default=256, help="input height (default 256)")
    export.add_argument("--width", type=positive_int, default=320, help="input width (default 320)")
    export.add_argument("--batch", type=positive_int, default=1, help="fixed batch size (ignored with --dynamic)")
    export.add_argument("--dynamic", action="store_true",
                        help="dynamic batch, height and width (required for a prior-anchored model)")
    export.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset, >= 17 (default {DEFAULT_OPSET})")
    export.add_argument("--parity-data", type=Path, default=None,
                        help="folder holding matterport3d/ (and 7scenes_redkitchen/, cleargrasp_d435/) frames for "
                        "the parity check (default: $DC_SHARED_DATA, else shared/data beside a source checkout)")
    export.set_defaults(func=run_export_onnx)

    engine = subparsers.add_parser(
        "build-engine",
        help="build, check and cache the TensorRT engine of an ONNX export on this machine",
        description="Build the TensorRT 10 engine of an exported model for this GPU and TensorRT version, compare "
        "it with ONNX Runtime, and cache it where the tensorrt backend looks (beside the ONNX file, else "
        "~/.cache/depth_completion_ros/engines, or --cache-dir). Exit status: 0 built, 1 build or parity "
        "failure, 2 TensorRT or a CUDA GPU not available here, or a usage error.",
    )
    engine.add_argument("onnx", type=Path, help="exported model (depth-completion export-onnx)")
    engine.add_argument("--precision", choices=ENGINE_PRECISIONS, default="fp16", help="default fp16")
    engine.add_argument("--cache-dir", type=Path, default=None,
                        help="engine folder (default: beside the ONNX, else ~/.cache/depth_completion_ros/engines)")
    engine.add_argument("--workspace-gb", type=positive_float, default=2.0,
                        help="TensorRT builder workspace limit (default 2)")
    engine.add_argument("--width", type=positive_int, default=None, help="input width for a dynamic-size ONNX")
    engine.add_argument("--height", type=positive_int, default=None, help="input height for a dynamic-size ONNX")
    engine.add_argument("--max-batch", type=positive_int, default=1, help="largest batch for a dynamic-batch ONNX")
    engine.add_argument("--tolerance", type=float, default=None,
                        help=f"parity tolerance in metres (default per precision: {DEFAULT_TOLERANCE_M})")
    engine.set_defaults(func=run_build_engine)
