"""``depth-completion``: the offline tools (the seed's original use: process a folder of pictures).

Sub-commands:
  complete   complete every frame of a folder or dataset, writing depth in the input's units
  evaluate   score a method against ground truth (or hidden regions) and print the metrics table
  bag        rosbag2 tools (from-frames, play, record, info, evaluate)
  demo       the streaming demo: synthetic sequence -> bag -> node -> completed bag + report
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .bags import register_cli as register_bag_cli
from .backends import BACKEND_KINDS, BackendError
from .datasets import LAYOUTS, Frame, Sample, discover_frames, load_frame
from .demo import register_cli as register_demo_cli
from .depth_io import DepthIOError, write_color, write_depth
from .pipeline import FITS, LOW_CONFIDENCE, METHODS, DepthCompleter

LOG = logging.getLogger("depth_completion")
#: Frames decoded ahead of the one being completed (bounds the memory the loader holds).
LOAD_AHEAD = 4


def add_completer_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that choose and configure a DepthCompleter; shared by every command that completes depth."""
    parser.add_argument("--method", choices=METHODS, default="classical",
                        help="model: CostDCNet; classical: full hole filling on CPU; interp: midpoint pass only")
    parser.add_argument("--backend", choices=("auto", *BACKEND_KINDS), default="auto",
                        help="inference backend for --method model (auto: the fastest that runs here)")
    parser.add_argument("--model", type=Path, default=None, help="model file (.onnx/.pt/.engine); default: the shipped CPU model")
    parser.add_argument("--fit", choices=FITS, default="crop",
                        help="how frames are fitted to the model's input size")
    parser.add_argument("--no-interp", action="store_true", help="skip the midpoint interpolation pre-pass")
    parser.add_argument("--confidence-threshold", type=float, default=0.0,
                        help="model fills whose confidence is below this are replaced (0 keeps all)")
    parser.add_argument("--low-confidence", choices=LOW_CONFIDENCE, default="hole",
                        help="what replaces fills below --confidence-threshold")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")


def build_completer(args: argparse.Namespace) -> DepthCompleter:
    """Create the DepthCompleter the parsed options describe."""
    return DepthCompleter(
        method=args.method,
        backend=args.backend,
        model_path=args.model,
        interpolate=not args.no_interp,
        fit=args.fit,
        confidence_threshold=args.confidence_threshold,
        low_confidence=args.low_confidence,
        device=args.device,
    )


def positive_int(text: str) -> int:
    """argparse type for counts: 0 or a negative number would silently mean something else."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type for rates and durations: finite and above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that find the frames of INPUT; read back with :func:`dataset_frames`."""
    parser.add_argument("--layout", choices=("auto", *LAYOUTS), default="auto", help="dataset layout of INPUT")
    parser.add_argument("--depth-scale", type=float, default=None,
                        help="16-bit depth units per metre (default: the layout's: 1000 mm, 4000 Matterport)")
    parser.add_argument("--limit", type=positive_int, default=None, help="use only the first N frames")


def dataset_frames(args: argparse.Namespace) -> list[Frame]:
    """The frames that ``input`` and :func:`add_dataset_arguments`' options select."""
    frames = discover_frames(args.input, layout=args.layout, depth_scale=args.depth_scale)
    return frames[: args.limit]


def _load_ahead(frames: Sequence[Frame], with_rgb: bool) -> Iterator[tuple[Frame, Sample | Exception]]:
    """Load frames on background threads so decoding overlaps completion; errors are yielded, not raised.

    At most LOAD_AHEAD frames wait in memory (``Executor.map`` would load the whole dataset up
    front), and a consumer that stops early leaves no queued loads behind.
    """

    def load(frame: Frame) -> Sample | Exception:
        try:
            return load_frame(frame, with_rgb=with_rgb)
        except (DepthIOError, OSError, ValueError) as exc:
            return exc

    pending: deque[tuple[Frame, Future[Sample | Exception]]] = deque()
    with ThreadPoolExecutor(max_workers=2) as pool:
        try:
            for frame in frames:
                pending.append((frame, pool.submit(load, frame)))
                if len(pending) > LOAD_AHEAD:
                    ready, future = pending.popleft()
                    yield ready, future.result()
            while pending:
                ready, future = pending.popleft()
                yield ready, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def _batches(loaded: Iterator[tuple[Frame, Sample | Exception]], batch_size: int,
             failures: list[str]) -> Iterator[list[tuple[Frame, Sample]]]:
    """Group consecutive same-size frames into batches (one array per batch for the GPU)."""
    batch: list[tuple[Frame, Sample]] = []
    for frame, sample in loaded:
        if isinstance(sample, Exception):
            failures.append(f"{frame.name}: {sample}")
            LOG.error("skipping %s: %s", frame.name, sample)
            continue
        if batch and (len(batch) == batch_size or batch[0][1].depth.shape != sample.depth.shape):
            yield batch
            batch = []
        batch.append((frame, sample))
    if batch:
        yield batch


