"""Depth, error and confidence images on linear colour scales, and side-by-side panels.

Everything returns uint8 RGB (H, W, 3) drawn with OpenCV (no matplotlib figure or window), so
the CLI, the evaluation and the streaming demo share one look. Depth scales are robust by
default: :func:`robust_depth_range` spans the 2nd to 98th percentile of the measured depths, so
a few far or noisy pixels (a window, a multipath return at 12 m) cannot squeeze the scene into
one shade. A fixed ``(vmin, vmax)`` gives the same depth the same colour across frames and
methods; a sequence keeps one range by computing it once over all its frames. Pixels without a
value (depth <= 0, NaN, inf) are black.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .arrays import to_numpy

#: Colormap names accepted everywhere: OpenCV's maps, lower case ("turbo", "viridis", ...).
COLORMAPS = {
    name.removeprefix("COLORMAP_").lower(): getattr(cv2, name) for name in dir(cv2) if name.startswith("COLORMAP_")
}
#: Default depth range of :func:`colorize_depth` (m): indoor RGB-D cameras read up to ~10 m.
DEFAULT_VMAX = 10.0
#: Percentiles of the measured depths that :func:`robust_depth_range` maps to the scale's ends.
ROBUST_PERCENTILES = (2.0, 98.0)
#: Ends of a robust range are rounded outward to this step (m), so colour bar labels stay short.
RANGE_STEP = 0.1
#: Narrowest robust range (m): a flat wall still gets a readable gradient, not amplified noise.
MIN_RANGE_SPAN = 0.2
DEPTH_COLORMAP = "turbo"
#: Viridis for errors: its low end is dark blue, never the black of "no ground truth".
ERROR_COLORMAP = "viridis"
CONFIDENCE_COLORMAP = "inferno"
DEFAULT_TITLES = {
    "rgb": "RGB",
    "raw": "raw depth",
    "completed": "completed",
    "gt": "ground truth",
    "error": "|completed - GT|",
    "confidence": "confidence",
}
#: Narrower tiles leave no room for a title or a labelled colour bar.
MIN_PANEL_WIDTH = 32
#: (colormap, vmin, vmax, unit) of a tile's colour bar.
_ScaleBar = tuple[str, float, float, str]
_TEXT = (255, 255, 255)
_TITLE_BACKGROUND = (40, 40, 40)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def colorize(
    values: np.ndarray | torch.Tensor,
    vmin: float,
    vmax: float,
    colormap: str,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Map (H, W) values linearly from [vmin, vmax] onto ``colormap`` (clipped); invalid pixels black.

    ``valid`` defaults to the finite pixels.
    """
    values = to_numpy(values)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"expected a non-empty (H, W) image, got shape {values.shape}")
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r} (use one of {', '.join(sorted(COLORMAPS))})")
    if not (math.isfinite(vmin) and math.isfinite(vmax) and vmax > vmin):
        raise ValueError(f"colour scale needs finite vmin < vmax, got {vmin} and {vmax}")
    finite = np.isfinite(values)
    valid = finite if valid is None else (np.asarray(valid, dtype=bool) & finite)
    scaled = (np.where(finite, values, vmin).astype(np.float64) - vmin) * (255.0 / (vmax - vmin))
    levels = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(levels, COLORMAPS[colormap]), cv2.COLOR_BGR2RGB)
    rgb[~valid] = 0
    return rgb


def colorize_depth(
    depth: np.ndarray | torch.Tensor,
    vmin: float = 0.0,
    vmax: float = DEFAULT_VMAX,
    colormap: str = DEPTH_COLORMAP,
) -> np.ndarray:
    """Depth in metres on a fixed scale: ``vmin`` m -> the colormap's first colour, ``vmax`` m ->
    its last (turbo: dark blue = near, dark red = far); beyond the scale clips; holes are black."""
    depth = to_numpy(depth)
    return colorize(depth, vmin, vmax, colormap, valid=depth > 0)


