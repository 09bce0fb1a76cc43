"""Realistic masks of missing depth: where real RGB-D cameras lose their measurements.

Three users share these masks: training (holes on the fly, large-hole augmentation,
self-supervised hidden regions), evaluation on real sequences without ground truth (the
hidden-region protocol: hide extra valid pixels, score only those) and the synthetic
generator (sensor holes on rendered depth). Real holes are not random pixels; they come from
a few physical causes, each with its own shape, and each has a function here:

- :func:`blob_mask`, :func:`polygon_mask` — large smooth regions and straight-edged ones
  (dark, shiny or transparent surfaces; windows and screens);
- :func:`edge_shadow_mask` — the band beside each depth discontinuity that the projector of a
  structured-light / active-stereo camera cannot see (always on the same side of foreground
  objects: the left for Kinect v1, measured on 7-Scenes), and :func:`depth_edge_mask` for the
  thin band lost on both sides of edges;
- :func:`range_mask` — too near or too far, with a ragged far boundary;
- :func:`appearance_mask` — very dark or saturated pixels in the colour image;
- :func:`speckle_mask` — small scattered dropouts; :func:`sparse_sample_mask` — sparse inputs.

Every mask is boolean, ``True`` = drop (make invalid), and deterministic given a
``numpy.random.Generator`` or an integer seed. Spatially coherent randomness comes from one
primitive, :func:`smooth_noise` (upsampled white noise), so a 640x480 mask costs a few
milliseconds and never loops over pixels in Python.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np

from .config_keys import reject_unknown_keys

RngLike = np.random.Generator | int

#: Kinect v1 focal length per pixel of image width (585 px at 640 px): the default when a
#: caller has no intrinsics, because the edge-shadow width scales with focal x baseline.
DEFAULT_FOCAL_PER_WIDTH = 585.0 / 640.0

#: Upper bounds (inclusive, fractions of the image area) of the hole-size classes reported by
#: :func:`hole_statistics`; a last, open-ended class holds the larger holes.
HOLE_SIZE_BINS = (1e-4, 1e-3, 1e-2, 1e-1)


def as_generator(rng: RngLike) -> np.random.Generator:
    """Accept a Generator or an integer seed, so every mask is reproducible by construction."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 2 or min(int(shape[0]), int(shape[1])) < 1:
        raise ValueError(f"mask shape must be (height, width) with positive sizes, got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def _check_depth(depth: np.ndarray) -> np.ndarray:
    depth = np.asarray(depth)
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f"depth must be a float (H, W) array in metres, got {depth.dtype} {depth.shape}")
    return depth


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")


def smooth_noise(shape: Sequence[int], rng: RngLike, scale_px: float, roughness: float = 0.3) -> np.ndarray:
    """A smooth random field with standard-normal values and features about ``scale_px`` wide.

    White noise on a coarse grid, upsampled bicubically (cheap, no large blur kernels); a
    second octave at a quarter of the scale, weighted by ``roughness``, makes thresholded
    boundaries ragged like real hole borders instead of perfectly round.
    """
    height, width = _check_shape(shape)
    if not scale_px > 0:
        raise ValueError(f"scale_px must be positive, got {scale_px}")
    rng = as_generator(rng)
    field = _upsampled_noise(height, width, rng, scale_px)
    if roughness > 0:
        cv2.scaleAdd(_upsampled_noise(height, width, rng, scale_px / 4.0), roughness, field, dst=field)
    # Statistics from a subsample are plenty and spare two full passes; in-place updates
    # avoid fresh image-sized allocations, which cost more than the arithmetic here.
    sample = field[::4, ::4]
    std = float(sample.std())
    field -= np.float32(sample.mean())
    field *= np.float32(1.0 / std if std > 0 else 1.0)
    return field


def _upsampled_noise(height: int, width: int, rng: np.random.Generator, scale_px: float) -> np.ndarray:
    step = max(scale_px, 1.0)
    grid = rng.standard_normal(
        (max(2, math.ceil(height / step)) + 1, max(2, math.ceil(width / step)) + 1), dtype=np.float32
    )
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


def _normal_cdf(field: np.ndarray) -> np.ndarray:
    """Logistic approximation of the standard normal CDF (error < 0.01), to make a
    standard-normal field roughly uniform without scipy."""
    return 1.0 / (1.0 + np.exp(np.float32(-1.702) * field))


