"""Score completion methods on a dataset, all methods on the same inputs in one run.

Two protocols:

``gt``
    Compare with the dataset's reference depth (Matterport3D mesh depth, ClearGrasp opaque
    depth) over valid reference pixels, split into observed and hole pixels of the raw input.
``hidden``
    For sequences without ground truth (7-Scenes, a user's own recordings): hide extra
    realistic regions of each raw frame (``holes.hide_regions``, seeded per frame), complete
    the rest, and score only the hidden pixels against what the sensor measured there.
    ``draws > 1`` scores every frame under that many independent draws of hidden regions
    (seeds ``seed``, ``seed + 1``, ...): on a set of a few frames one draw decides a comparison
    by where its regions happened to fall.

Every method sees exactly the same input depth and colour; per-frame metrics are averaged
over frames (``metrics.aggregate_metrics``).
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from .datasets import Frame, Sample, load_frame
from .depth_io import atomic_output, write_color
from .holes import hide_regions
from .metrics import MIN_GT_DEPTH, aggregate_metrics, depth_metrics, format_metrics_table, metric_key
from .visualization import make_panel

if TYPE_CHECKING:
    from .pipeline import DepthCompleter

#: A completion method: (depth (H, W) metres, rgb (H, W, 3) uint8 or None) -> completed depth (H, W).
Method = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]
PROTOCOLS = ("auto", "gt", "hidden")
#: Hidden-region protocol defaults: a share of the valid pixels hidden in realistic blobs.
HIDDEN_FRACTION = (0.15, 0.3)
REPORT_GROUPS = ("all", "observed", "hole", "hole_small", "hole_large")


@dataclass
class EvaluationReport:
    """Aggregated metrics per method, with per-frame values and timing."""

    protocol: str
    frames: int
    #: Hidden-region draws per frame; ``per_frame`` holds draw 0 of every frame, then draw 1, ...
    draws: int = 1
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    per_frame: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    ms_per_frame: dict[str, float] = field(default_factory=dict)

    def markdown(self, groups: Sequence[str] = REPORT_GROUPS) -> str:
        """One Markdown table per pixel group (hole pixels are what completion is for)."""
        scored = "hidden pixels (measured by the sensor, hidden from the method)" if self.protocol == "hidden" \
            else "pixels with valid reference depth"
        drawn = f" x {self.draws} draws of hidden regions" if self.draws > 1 else ""
        parts = [f"Protocol `{self.protocol}`, {self.frames} frames{drawn}, metrics averaged over frames on {scored}."]
        for group in groups:
            rows = {
                name: {metric: values[metric_key(group, metric)] for metric in
                       ("rmse", "mae", "rel", "rel_median", "delta_1.05", "delta_1.25", "count")
                       if metric_key(group, metric) in values}
                for name, values in self.metrics.items()
            }
            if not any(row.get("count") for row in rows.values()):
                continue
            columns: tuple[str, ...] = ("rmse", "mae", "rel", "rel_median", "delta_1.05", "delta_1.25", "count")
            if self.ms_per_frame:
                columns += ("ms/frame",)
                for name, row in rows.items():
                    row["ms/frame"] = self.ms_per_frame.get(name, math.nan)
            parts.append(f"**{group}**\n\n" + format_metrics_table(rows, columns=columns))
        return "\n\n".join(parts)

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(
                {"protocol": self.protocol, "frames": self.frames, "draws": self.draws, "metrics": self.metrics,
                 "ms_per_frame": self.ms_per_frame, "per_frame": self.per_frame},
                indent=2, allow_nan=True))
        return path


def resolve_protocol(frames: Sequence[Frame], protocol: str, draws: int = 1) -> str:
    """``auto`` means ``gt`` when every frame has reference depth, else ``hidden``; ``draws`` is
    checked against the result (:func:`check_draws`), so a tool can refuse a bad choice before
    it loads any model."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (use one of {', '.join(PROTOCOLS)})")
    if protocol == "auto":
        protocol = "gt" if all(frame.gt is not None for frame in frames) else "hidden"
    elif protocol == "gt" and any(frame.gt is None for frame in frames):
        raise ValueError("protocol 'gt' needs reference depth for every frame; use 'hidden' for raw-only data")
    check_draws(protocol, draws)
    return protocol