def robust_depth_range(
    *depths: np.ndarray | torch.Tensor | None,
    percentiles: tuple[float, float] = ROBUST_PERCENTILES,
) -> tuple[float, float]:
    """``(vmin, vmax)`` in metres spanning ``percentiles`` of the valid depths of all ``depths``.

    Pass every frame of a sequence to get the one range that sequence keeps. The ends are rounded
    outward to :data:`RANGE_STEP` and at least :data:`MIN_RANGE_SPAN` apart; ``None`` entries
    are skipped; without any valid depth the range is ``(0, DEFAULT_VMAX)``.
    """
    low_pct, high_pct = percentiles
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}")
    valid = [d[np.isfinite(d) & (d > 0)] for d in (to_numpy(d).astype(np.float32, copy=False)
                                                     for d in depths if d is not None)]
    values = np.concatenate(valid) if valid else np.empty(0, np.float32)
    if values.size == 0:
        return 0.0, DEFAULT_VMAX
    low, high = (float(v) for v in np.percentile(values, percentiles))
    if high - low < MIN_RANGE_SPAN:
        low = max(0.0, (low + high - MIN_RANGE_SPAN) / 2.0)
        high = low + MIN_RANGE_SPAN
    low = math.floor(round(low / RANGE_STEP, 6)) * RANGE_STEP
    high = math.ceil(round(high / RANGE_STEP, 6)) * RANGE_STEP
    return round(low, 6), round(high, 6)


def colorize_error(
    abs_err: np.ndarray | torch.Tensor,
    vmax: float = 1.0,
    colormap: str = ERROR_COLORMAP,
) -> np.ndarray:
    """Absolute error in metres from 0 to ``vmax`` (clipped); NaN (no ground truth) is black."""
    return colorize(abs_err, 0.0, vmax, colormap)


def colorize_confidence(
    confidence: np.ndarray | torch.Tensor,
    colormap: str = CONFIDENCE_COLORMAP,
) -> np.ndarray:
    """Confidence on its fixed 0-1 scale (inferno: black = 0, pale yellow = 1); NaN is black."""
    return colorize(confidence, 0.0, 1.0, colormap)


def make_panel(
    raw: np.ndarray | torch.Tensor,
    completed: np.ndarray | torch.Tensor,
    gt: np.ndarray | torch.Tensor | None = None,
    rgb: np.ndarray | torch.Tensor | None = None,
    *,
    confidence: np.ndarray | torch.Tensor | None = None,
    titles: Mapping[str, str] | None = None,
    depth_range: tuple[float, float] | None = None,
    error_vmax: float | None = None,
    columns: int | None = None,
) -> np.ndarray:
    """RGB | raw | completed | GT | |error| | confidence tiles, each titled and with its colour bar.

    Tiles without an input are left out; the error tile needs ``gt``. All depth tiles share one
    scale, ``depth_range`` = ``(vmin, vmax)`` in metres; by default the robust range of the raw
    and reference depths together (see :func:`robust_depth_range`). Pass one range to fix it for
    a whole sequence. ``error_vmax`` defaults to a tenth of the range's span. ``titles``
    overrides :data:`DEFAULT_TITLES` by tile key. ``columns`` wraps the tiles into a grid
    (default: one row).
    """
    if columns is not None and columns < 1:
        raise ValueError(f"make_panel: columns must be >= 1, got {columns}")
    raw, completed = _depth_image(raw, "raw"), _depth_image(completed, "completed")
    shape = raw.shape
    if shape[1] < MIN_PANEL_WIDTH:
        raise ValueError(f"make_panel: images must be at least {MIN_PANEL_WIDTH} px wide for titles, got {shape[1]}")
    images = {"raw": raw, "completed": completed}
    if gt is not None:
        images["gt"] = _depth_image(gt, "gt")
    if confidence is not None:
        images["confidence"] = to_numpy(confidence)
    for name, image in images.items():
        if image.shape != shape:
            raise ValueError(f"make_panel: {name} is {image.shape} but raw depth is {shape}")
    if rgb is not None:
        rgb = to_numpy(rgb)
        if rgb.shape != (*shape, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"make_panel: rgb must be uint8 {(*shape, 3)}, got {rgb.dtype} {rgb.shape}")
    vmin, vmax = robust_depth_range(raw, images.get("gt")) if depth_range is None else depth_range
    error_vmax = round((vmax - vmin) / 10.0, 6) if error_vmax is None else error_vmax
    names = {**DEFAULT_TITLES, **(titles or {})}

    depth_bar: _ScaleBar = (DEPTH_COLORMAP, vmin, vmax, "m")
    planned: list[tuple[str, np.ndarray, _ScaleBar | None]] = []
    if rgb is not None:
        planned.append(("rgb", rgb, None))
    planned.append(("raw", colorize_depth(raw, vmin, vmax), depth_bar))
    planned.append(("completed", colorize_depth(completed, vmin, vmax), depth_bar))
    if gt is not None:
        reference = images["gt"]
        error = np.where(reference > 0, np.abs(completed - reference), np.nan)
        planned.append(("gt", colorize_depth(reference, vmin, vmax), depth_bar))
        planned.append(("error", colorize_error(error, error_vmax), (ERROR_COLORMAP, 0.0, error_vmax, "m")))
    if confidence is not None:
        planned.append(("confidence", colorize_confidence(images["confidence"]), (CONFIDENCE_COLORMAP, 0.0, 1.0, "")))
    texts = [names[key] for key, _, _ in planned]
    texts += [" ".join(_bar_labels(scale_bar)) for _, _, scale_bar in planned if scale_bar is not None]
    style = _Style.fitting(shape[1], texts)
    tiles = [_tile(style, image, names[key], scale_bar) for key, image, scale_bar in planned]
    return _grid(tiles, columns or len(tiles), gap=style.margin)