def _normal_quantile(probability: float) -> float:
    """Inverse of :func:`_normal_cdf` (infinite at 0 and 1, so those drop nothing / everything)."""
    if probability <= 0.0:
        return -math.inf
    if probability >= 1.0:
        return math.inf
    return math.log(probability / (1.0 - probability)) / 1.702


def coherent_dropout(
    probability: float | np.ndarray,
    shape: Sequence[int],
    rng: RngLike,
    scale_px: float,
    roughness: float = 0.3,
) -> np.ndarray:
    """Drop each pixel with the given (per-pixel) probability, in spatially coherent clumps.

    Real dropouts cluster: a dark surface loses whole patches, not every other pixel. The
    same smooth field is compared against the probability map, so ``probability`` may vary
    per pixel (material, incidence angle, range) and the holes still form blobs.
    """
    height, width = _check_shape(shape)
    probability = np.asarray(probability, dtype=np.float32)
    if probability.ndim not in (0, 2) or (probability.ndim == 2 and probability.shape != (height, width)):
        raise ValueError(f"probability must be a scalar or a {height}x{width} map, got shape {probability.shape}")
    field = smooth_noise((height, width), rng, scale_px, roughness)
    if probability.ndim == 2:
        return _normal_cdf(field) < probability
    # A scalar probability is compared in the field's own units: one inverse, no per-pixel CDF.
    return field < _normal_quantile(float(probability))


def blob_mask(
    shape: Sequence[int], rng: RngLike, coverage: float, scale_px: float, roughness: float = 0.3
) -> np.ndarray:
    """Smooth random blobs covering ``coverage`` of the image (specular, dark, glass regions).

    The threshold is the field's quantile, so the coverage is met closely however few blobs
    the scale allows (a Gaussian threshold would scatter it widely for large blobs).
    """
    _check_fraction("coverage", coverage)
    field = smooth_noise(shape, rng, scale_px, roughness)
    if coverage <= 0.0:
        return np.zeros(field.shape, bool)
    threshold = np.quantile(field[::3, ::3], coverage)
    below: np.ndarray = field < threshold
    return below


def polygon_mask(shape: Sequence[int], rng: RngLike, count: int, size_px: tuple[float, float]) -> np.ndarray:
    """``count`` random filled polygons (4-8 corners, random aspect and rotation).

    Straight-edged holes are what windows, screens and mirrors leave in real depth (see the
    Matterport raw frames), which blobs from noise never produce.
    """
    height, width = _check_shape(shape)
    low, high = size_px
    if not 0 < low <= high:
        raise ValueError(f"size_px must be (low, high) with 0 < low <= high, got {size_px}")
    rng = as_generator(rng)
    canvas = np.zeros((height, width), np.uint8)
    for _ in range(count):
        corners = int(rng.integers(4, 9))
        radius = rng.uniform(low, high) / 2.0
        centre = rng.uniform((0.0, 0.0), (width, height))
        angles = (
            np.sort(rng.uniform(0.0, 2.0 * np.pi, corners))
            if corners > 4
            else (np.arange(4) * np.pi / 2 + np.pi / 4 + rng.uniform(-0.25, 0.25, 4))
        )
        radii = radius * rng.uniform(0.75, 1.0, corners)
        aspect = rng.uniform(0.4, 1.0)
        rotation = rng.uniform(0.0, np.pi)
        local = np.stack([radii * np.cos(angles), aspect * radii * np.sin(angles)], axis=1)
        rot = np.array([[np.cos(rotation), -np.sin(rotation)], [np.sin(rotation), np.cos(rotation)]])
        points = np.rint(local @ rot.T + centre).astype(np.int32)
        cv2.fillPoly(canvas, [points], 1)
    return canvas.astype(bool)


