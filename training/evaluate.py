"""Evaluate trained models against the classical baselines on a real dataset, in one run.

    python -m training.evaluate --model models/costdcnet_cpu.onnx --data ../shared/data/matterport3d --out eval/mp

Every model (``--model``, repeatable: a ``.pt`` checkpoint, ``.onnx`` or ``.engine``, optionally
``NAME=PATH``) runs through :class:`~depth_completion_ros.pipeline.DepthCompleter` - the node's
own code path: midpoint pre-pass, crop/resize to the network, inference, upsampling back to the
frame, observed pixels kept - so the figures are what the node delivers, at the data's native
resolution (ground truth is never resized). Next to the models, on identical inputs:

- ``classical``: the project's ip_basic-style completion (``DepthCompleter(method="classical")``)
- ``nearest``: every hole takes its nearest observed depth
- ``inpaint``: OpenCV Telea inpainting

``--hybrid T`` (repeatable) also scores each model as a confidence-gated hybrid,
``NAME+classical@T``: its fills with confidence below ``T`` replaced by the classical fill
(``DepthCompleter(low_confidence="classical")``, the same loaded network).

Protocols (``--protocol``): ``gt`` scores against the dataset's reference depth (Matterport3D
mesh depth, ClearGrasp opaque-object depth); ``hidden`` hides extra realistic regions of raw
frames with a fixed seed and scores only those (7-Scenes, your own recordings); ``auto`` picks
``gt`` when every frame has a reference. Writes ``OUT/metrics.json``, ``OUT/metrics.md``
(observed/hole split, hole sizes, ms per frame) and raw/pred/GT/error panels in ``OUT/panels``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depth_completion_ros.classical import inpaint_fill, nearest_fill
from depth_completion_ros.cli.common import add_protocol_arguments
from depth_completion_ros.datasets import LAYOUTS, Frame, discover_frames, load_frame, parse_frame_range
from depth_completion_ros.depth_io import atomic_output, write_color
from depth_completion_ros.evaluation import (
    EvaluationReport,
    Method,
    evaluate,
    prepare_inputs,
    resolve_protocol,
)
from depth_completion_ros.metrics import MIN_GT_DEPTH
from depth_completion_ros.pipeline import FITS, DepthCompleter
from depth_completion_ros.visualization import make_panel, robust_depth_range

LOG = logging.getLogger("evaluate")
BASELINES = ("classical", "nearest", "inpaint")


def parse_model_argument(text: str) -> tuple[str, Path]:
    """``NAME=PATH`` or ``PATH`` (named after the file: ``costdcnet_cpu.onnx``)."""
    name, sep, path = text.partition("=")
    model = Path(path if sep else text)
    return (name if sep else model.name), model


def model_method(completer: DepthCompleter) -> Method:
    def complete(depth: np.ndarray, rgb: np.ndarray | None) -> np.ndarray:
        return completer.complete(depth, rgb).depth

    return complete


def hybrid_name(model_name: str, threshold: float) -> str:
    """The reported name of ``model_name`` gated at ``threshold`` with the classical fill."""
    return f"{model_name}+classical@{threshold:g}"


def build_methods(
    models: Mapping[str, Path],
    baselines: Sequence[str] = BASELINES,
    backend: str = "auto",
    fit: str = "crop",
    device: str | None = None,
    hybrid_thresholds: Sequence[float] = (),
) -> tuple[dict[str, Method], dict[str, DepthCompleter]]:
    """The methods to score (models, their hybrids, then baselines) and the model completers by name."""
    completers = {}
    for name, path in models.items():
        completer = DepthCompleter(method="model", backend=backend, model_path=str(path), fit=fit, device=device)
        completers[name] = completer
        for threshold in hybrid_thresholds:
            completers[hybrid_name(name, threshold)] = DepthCompleter(
                method="model", backend=completer.backend, fit=fit, confidence_threshold=threshold,
                low_confidence="classical")
    methods: dict[str, Method] = {name: model_method(completer) for name, completer in completers.items()}
    for baseline in baselines:
        if baseline == "classical":
            methods[baseline] = model_method(DepthCompleter(method="classical"))
        elif baseline == "nearest":
            methods[baseline] = lambda depth, rgb: nearest_fill(depth)
        elif baseline == "inpaint":
            methods[baseline] = lambda depth, rgb: inpaint_fill(depth)
        else:
            raise ValueError(f"unknown baseline {baseline!r} (use any of {', '.join(BASELINES)})")
    return methods, completers


def write_panels(
    frames: Sequence[Frame],
    indices: Sequence[int],
    methods: Mapping[str, Method],
    protocol: str,
    seed: int,
    out_dir: Path,
) -> list[Path]:
    """Raw / completed / reference / error panels for the frames at ``indices`` (positions in the
    evaluated list, so hidden regions are exactly the scored ones), one per method."""
    written = []
    for index in tqdm(indices, desc="panels", unit="frame"):
        sample = load_frame(frames[index])
        input_depth, reference = prepare_inputs(sample, protocol, seed, index)
        # One depth scale per frame, so the methods' panels compare at a glance.
        depth_range = robust_depth_range(input_depth, reference)
        for name, method in methods.items():
            panel = make_panel(
                input_depth,
                method(input_depth, sample.rgb),
                gt=reference,
                rgb=sample.rgb,
                titles={"completed": name, "gt": "hidden (measured)" if protocol == "hidden" else "reference"},
                depth_range=depth_range,
            )
            safe_name = frames[index].name.replace("/", "__")
            written.append(write_color(out_dir / f"{safe_name}__{name.replace('/', '_')}.png", panel))
    return written


def panel_indices(count: int, panels: int) -> list[int]:
    """``panels`` frame positions spread evenly over ``count`` frames."""
    if panels <= 0:
        return []
    return sorted(set(np.linspace(0, count - 1, min(panels, count)).round().astype(int).tolist()))


def report_markdown(report: EvaluationReport, info: Mapping[str, object]) -> str:
    lines = ["# Depth-completion evaluation", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    return "\n".join(lines) + "\n\n" + report.markdown() + "\n"


def run_evaluation(args: argparse.Namespace) -> EvaluationReport:
    frames = discover_frames(args.data, layout=args.layout)
    selected = parse_frame_range(args.frames, len(frames))
    frames = [frames[i] for i in selected]
    protocol = resolve_protocol(frames, args.protocol, args.draws)
    models = dict(parse_model_argument(text) for text in args.model)
    methods, completers = build_methods(models, [] if args.no_baselines else BASELINES, args.backend, args.fit,
                                        args.device, args.hybrid)
    for name, completer in completers.items():
        LOG.info("%s: %s", name, completer.describe())
    started = time.perf_counter()
    report = evaluate(frames, methods, protocol=protocol, seed=args.seed, min_gt=args.min_gt, draws=args.draws)
    info = {
        "dataset": str(args.data),
        "layout": frames[0].layout,
        "frames": f"{len(frames)} ({frames[0].name} ... {frames[-1].name}; range {args.frames or 'all'})",
        "protocol": protocol + (f" (seeds {args.seed}..{args.seed + args.draws - 1})" if args.draws > 1 else
                                f" (seed {args.seed})" if protocol == "hidden" else ""),
        "models": {name: str(path) for name, path in models.items()},
        "fit": args.fit,
        "hybrid_thresholds": args.hybrid,
        "min_gt": args.min_gt,
        "wall_seconds": round(time.perf_counter() - started, 1),
        # The exact selection, to redo any frame as scored (training.win_loss).
        "selection": {"protocol": protocol, "seed": args.seed, "draws": args.draws, "frames": args.frames},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_output(args.out / "metrics.json") as tmp:
        tmp.write_text(json.dumps({"info": info, **dataclasses.asdict(report)}, indent=1, allow_nan=True))
    with atomic_output(args.out / "metrics.md") as tmp:
        tmp.write_text(report_markdown(report, info))
    write_panels(frames, panel_indices(len(frames), args.panels), methods, protocol, args.seed, args.out / "panels")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", action="append", default=[], metavar="[NAME=]PATH",
                        help="model to evaluate (.pt/.onnx/.engine); repeat to compare several")
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset root (Matterport3D, frame sequence, ClearGrasp)")
    parser.add_argument("--layout", choices=("auto", *LAYOUTS), default="auto")
    add_protocol_arguments(parser)
    parser.add_argument("--frames", default=None, metavar="START:STOP",
                        help="evaluate only these frames (sorted order), e.g. 220:300 - keep them disjoint from "
                             "training")
    parser.add_argument("--min-gt", type=float, default=MIN_GT_DEPTH, help="reference depth must exceed this (m)")
    parser.add_argument("--backend", default="auto",
                        help="inference backend: auto|tensorrt|onnxruntime-cuda|onnxruntime|torch")
    parser.add_argument("--fit", choices=FITS, default="crop",
                        help="how frames are fitted to the network (as the node)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--hybrid", type=float, action="append", default=[], metavar="THRESHOLD",
                        help="also score each model with fills below this confidence taken from the classical "
                             "fill (repeatable)")
    parser.add_argument("--no-baselines", action="store_true", help="score the models only")
    parser.add_argument("--panels", type=int, default=4, help="frames to draw panels for (spread over the set)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if not args.model and args.no_baselines:
        print("error: nothing to evaluate: give --model and/or drop --no-baselines", file=sys.stderr)
        return 2
    if args.hybrid and not args.model:
        print("error: --hybrid gates a model's fills: give --model", file=sys.stderr)
        return 2
    try:
        report = run_evaluation(args)
    except (OSError, ValueError) as exc:  # missing or corrupt data or model, a bad choice: metrics unwritten
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.markdown())
    print(f"\nwritten to {args.out}/metrics.md, metrics.json and panels/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