def _depth_image(depth: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    depth = to_numpy(depth)
    if depth.ndim != 2 or depth.size == 0:
        raise ValueError(f"make_panel: {name} must be a non-empty (H, W) depth image, got shape {depth.shape}")
    return depth.astype(np.float32, copy=False)


@dataclass(frozen=True)
class _Style:
    """One font size for every title and label of a panel, so all tiles line up."""

    scale: float
    thickness: int
    text_height: int
    baseline: int
    margin: int = 4

    @classmethod
    def fitting(cls, width: int, texts: list[str]) -> _Style:
        """The largest font (readable from 160 to 1920 px tiles) that fits every text in ``width``."""
        scale = float(np.clip(width / 640.0, 0.35, 1.2))
        thickness = 1 if scale < 0.8 else 2
        widest = max(cv2.getTextSize(text, _FONT, scale, thickness)[0][0] for text in texts)
        if widest > width - 8:
            scale *= (width - 8) / widest
        (_, text_height), baseline = cv2.getTextSize("0123456789 m|", _FONT, scale, thickness)
        return cls(scale, thickness, text_height, baseline)

    def strip(self, width: int, height: int) -> np.ndarray:
        return np.full((height, width, 3), _TITLE_BACKGROUND, np.uint8)

    def put(self, image: np.ndarray, text: str, x: int, y: int) -> None:
        cv2.putText(image, text, (x, y), _FONT, self.scale, _TEXT, self.thickness, cv2.LINE_AA)

    def text_width(self, text: str) -> int:
        return cv2.getTextSize(text, _FONT, self.scale, self.thickness)[0][0]

    @property
    def title_height(self) -> int:
        return self.text_height + self.baseline + 3 * self.margin

    @property
    def gradient_height(self) -> int:
        return max(6, self.text_height)

    @property
    def bar_height(self) -> int:
        return self.gradient_height + self.text_height + self.baseline + 3 * self.margin


def _bar_labels(scale_bar: _ScaleBar) -> list[str]:
    _, vmin, vmax, unit = scale_bar
    return [f"{value:g}{' ' + unit if unit else ''}" for value in (vmin, (vmin + vmax) / 2.0, vmax)]


def _title_bar(style: _Style, width: int, title: str) -> np.ndarray:
    bar = style.strip(width, style.title_height)
    style.put(bar, title, (width - style.text_width(title)) // 2, 2 * style.margin + style.text_height)
    return bar


def _colour_bar(style: _Style, width: int, scale_bar: _ScaleBar) -> np.ndarray:
    """A horizontal gradient of the scale with its ends and middle labelled."""
    colormap, vmin, vmax, _ = scale_bar
    margin, gradient_height = style.margin, style.gradient_height
    bar = style.strip(width, style.bar_height)
    ramp = np.linspace(vmin, vmax, width - 2 * margin)[None].repeat(gradient_height, axis=0)
    bar[margin : margin + gradient_height, margin : width - margin] = colorize(ramp, vmin, vmax, colormap)
    y = 2 * margin + gradient_height + style.text_height
    left, middle, right = _bar_labels(scale_bar)
    style.put(bar, left, margin, y)
    style.put(bar, middle, (width - style.text_width(middle)) // 2, y)
    style.put(bar, right, width - margin - style.text_width(right), y)
    return bar


def _tile(style: _Style, image: np.ndarray, title: str, scale_bar: _ScaleBar | None) -> np.ndarray:
    """Title above, image, colour bar below (a blank strip of the same height for RGB)."""
    width = image.shape[1]
    below = style.strip(width, style.bar_height) if scale_bar is None else _colour_bar(style, width, scale_bar)
    return np.vstack([_title_bar(style, width, title), image, below])


def _grid(tiles: list[np.ndarray], columns: int, gap: int) -> np.ndarray:
    """Tiles in rows of ``columns``, ``gap`` pixels of background between them."""
    height, width = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    grid = np.zeros((rows * height + (rows - 1) * gap, columns * width + (columns - 1) * gap, 3), np.uint8)
    grid[:] = _TITLE_BACKGROUND
    for index, tile in enumerate(tiles):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[top : top + height, left : left + width] = tile
    return grid
