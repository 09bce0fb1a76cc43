"""``bag evaluate``: score completed depth in a bag, against ground truth or by hiding measured depth.

The protocols are those of ``evaluation`` (``depth-completion evaluate`` on frame folders), and
the report is its :class:`EvaluationReport`, so a bag and the folder it came from give the same
tables:

reference (``gt``)
    The bag holds completed depth (the node's output, recorded together with its inputs) and
    a reference: a ground-truth topic of the same bag, or the frame folder the bag was
    converted from (frames matched by :func:`convert.frame_stamp`). Frames pair by header
    stamp, which the node copies from its input.
hidden regions (``hidden``)
    For bags without ground truth (a robot's own recordings): ``evaluation.prepare_inputs``
    hides extra regions of each raw depth frame (seeded by frame index), a
    :class:`DepthCompleter` fills the frame, and only the hidden pixels, which were measured,
    are scored.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from ..datasets import Frame, Sample, discover_frames, load_frame
from ..evaluation import EvaluationReport, prepare_inputs
from ..metrics import aggregate_metrics, depth_metrics
from ..ros_image import color_from_msg, depth_from_msg
from .convert import DEFAULT_RATE_HZ, DEFAULT_START_S, frame_stamp
from .storage import IMAGE_TYPE, BagError, iter_messages, match_by_stamp, open_bag, require_topics

if TYPE_CHECKING:
    from ..pipeline import DepthCompleter

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class BagEvaluation:
    """The metrics report and how many frames were left out (no reference with their stamp, or
    too little valid depth to hide regions of)."""

    report: EvaluationReport
    unscored: int


def _evaluation(name: str, protocol: str, per_frame: list[dict[str, float]], unscored: int, busy_s: float | None,
                failure: str) -> BagEvaluation:
    if not per_frame:
        raise BagError(f"no frame could be scored: {failure}")
    report = EvaluationReport(protocol=protocol, frames=len(per_frame), metrics={name: aggregate_metrics(per_frame)},
                              per_frame={name: per_frame})
    if busy_s is not None:
        report.ms_per_frame[name] = 1000.0 * busy_s / len(per_frame)
    return BagEvaluation(report=report, unscored=unscored)


def evaluate_against_reference(
    bag: str | os.PathLike[str],
    completed_topic: str,
    reference: str | os.PathLike[str],
    *,
    raw_topic: str | None = None,
    rate_hz: float = DEFAULT_RATE_HZ,
    start_s: float = DEFAULT_START_S,
    layout: str = "auto",
    depth_scale: float | None = None,
    min_gt: float = 0.1,
    progress: bool = True,
) -> BagEvaluation:
    """Score ``completed_topic`` against ``reference``: a topic of the bag or a frame folder with ground truth.

    A folder is matched by the stamps :func:`frame_stamp` gave its frames at conversion, so
    ``rate_hz`` and ``start_s`` (and ``layout``/``depth_scale``, as :func:`discover_frames` takes
    them) must be those of ``bag from-frames``. With ``raw_topic`` in the
    bag (or a folder, whose raw depth is the node's input) the metrics split into observed and
    hole pixels.
    """
    with open_bag(bag) as reader:
        reference_topic = str(reference) if str(reference) in reader.topics else None
        if reference_topic is None and not Path(reference).is_dir():
            raise BagError(f"reference {reference} is neither a topic of {bag} nor a folder "
                           f"(topics: {', '.join(sorted(reader.topics))})")
        require_topics(reader, [completed_topic], bag)
        raw_topic = raw_topic if raw_topic in reader.topics else None
        topics = [t for t in (completed_topic, reference_topic, raw_topic) if t]
        require_topics(reader, topics, bag, msgtype=IMAGE_TYPE)
        required = [t for t in (completed_topic, reference_topic) if t]
        groups = match_by_stamp(iter_messages(reader, topics), topics, required=required)
        scored: Iterator[dict[str, float] | None]
        if reference_topic is not None:
            scored = (_score(group[completed_topic], group[reference_topic],
                             group[raw_topic] if raw_topic in group else None, min_gt)
                      for _, group in groups)
        else:
            frames = discover_frames(reference, layout=layout, depth_scale=depth_scale)
            if all(frame.gt is None for frame in frames):
                raise BagError(f"{reference}: the frames have no ground truth; "
                               "leave out --reference to use the hidden-region protocol")
            scored = _score_against_folder(groups, completed_topic, raw_topic, frames, rate_hz, start_s, min_gt)
        per_frame, unscored = [], 0
        for metrics in tqdm(scored, unit="frame", desc="scoring", disable=not progress):
            if metrics is None:
                unscored += 1
            else:
                per_frame.append(metrics)
    return _evaluation(completed_topic, "gt", per_frame, unscored, None,
                       f"no {completed_topic} message has a reference with the same stamp")


def _score(completed_msg: Any, reference_msg: Any, raw_msg: Any | None, min_gt: float) -> dict[str, float]:
    raw = depth_from_msg(raw_msg) if raw_msg is not None else None
    return depth_metrics(depth_from_msg(completed_msg), depth_from_msg(reference_msg), raw=raw, min_gt=min_gt)


def _score_against_folder(
    groups: Iterator[tuple[int, dict[str, Any]]],
    completed_topic: str,
    raw_topic: str | None,
    frames: list[Frame],
    rate_hz: float,
    start_s: float,
    min_gt: float,
) -> Iterator[dict[str, float] | None]:
    """Per-frame metrics against the folder's ground truth; None for a completed frame with no folder frame."""
    by_stamp: dict[int, Frame] = {frame_stamp(index, rate_hz, start_s): frame for index, frame in enumerate(frames)}
    for stamp, group in groups:
        frame = by_stamp.get(stamp)
        if frame is None or frame.gt is None:
            yield None
            continue
        sample = load_frame(frame, with_rgb=False)
        assert sample.gt is not None  # frame.gt is set, so load_frame read it
        raw = depth_from_msg(group[raw_topic]) if raw_topic in group else sample.depth
        yield depth_metrics(depth_from_msg(group[completed_topic]), sample.gt, raw=raw, min_gt=min_gt)


def evaluate_hidden_regions(
    bag: str | os.PathLike[str],
    completer: DepthCompleter,
    *,
    depth_topic: str,
    color_topic: str | None = None,
    seed: int = 0,
    min_gt: float = 0.1,
    progress: bool = True,
) -> BagEvaluation:
    """Hide regions of each raw depth frame, complete it with ``completer``, score the hidden pixels.

    Frame ``i`` of the bag gets the regions ``evaluation.prepare_inputs`` draws for index ``i``,
    so a bag converted from a folder scores as the folder does with ``--protocol hidden``.
    """
    per_frame, unscored, busy_s = [], 0, 0.0
    with open_bag(bag) as reader:
        topics = [t for t in (depth_topic, color_topic) if t]
        require_topics(reader, topics, bag, msgtype=IMAGE_TYPE)
        groups = match_by_stamp(iter_messages(reader, topics), topics, required=[depth_topic])
        for index, (stamp, group) in enumerate(tqdm(groups, unit="frame", desc="completing", disable=not progress)):
            rgb = color_from_msg(group[color_topic]) if color_topic in group else None
            sample = Sample(name=str(stamp), depth=depth_from_msg(group[depth_topic]), rgb=rgb)
            try:
                input_depth, reference = prepare_inputs(sample, "hidden", seed, index)
            except ValueError as exc:  # too little valid depth to hide regions of (e.g. a covered lens)
                LOG.warning("%s at %d ns: not scored: %s", depth_topic, stamp, exc)
                unscored += 1
                continue
            start = time.perf_counter()
            completed = completer.complete(input_depth, rgb).depth
            busy_s += time.perf_counter() - start
            per_frame.append(depth_metrics(completed, reference, raw=input_depth, min_gt=min_gt))
    return _evaluation(completer.method, "hidden", per_frame, unscored, busy_s,
                       f"no {depth_topic} frame had enough valid depth")