def edge_shadow_mask(
    depth: np.ndarray, focal_baseline: float, side: str = "left", tolerance_px: float = 0.5
) -> np.ndarray:
    """Valid pixels the projector of an active depth camera cannot see (occlusion shadows).

    With the projector ``baseline`` metres beside the camera, a point at depth z appears at
    column ``u - f*b/z`` (``side="left"``) in the projector's image. A pixel is shadowed when
    some pixel further along the row lands at or before it there, i.e. a nearer surface
    blocks the projector ray. A running minimum per row gives the exact band, whose width
    ``f*b*(1/z_near - 1/z_far)`` matches real sensors (about 20 px at 640x480 for a chair 1 m
    in front of a wall at 2 m on a Kinect v1). ``focal_baseline`` is fx (px) times baseline (m).
    """
    depth = _check_depth(depth)
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    if not focal_baseline > 0:
        raise ValueError(f"focal_baseline must be positive, got {focal_baseline}")
    valid = depth > 0
    disparity = np.zeros(depth.shape, np.float32)
    np.divide(np.float32(focal_baseline), depth, out=disparity, where=valid)
    columns = np.arange(depth.shape[1], dtype=np.float32)
    shadow = np.zeros(depth.shape, bool)
    if side == "left":
        projected = columns - disparity
        # Smallest projector column among the pixels at or right of each pixel; a pixel is
        # shadowed when the one just right of it already reaches further left.
        ahead = np.minimum.accumulate(projected[:, ::-1], axis=1)[:, ::-1]
        shadow[:, :-1] = ahead[:, 1:] < projected[:, :-1] - np.float32(tolerance_px)
    else:
        projected = columns + disparity
        behind = np.maximum.accumulate(projected, axis=1)
        shadow[:, 1:] = behind[:, :-1] > projected[:, 1:] + np.float32(tolerance_px)
    return shadow & valid


def depth_edge_mask(depth: np.ndarray, relative_jump: float = 0.05, width_px: int = 1) -> np.ndarray:
    """Pixels within ``width_px`` of a depth discontinuity (both sides), including hole borders.

    Time-of-flight and stereo cameras lose (or smear) the pixels that straddle an edge; a
    discontinuity is a 3x3 neighbourhood whose depth range exceeds ``relative_jump`` of the
    pixel's depth.
    """
    depth = _check_depth(depth)
    if width_px < 1:
        raise ValueError(f"width_px must be >= 1, got {width_px}")
    kernel = np.ones((3, 3), np.uint8)
    depth32 = depth.astype(np.float32, copy=False)
    spread = cv2.dilate(depth32, kernel) - cv2.erode(depth32, kernel)
    edges = (spread > np.float32(relative_jump) * depth32) & (depth > 0)
    if width_px > 1:
        edges = cv2.dilate(edges.view(np.uint8), np.ones((2 * width_px - 1,) * 2, np.uint8)).view(bool)
    return edges


def range_mask(
    depth: np.ndarray,
    rng: RngLike,
    min_range: float,
    max_range: float,
    falloff: float = 0.0,
    scale_px: float = 8.0,
) -> np.ndarray:
    """Valid pixels outside the sensor's range: nearer than ``min_range`` or farther than ``max_range``.

    Returns fade out before they stop: from ``max_range - falloff`` on, the drop probability
    rises linearly to 1, applied in coherent clumps so the far boundary is ragged as in real
    frames rather than a clean iso-depth line.
    """
    depth = _check_depth(depth)
    if not 0 <= min_range < max_range:
        raise ValueError(f"need 0 <= min_range < max_range, got {min_range}, {max_range}")
    if falloff < 0:
        raise ValueError(f"falloff must be >= 0, got {falloff}")
    valid = depth > 0
    drop = valid & ((depth < min_range) | (depth > max_range))
    if falloff > 0:
        probability = np.clip((depth - np.float32(max_range - falloff)) / np.float32(falloff), 0.0, 1.0)
        drop |= valid & coherent_dropout(probability, depth.shape, rng, scale_px)
    return drop