def prepare_inputs(sample: Sample, protocol: str, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(input depth, reference depth) of one frame under ``protocol``; the reference is 0 where unscored."""
    if protocol == "gt":
        if sample.gt is None:
            raise ValueError(f"protocol 'gt' needs reference depth, but frame {sample.name} has none")
        return sample.depth, sample.gt
    input_depth, hidden = hide_regions(sample.depth, np.random.default_rng([seed, index]), fraction=HIDDEN_FRACTION)
    return input_depth, np.where(hidden, sample.depth, 0.0).astype(np.float32)


def check_draws(protocol: str, draws: int) -> None:
    """More than one draw only exists for hidden regions: a reference frame has one set of holes."""
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    if draws > 1 and protocol != "hidden":
        raise ValueError(f"{draws} draws need the hidden-region protocol; protocol {protocol!r} scores each "
                         "frame's own holes once")


def scored_entry(position: int, frame_count: int, seed: int) -> tuple[int, int]:
    """(frame index, hidden-region seed) of entry ``position`` of a report's per-frame list."""
    draw, index = divmod(position, frame_count)
    return index, seed + draw


@dataclass(frozen=True)
class ScoredFrame:
    """One frame as a protocol scores it: what the methods get and what they are scored against."""

    frame: Frame
    sample: Sample
    input_depth: np.ndarray
    reference: np.ndarray
    #: The hidden-region seed of this draw (the protocol's ``seed`` for ``gt``).
    seed: int


def scored_frames(
    frames: Sequence[Frame], protocol: str, seed: int = 0, draws: int = 1, progress: bool = True,
    desc: str = "evaluating",
) -> Iterator[ScoredFrame]:
    """Every frame under ``protocol``, ``draws`` times (draw 0 of every frame first), in the
    order of a report's per-frame list: one loop for every tool that scores a protocol."""
    check_draws(protocol, draws)
    for position in tqdm(range(len(frames) * draws), desc=desc, unit="frame", disable=not progress):
        index, draw_seed = scored_entry(position, len(frames), seed)
        sample = load_frame(frames[index])
        input_depth, reference = prepare_inputs(sample, protocol, draw_seed, index)
        yield ScoredFrame(frames[index], sample, input_depth, reference, draw_seed)


def evaluate(
    frames: Sequence[Frame],
    methods: Mapping[str, Method],
    protocol: str = "auto",
    seed: int = 0,
    min_gt: float = MIN_GT_DEPTH,
    panels_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    panel_range: tuple[float, float] | None = None,
    draws: int = 1,
) -> EvaluationReport:
    """Run every method on every frame (``draws`` times under the hidden-region protocol) and
    score it; ``panels_dir`` gets raw/pred/GT/error panels (depth colours on ``panel_range``
    metres, by default each frame's robust range)."""
    if not frames:
        raise ValueError("no frames to evaluate")
    if not methods:
        raise ValueError("no methods to evaluate")
    protocol = resolve_protocol(frames, protocol, draws)
    report = EvaluationReport(protocol=protocol, frames=len(frames), draws=draws)
    busy = dict.fromkeys(methods, 0.0)
    for scored in scored_frames(frames, protocol, seed, draws, progress, desc=f"evaluating ({protocol})"):
        for name, method in methods.items():
            start = time.perf_counter()
            pred = method(scored.input_depth, scored.sample.rgb)
            busy[name] += time.perf_counter() - start
            report.per_frame.setdefault(name, []).append(
                depth_metrics(pred, scored.reference, raw=scored.input_depth, min_gt=min_gt))
            if panels_dir is not None:
                reference_title = "hidden (measured)" if protocol == "hidden" else "reference"
                panel = make_panel(scored.input_depth, pred, gt=scored.reference, rgb=scored.sample.rgb,
                                   depth_range=panel_range, titles={"completed": name, "gt": reference_title})
                drawn = f"_seed{scored.seed}" if draws > 1 else ""
                write_color(Path(panels_dir) / name / f"{scored.frame.name}{drawn}.png", panel)
    report.metrics = {name: aggregate_metrics(values) for name, values in report.per_frame.items()}
    report.ms_per_frame = {name: 1000.0 * seconds / (len(frames) * draws) for name, seconds in busy.items()}
    return report


def evaluate_completer(frames: Sequence[Frame], completer: DepthCompleter, **options: Any) -> EvaluationReport:
    """Evaluate one :class:`~depth_completion_ros.pipeline.DepthCompleter` under its method's name."""

    def run(depth: np.ndarray, rgb: np.ndarray | None) -> np.ndarray:
        return completer.complete(depth, rgb).depth

    return evaluate(frames, {completer.method: run}, **options)