def output_path(output: Path, frame: Frame) -> Path:
    """Completed depth keeps the input's name and format: 16-bit PNGs stay PNGs in the same units."""
    suffix = frame.depth.suffix.lower()
    return output / f"{frame.name}{suffix if suffix in ('.png', '.exr', '.npy') else '.png'}"


def cmd_complete(args: argparse.Namespace) -> int:
    from .visualization import make_panel

    frames = dataset_frames(args)
    completer = build_completer(args)
    LOG.info("%d frames from %s (%s); %s", len(frames), args.input, frames[0].layout, completer.describe())
    needs_rgb = args.method == "model" or args.panels
    failures: list[str] = []
    written = 0
    busy = 0.0
    with tqdm(total=len(frames), unit="frame", desc="completing", disable=args.quiet) as bar:
        for batch in _batches(_load_ahead(frames, needs_rgb), args.batch_size, failures):
            depth = np.stack([s.depth for _, s in batch])
            rgb = np.stack([s.rgb for _, s in batch]) if all(s.rgb is not None for _, s in batch) else None
            start = time.perf_counter()
            result = completer.complete(depth, rgb)
            busy += time.perf_counter() - start
            for index, (frame, sample) in enumerate(batch):
                target = output_path(args.output, frame)
                write_depth(target, result.depth[index], scale=frame.depth_scale)
                if args.panels:
                    panel = make_panel(sample.depth, result.depth[index], gt=sample.gt, rgb=sample.rgb)
                    write_color(args.output / "panels" / f"{frame.name}.png", panel)
                written += 1
            bar.update(len(batch))
    if written:
        print(f"completed {written} frames into {args.output}: {1000 * busy / written:.1f} ms/frame "
              f"({written / busy:.1f} frames/s) for the {args.method} method, I/O excluded")
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_completer

    frames = dataset_frames(args)
    completer = build_completer(args)
    report = evaluate_completer(
        frames, completer, protocol=args.protocol, seed=args.seed, panels_dir=args.panels, progress=not args.quiet
    )
    print(report.markdown())
    if args.json:
        report.write_json(args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="depth-completion", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    complete = commands.add_parser("complete", help="complete every frame of a folder or dataset")
    complete.add_argument("input", type=Path, help="dataset root or folder of frames")
    complete.add_argument("output", type=Path, help="folder for the completed depth (created)")
    add_dataset_arguments(complete)
    add_completer_arguments(complete)
    complete.add_argument("--batch-size", type=positive_int, default=8, help="frames per batch (same-size frames only)")
    complete.add_argument("--panels", action="store_true", help="also write raw/completed/GT panels to OUTPUT/panels")
    complete.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    complete.set_defaults(handler=cmd_complete)

    evaluate = commands.add_parser("evaluate", help="score a method against ground truth or hidden regions")
    evaluate.add_argument("input", type=Path, help="dataset root (Matterport3D, ClearGrasp, frame sequence)")
    add_dataset_arguments(evaluate)
    add_completer_arguments(evaluate)
    evaluate.add_argument("--protocol", choices=("auto", "gt", "hidden"), default="auto",
                          help="gt: compare with ground truth; hidden: hide extra raw regions and score them; "
                               "auto: gt when the dataset has it")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the hidden-region protocol")
    evaluate.add_argument("--panels", type=Path, default=None, help="write raw/pred/GT/error panels here")
    evaluate.add_argument("--json", type=Path, default=None, help="also write the metrics as JSON")
    evaluate.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    evaluate.set_defaults(handler=cmd_evaluate)

    register_bag_cli(commands)
    register_demo_cli(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return args.handler(args)
    except (DepthIOError, FileNotFoundError, ValueError, BackendError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