def appearance_mask(
    rgb: np.ndarray,
    rng: RngLike,
    dark_level: float = 0.12,
    bright_level: float = 0.96,
    scale_px: float = 6.0,
) -> np.ndarray:
    """Dropouts on very dark (IR-absorbing) and saturated (specular highlight) colour pixels.

    Black furniture, screens and shiny highlights lose depth on active cameras; the drop
    probability ramps from 0 to 1 as the luminance goes below ``dark_level`` (or above
    ``bright_level``), applied in clumps.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    if not 0 < dark_level < bright_level < 1:
        raise ValueError(f"need 0 < dark_level < bright_level < 1, got {dark_level}, {bright_level}")
    luminance = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)
    dark = np.clip((np.float32(dark_level) - luminance) / np.float32(dark_level / 2), 0.0, 1.0)
    bright = np.clip((luminance - np.float32(bright_level)) / np.float32((1 - bright_level) / 2), 0.0, 1.0)
    return coherent_dropout(np.maximum(dark, bright), luminance.shape, rng, scale_px)


def speckle_mask(shape: Sequence[int], rng: RngLike, density: float, scale_px: float = 1.5) -> np.ndarray:
    """Small scattered dropouts (single pixels to a few dozen) covering about ``density`` of the image."""
    _check_fraction("density", density)
    return coherent_dropout(density, shape, rng, scale_px, roughness=0.0)


def sparse_sample_mask(shape: Sequence[int], rng: RngLike, keep: float, pattern: str = "random") -> np.ndarray:
    """Drop everything except sparse samples: ``keep`` of the pixels at random, or scan lines.

    ``pattern="random"`` mimics sparse-depth inputs (e.g. 500 points of NYUv2 benchmarks),
    ``"lines"`` keeps whole rows spaced ``1/keep`` apart with a random phase, like a LiDAR.
    """
    height, width = _check_shape(shape)
    _check_fraction("keep", keep)
    rng = as_generator(rng)
    if pattern == "random":
        return rng.random((height, width), dtype=np.float32) >= keep
    if pattern == "lines":
        drop = np.ones((height, width), bool)
        if keep > 0:
            spacing = max(1, round(1.0 / keep))
            drop[int(rng.integers(spacing)) :: spacing] = False
        return drop
    raise ValueError(f"pattern must be 'random' or 'lines', got {pattern!r}")


def ragged_border(mask: np.ndarray, rng: RngLike, width_px: int = 2, scale_px: float = 1.5) -> np.ndarray:
    """Grow ``mask`` by up to ``width_px`` in irregular clumps, so computed holes (shadows,
    range cuts) get the frayed borders seen in real depth rather than exact contours."""
    if width_px < 1:
        return mask.copy()
    band = cv2.dilate(mask.view(np.uint8), np.ones((2 * width_px + 1,) * 2, np.uint8)).view(bool) & ~mask
    grown: np.ndarray = mask | (band & coherent_dropout(0.5, mask.shape, rng, scale_px, roughness=0.0))
    return grown


def _draw(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return float(low) if low == high else float(rng.uniform(low, high))


def _draw_int(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


@dataclass(frozen=True)
class HoleSimulator:
    """Composable model of a depth sensor's holes; the fields are data (YAML-friendly).

    Each ``*_probability`` is the chance that a cause is active in one frame; each pair is a
    (low, high) range drawn uniformly per frame. Sizes are fractions of the shorter image side
    so one config serves every resolution; ranges are metres. The defaults model an indoor
    structured-light camera (Kinect v1 / RealSense-like); see ``PRESETS`` for variants.
    """

    blob_probability: float = 0.4
    blob_coverage: tuple[float, float] = (0.01, 0.08)
    blob_scale: tuple[float, float] = (0.03, 0.12)
    polygon_probability: float = 0.15
    polygon_count: tuple[int, int] = (1, 2)
    polygon_size: tuple[float, float] = (0.1, 0.35)
    appearance_probability: float = 0.5
    shadow_probability: float = 0.9
    shadow_baseline_m: tuple[float, float] = (0.05, 0.08)
    shadow_side: str = "left"
    edge_probability: float = 0.3
    edge_width_px: tuple[int, int] = (1, 2)
    range_probability: float = 1.0
    min_range_m: tuple[float, float] = (0.3, 0.5)
    max_range_m: tuple[float, float] = (4.5, 9.0)
    range_falloff_m: tuple[float, float] = (0.0, 1.5)
    speckle_probability: float = 0.7
    speckle_density: tuple[float, float] = (0.001, 0.01)
    sparse_probability: float = 0.0
    sparse_keep: tuple[float, float] = (0.002, 0.02)

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name.endswith("_probability"):
                _check_fraction(spec.name, value)
            elif isinstance(spec.default, tuple) and not (
                isinstance(value, tuple) and len(value) == 2 and 0 <= value[0] <= value[1]
            ):
                raise ValueError(f"{spec.name} must be a range (low, high) with 0 <= low <= high, got {value!r}")
        for name in ("blob_coverage", "speckle_density", "sparse_keep"):
            _check_fraction(name, getattr(self, name)[1])
        for name in ("blob_scale", "polygon_size", "shadow_baseline_m"):
            if getattr(self, name)[0] <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.edge_width_px[0] < 1:
            raise ValueError(f"edge_width_px must be >= 1, got {self.edge_width_px}")
        if self.min_range_m[1] >= self.max_range_m[0]:
            raise ValueError(f"min_range_m {self.min_range_m} must stay below max_range_m {self.max_range_m}")
        if self.shadow_side not in ("left", "right"):
            raise ValueError(f"shadow_side must be 'left' or 'right', got {self.shadow_side!r}")

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> HoleSimulator:
        """Build from a YAML/JSON mapping (lists become ranges); unknown keys are an error."""
        reject_unknown_keys(config, (spec.name for spec in fields(cls)), "HoleSimulator")
        values: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value for key, value in config.items()
        }
        return cls(**values)

    def __call__(
        self,
        depth: np.ndarray,
        rgb: np.ndarray | None = None,
        *,
        rng: RngLike,
        fx: float | None = None,
    ) -> np.ndarray:
        """Boolean drop mask (True = make invalid) for one frame of ``depth`` (metres, 0 = invalid).

        ``rgb`` enables appearance-driven dropouts; ``fx`` (pixels) sets the edge-shadow
        width, defaulting to a Kinect-like field of view for the image width.
        """
        depth = _check_depth(depth)
        rng = as_generator(rng)
        shape = depth.shape
        short_side = min(shape)
        drop = np.zeros(shape, bool)
        if rng.random() < self.blob_probability:
            drop |= blob_mask(shape, rng, _draw(rng, self.blob_coverage), _draw(rng, self.blob_scale) * short_side)
        if rng.random() < self.polygon_probability:
            size = tuple(s * short_side for s in self.polygon_size)
            drop |= polygon_mask(shape, rng, _draw_int(rng, self.polygon_count), size)
        if rgb is not None and rng.random() < self.appearance_probability:
            if np.asarray(rgb).shape[:2] != shape:
                raise ValueError(f"rgb size {np.asarray(rgb).shape[:2]} does not match depth size {shape}")
            drop |= appearance_mask(rgb, rng)
        if rng.random() < self.shadow_probability:
            focal = fx if fx is not None else DEFAULT_FOCAL_PER_WIDTH * shape[1]
            shadow = edge_shadow_mask(depth, focal * _draw(rng, self.shadow_baseline_m), self.shadow_side)
            drop |= ragged_border(shadow, rng)
        if rng.random() < self.edge_probability:
            # Edges are lost in stretches, not as continuous outlines.
            edges = depth_edge_mask(depth, width_px=_draw_int(rng, self.edge_width_px))
            drop |= edges & coherent_dropout(0.6, shape, rng, 0.02 * short_side, roughness=0.0)
        if rng.random() < self.range_probability:
            near, far = _draw(rng, self.min_range_m), _draw(rng, self.max_range_m)
            falloff = min(_draw(rng, self.range_falloff_m), far - near)
            drop |= range_mask(depth, rng, near, far, falloff, scale_px=0.03 * short_side)
        if rng.random() < self.speckle_probability:
            drop |= speckle_mask(shape, rng, _draw(rng, self.speckle_density))
        if rng.random() < self.sparse_probability:
            drop |= sparse_sample_mask(shape, rng, _draw(rng, self.sparse_keep))
        return drop


#: Named configurations: ``sensor`` for realistic camera holes, ``large`` for the large-hole
#: augmentation that trains completion of whole missing surfaces, ``none`` for no holes.
PRESETS: Mapping[str, HoleSimulator] = MappingProxyType(
    {
        "sensor": HoleSimulator(),
        "large": HoleSimulator(
            blob_probability=0.9,
            blob_coverage=(0.05, 0.35),
            blob_scale=(0.06, 0.25),
            polygon_probability=0.5,
            polygon_count=(1, 3),
            polygon_size=(0.2, 0.6),
        ),
        "none": HoleSimulator(
            blob_probability=0.0,
            polygon_probability=0.0,
            appearance_probability=0.0,
            shadow_probability=0.0,
            edge_probability=0.0,
            range_probability=0.0,
            speckle_probability=0.0,
        ),
    }
)


def hide_regions(
    depth: np.ndarray,
    rng: RngLike,
    fraction: tuple[float, float] = (0.1, 0.3),
    blob_scale: tuple[float, float] = (0.03, 0.15),
    simulator: HoleSimulator | None = None,
    rgb: np.ndarray | None = None,
    min_valid_pixels: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Hide extra realistic regions of the valid depth; return ``(input_depth, hidden_mask)``.

    The hidden-region protocol scores a completion on real frames without ground truth: the
    hidden pixels were measured, so they are the targets, and the network sees the rest.
    Exactly ``round(f * n_valid)`` valid pixels are hidden, ``f`` drawn from ``fraction``; the
    rest stay observed, so at least ``1 - fraction[1]`` of the valid pixels remain. Shapes come
    from ``simulator`` (realistic sensor holes, taken first) topped up or trimmed by smooth
    blobs of ``blob_scale`` (fraction of the shorter side). Invalid pixels are never hidden.
    """
    depth = _check_depth(depth)
    low, high = fraction
    if not 0 < low <= high < 1:
        raise ValueError(f"fraction must be (low, high) with 0 < low <= high < 1, got {fraction}")
    rng = as_generator(rng)
    valid = depth > 0
    valid_index = np.flatnonzero(valid)
    if valid_index.size < min_valid_pixels:
        raise ValueError(f"only {valid_index.size} valid depth pixels; hide_regions needs at least {min_valid_pixels}")
    target = _draw(rng, fraction)
    count = int(
        np.clip(
            round(target * valid_index.size), math.ceil(low * valid_index.size), math.floor(high * valid_index.size)
        )
    )
    count = max(count, 1)
    priority = smooth_noise(depth.shape, rng, _draw(rng, blob_scale) * min(depth.shape))
    if simulator is not None:
        realistic = simulator(depth, rgb, rng=rng)
        # Simulated holes rank before every blob pixel (the field is standard normal).
        priority[realistic] -= np.float32(1e3)
    chosen = np.argpartition(priority.ravel()[valid_index], count - 1)[:count]
    hidden = np.zeros(depth.shape, bool)
    hidden.ravel()[valid_index[chosen]] = True
    input_depth = depth.copy()
    input_depth[hidden] = 0.0
    return input_depth, hidden


