"""``depth-completion complete``: complete every frame of a folder or dataset, in the input's units."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..datasets import Frame, Sample, load_frame
from ..depth_io import DepthIOError, write_color, write_depth
from .common import (
    add_completer_arguments,
    add_dataset_arguments,
    add_quiet_argument,
    build_completer,
    dataset_frames,
    positive_int,
)

LOG = logging.getLogger("depth_completion")
#: Frames decoded ahead of the one being completed (bounds the memory the loader holds).
LOAD_AHEAD = 4


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


def run(args: argparse.Namespace) -> int:
    from ..visualization import make_panel

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


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``complete``."""
    parser = subparsers.add_parser("complete", help="complete every frame of a folder or dataset")
    parser.add_argument("input", type=Path, help="dataset root or folder of frames")
    parser.add_argument("output", type=Path, help="folder for the completed depth (created)")
    add_dataset_arguments(parser)
    add_completer_arguments(parser)
    parser.add_argument("--batch-size", type=positive_int, default=8, help="frames per batch (same-size frames only)")
    parser.add_argument("--panels", action="store_true", help="also write raw/completed/GT panels to OUTPUT/panels")
    add_quiet_argument(parser)
    parser.set_defaults(func=run)
