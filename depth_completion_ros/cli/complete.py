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
    add_color_range_argument,
    add_completer_arguments,
    add_dataset_arguments,
    add_quiet_argument,
    build_completer,
    dataset_frames,
    positive_int,
    prepare_output_folder,
)

LOG = logging.getLogger("depth_completion")
#: Frames decoded ahead of the one being completed (bounds the memory the loader holds).
LOAD_AHEAD = 4
#: Sub-folder of OUTPUT for ``--panels``.
PANELS_FOLDER = "panels"


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


def _batches(loaded: Iterator[tuple[Frame, Sample | Exception]], batch_size: int, needs_rgb: bool,
             failures: list[str]) -> Iterator[list[tuple[Frame, Sample]]]:
    """Group consecutive frames of one size, with or without colour, into batches (one array per
    batch for the GPU); frames that failed to load, or lack the colour ``needs_rgb`` asks for,
    go to ``failures`` instead."""
    batch: list[tuple[Frame, Sample]] = []
    for frame, sample in loaded:
        if not isinstance(sample, Exception) and needs_rgb and sample.rgb is None:
            sample = DepthIOError(f"no colour image for {frame.depth} (the model method needs one)")
        if isinstance(sample, Exception):
            _fail(failures, frame, sample)
            continue
        if batch and (len(batch) == batch_size or _batch_key(batch[0][1]) != _batch_key(sample)):
            yield batch
            batch = []
        batch.append((frame, sample))
    if batch:
        yield batch


def _batch_key(sample: Sample) -> tuple[tuple[int, ...], bool]:
    return sample.depth.shape, sample.rgb is not None


def _fail(failures: list[str], frame: Frame, reason: Exception) -> None:
    failures.append(f"{frame.name}: {reason}")
    LOG.error("skipping %s: %s", frame.name, reason)


def output_path(output: Path, frame: Frame) -> Path:
    """Completed depth keeps the input's name and format: 16-bit PNGs stay PNGs in the same units."""
    suffix = frame.depth.suffix.lower()
    return output / f"{frame.name}{suffix if suffix in ('.png', '.exr', '.npy') else '.png'}"


def run(args: argparse.Namespace) -> int:
    from ..visualization import make_panel

    frames = dataset_frames(args)
    output = prepare_output_folder(args.output)
    panels = prepare_output_folder(output / PANELS_FOLDER, inside=output) if args.panels else None
    completer = build_completer(args)
    LOG.info("%d frames from %s (%s); %s", len(frames), args.input, frames[0].layout, completer.describe())
    needs_rgb = completer.method == "model"
    failures: list[str] = []
    written = 0
    busy = 0.0
    with tqdm(total=len(frames), unit="frame", desc="completing", disable=args.quiet) as bar:
        loaded = _load_ahead(frames, with_rgb=needs_rgb or panels is not None)
        for batch in _batches(loaded, args.batch_size, needs_rgb, failures):
            depth_batch = np.stack([sample.depth for _, sample in batch])
            colors = [sample.rgb for _, sample in batch if sample.rgb is not None]  # all or none (see _batch_key)
            start = time.perf_counter()
            completed = completer.complete(depth_batch, np.stack(colors) if colors else None).depth
            busy += time.perf_counter() - start
            for (frame, sample), depth in zip(batch, completed, strict=True):
                write_depth(output_path(output, frame), depth, scale=frame.depth_scale)
                if panels is not None:
                    write_color(panels / f"{frame.name}.png", make_panel(sample.depth, depth, gt=sample.gt,
                                                                         rgb=sample.rgb, depth_range=args.color_range))
                written += 1
            bar.update(len(batch))
    if written:
        print(f"completed {written} frames into {output}: {1000 * busy / written:.1f} ms/frame "
              f"({written / busy:.1f} frames/s) for the {completer.method} method, I/O excluded")
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {len(frames)} frames failed", file=sys.stderr)
    return 1 if failures else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``complete``."""
    parser = subparsers.add_parser("complete", help="complete every frame of a folder or dataset")
    parser.add_argument("input", type=Path, help="dataset root or folder of frames")
    parser.add_argument("output", type=Path, help="folder for the completed depth (created)")
    add_dataset_arguments(parser)
    add_completer_arguments(parser)
    parser.add_argument("--batch-size", type=positive_int, default=8, help="frames per batch (same-size frames only)")
    parser.add_argument("--panels", action="store_true",
                        help=f"also write raw/completed/GT panels to OUTPUT/{PANELS_FOLDER}")
    add_color_range_argument(parser, "each panel's 2-98 %% range of measured depth")
    add_quiet_argument(parser)
    parser.set_defaults(func=run)