@dataclass(frozen=True)
class HoleStatistics:
    """How much depth is missing and in holes of which sizes, over a set of frames.

    ``size_shares[i]`` is the share of all missing pixels that lie in holes (8-connected
    components) whose area, as a fraction of the image, is at most ``HOLE_SIZE_BINS[i]`` (and
    above the previous bound); the last entry is for holes larger than the last bound.
    """

    frames: int
    missing_fraction: float
    missing_fraction_range: tuple[float, float]
    holes_per_frame: float
    size_shares: tuple[float, ...]


def hole_statistics(depth_maps: Iterable[np.ndarray]) -> HoleStatistics:
    """Measure missing fraction and hole-size distribution (area-relative, so resolutions compare)."""
    edges = np.asarray(HOLE_SIZE_BINS)
    shares = np.zeros(edges.size + 1)
    fractions: list[float] = []
    holes = 0
    for depth in depth_maps:
        missing = (_check_depth(depth) <= 0).astype(np.uint8)
        fractions.append(float(missing.mean()))
        count, _, stats, _ = cv2.connectedComponentsWithStats(missing, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
        holes += count - 1
        np.add.at(shares, np.searchsorted(edges, areas / missing.size), areas)
    if not fractions:
        raise ValueError("hole_statistics needs at least one depth map")
    total = shares.sum()
    return HoleStatistics(
        frames=len(fractions),
        missing_fraction=float(np.mean(fractions)),
        missing_fraction_range=(min(fractions), max(fractions)),
        holes_per_frame=holes / len(fractions),
        size_shares=tuple(float(s) for s in (shares / total if total > 0 else shares)),
    )


def format_hole_statistics(rows: Mapping[str, HoleStatistics]) -> str:
    """A Markdown table of :class:`HoleStatistics`, one row per named source."""
    bounds = [f"<={100 * bound:g}%" for bound in HOLE_SIZE_BINS] + [f">{100 * HOLE_SIZE_BINS[-1]:g}%"]
    header = ["source", "frames", "missing", "missing min-max", "holes/frame", *(f"in holes {b}" for b in bounds)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, stats in rows.items():
        low, high = stats.missing_fraction_range
        cells = [
            name,
            str(stats.frames),
            f"{stats.missing_fraction:.1%}",
            f"{low:.1%}-{high:.1%}",
            f"{stats.holes_per_frame:.0f}",
        ]
        cells += [f"{share:.0%}" for share in stats.size_shares]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
