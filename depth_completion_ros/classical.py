"""Classical depth completion on the CPU: the no-GPU mode and the baseline every model must beat.

:func:`classical_fill` follows ip_basic (Ku et al. 2018, "In Defense of Classical Image
Processing"): work on inverted depth so that a max-filter lets the nearer surface win,
close small holes with a diamond dilation and a morphological closing, fill the remaining
holes, then smooth the filled pixels with a median and a bilateral filter. ip_basic was made
for sparse LiDAR; indoor RGB-D cameras give dense depth with large holes (glass, dark and
shiny surfaces, far walls), so three steps differ (``benchmarks/classical.py`` scores the
result on the real frames in ``../shared/data``):

* **Inverse depth instead of ``max_depth - depth``.** Structured-light and stereo cameras
  measure disparity, so their noise is uniform in inverse depth and planes are linear in
  it (perspective-correct blending). The max-filter still lets the nearer surface win.
  Hole RMSE came out the same either way (within 1 %); the physics decided.
* **Large holes by a push-pull pyramid** (valid-weighted means, coarse to fine) instead of
  31x31 dilations and extending columns to the top: every hole is filled, from whatever
  border it has (the pyramid subsumes ip_basic's top/bottom extension), and large holes get
  a smooth blend of their borders instead of one neighbour's depth smeared across them.
* **Hole rims do not seed fills.** Pixels on a hole border that are clearly nearer than the
  farthest depth around them are interpolation rims (Matterport frames were resized with
  holes) or flying pixels; a near-wins filter would spread them over the whole hole (mean
  hole RMSE 4.8 m instead of 2.4 m on the Matterport frames, raw depth >= 0.2 m). They stay in
  the output (observed pixels are never changed) but are not used as sources.

Optional RGB guidance runs a guided filter (He et al. 2010) over the filled pixels with the
grey image as guide. On the real frames it changed hole RMSE by under 2 % (better on
ClearGrasp, worse on Matterport), lowered delta < 1.05 on both and nearly doubled the time,
so it is off by default.

**Camera resolutions.** Every step above costs a few full-frame passes, so at 1920x1080 the
fill took 7x its 640x480 time (~35-50 ms on 2 cores) although only the holes need it. Frames
above ``max_fill_pixels`` (640x480 by default) are therefore filled on a grid reduced by the
smallest integer factor that fits (2 at 1280x720, 3 at 1920x1080): each cell holds the mean
inverse depth of its observed pixels, the steps above run there (rim width and ip_basic's
kernels shrunk to the same reach in full-resolution pixels; the 5x5 smoothing keeps its size,
so it smooths a wider area), and the filled grid is enlarged bilinearly into the holes.
Observed pixels stay as measured at full resolution. Hole RMSE stays within 2 % of the
full-resolution fill on the real frames, small holes included (``benchmarks/classical.py``
prints both); keeping small holes on the full-resolution dilation instead was measured worse
(+10 % small-hole RMSE on 7-Scenes at 1280x720). ``max_fill_pixels=0`` is the full-resolution
reference.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import cv2
import numpy as np
import torch

DepthArray = TypeVar("DepthArray", np.ndarray, torch.Tensor)

#: ip_basic's small-hole steps as kernel radii at full resolution: a diamond dilation
#: (|dy| + |dx| <= 2, closes small gaps without the square kernel's bias towards diagonal
#: streaks), a 5x5 closing, then a 7x7 dilation of what is still empty.
DIAMOND_RADIUS, CLOSING_RADIUS, DILATION_RADIUS = 2, 2, 3
INPAINT_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


@dataclass(frozen=True)
class ClassicalOptions:
    """Settings of :func:`classical_fill`; the defaults are the measured best on real frames."""

    #: Fills never exceed this depth (m): observed depths beyond it seed fills as ``max_depth``.
    #: ``float("inf")`` disables the cap. Observed pixels keep their value either way.
    max_depth: float = 10.0
    #: Observed pixels within this many pixels of a hole are checked as rim candidates (0 = off).
    rim_width: int = 2
    #: A rim candidate nearer than ``(1 - rim_tolerance)`` x the farthest observed depth within
    #: ``rim_width`` pixels does not seed fills.
    rim_tolerance: float = 0.05
    #: Median (5x5) then bilateral smoothing of the filled pixels.
    smooth: bool = True
    #: Bilateral range sigma in inverse depth (1/m); 0.05 keeps steps above ~10 % at 2 m.
    bilateral_sigma: float = 0.05
    #: Bilateral spatial sigma in pixels.
    bilateral_sigma_space: float = 2.0
    #: Guided-filter the filled pixels with the grey image when RGB is given (measured: no gain).
    rgb_guidance: bool = False
    #: Guided-filter window radius in pixels.
    guide_radius: int = 4
    #: Guided-filter regularisation (grey levels in 0-1); larger smooths more across colour edges.
    guide_eps: float = 1e-3
    #: Larger frames are filled on a grid reduced by an integer factor to at most about this many
    #: pixels (see the module docstring); 0 fills at full resolution, the reference.
    max_fill_pixels: int = 640 * 480

    def __post_init__(self) -> None:
        if not self.max_depth > 0:
            raise ValueError(f"max_depth must be positive (metres), got {self.max_depth}")
        if self.rim_width < 0:
            raise ValueError(f"rim_width must be >= 0 pixels, got {self.rim_width}")
        if not 0.0 <= self.rim_tolerance < 1.0:
            raise ValueError(f"rim_tolerance must be in [0, 1), got {self.rim_tolerance}")
        if not self.bilateral_sigma > 0 or not self.bilateral_sigma_space > 0:
            raise ValueError(
                f"bilateral sigmas must be positive, got {self.bilateral_sigma} and {self.bilateral_sigma_space}"
            )
        if self.guide_radius < 1:
            raise ValueError(f"guide_radius must be >= 1 pixel, got {self.guide_radius}")
        if not self.guide_eps > 0:
            raise ValueError(f"guide_eps must be positive, got {self.guide_eps}")
        if self.max_fill_pixels < 0:
            raise ValueError(f"max_fill_pixels must be >= 0 (0 = full resolution), got {self.max_fill_pixels}")


def classical_fill(
    depth: DepthArray,
    rgb: np.ndarray | torch.Tensor | None = None,
    *,
    options: ClassicalOptions | None = None,
    sanitized: bool = False,
    **overrides: float | int | bool,
) -> DepthArray:
    """Fill every hole of float32 metric depth (0, NaN, inf = hole); observed pixels are kept bit-exact.

    ``depth`` is (H, W) or a batch (B, H, W) as numpy or torch; ``rgb`` is uint8 RGB (H, W, 3) or
    (B, H, W, 3) and is only used when ``rgb_guidance`` is on. Settings come from ``options``
    and/or keyword overrides of its fields (``classical_fill(d, max_depth=6.0)``). A frame with
    no valid depth at all comes back as zeros: there is nothing to fill from. ``sanitized=True``
    says ``depth`` holds only finite positive depths and 0 (``depth_io.sanitize_depth`` output, as
    ``DepthCompleter`` passes it): holes are found with one comparison and the frame is copied
    rather than cleaned, the same result ~1 ms sooner at 1920x1080.

    Torch input is filled on the CPU and comes back as float32 on the input's device. There is
    no torch port: this is the mode for machines without a GPU, where torch is the slower tool
    (measured at 640x480 on 2 cores: 7x7 max-pool ~40 ms against 0.1-0.3 ms for cv2.dilate, a
    5x5 median via unfold ~250 ms against ~1 ms for cv2.medianBlur); on a GPU the network is
    the method, and the host round trip of a 640x480 frame is small next to a ~7 ms fill.
    """
    settings = _resolve_options(options, overrides)
    return _per_frame(lambda d, c: _classical_fill_frame(d, c, settings, sanitized), depth, rgb, "classical_fill")


def nearest_fill(depth: DepthArray) -> DepthArray:
    """Give every hole the depth of its nearest observed pixel (L2 distance transform).

    The simplest baseline: no smoothing, no edge handling. (H, W) or (B, H, W), numpy or torch;
    an all-hole frame comes back as zeros.
    """
    return _per_frame(lambda d, _: _nearest_fill_frame(d), depth, None, "nearest_fill")


def inpaint_fill(depth: DepthArray, *, method: str = "telea", radius: float = 5.0) -> DepthArray:
    """Fill holes with OpenCV image inpainting (``telea`` or ``ns``).

    Depth is inpainted as 16-bit with the frame's largest depth mapped to 65535 (steps of
    0.15 mm at 10 m): 8-bit would cost 4 cm steps, and OpenCV's float32 Telea path is unusable
    on depth (hole RMSE 0.8-1.0 m on 7-Scenes and ClearGrasp against 0.07-0.18 m in 16-bit).
    Fills are clipped to the observed depth range, so a hole never comes back as 0.
    """
    if method not in INPAINT_METHODS:
        raise ValueError(f"unknown inpainting method {method!r} (use one of {', '.join(INPAINT_METHODS)})")
    if not radius > 0:
        raise ValueError(f"inpainting radius must be positive, got {radius}")
    flag = INPAINT_METHODS[method]
    return _per_frame(lambda d, _: _inpaint_fill_frame(d, flag, radius), depth, None, "inpaint_fill")


def _resolve_options(options: ClassicalOptions | None, overrides: dict[str, Any]) -> ClassicalOptions:
    options = options or ClassicalOptions()
    known = {field.name for field in dataclasses.fields(ClassicalOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown classical_fill option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    return dataclasses.replace(options, **overrides) if overrides else options


def _per_frame(
    fill: Callable[[np.ndarray, np.ndarray | None], np.ndarray],
    depth: DepthArray,
    rgb: np.ndarray | torch.Tensor | None,
    name: str,
) -> DepthArray:
    """Validate, run ``fill`` on each (H, W) frame, and return the input's kind (numpy or torch)."""
    frames = depth.detach().cpu().numpy() if isinstance(depth, torch.Tensor) else np.asarray(depth)
    if frames.ndim not in (2, 3) or frames.size == 0:
        raise ValueError(f"{name}: depth must be a non-empty (H, W) or (B, H, W) array, got shape {frames.shape}")
    if not np.issubdtype(frames.dtype, np.floating):
        raise TypeError(
            f"{name}: depth must be float metres, got {frames.dtype}; "
            "convert sensor units with depth_io.sanitize_depth(depth, scale)"
        )
    colors = _check_rgb(rgb, frames.shape, name)
    frames = frames.astype(np.float32, copy=False)
    if frames.ndim == 2:
        filled = fill(frames, colors)
    else:
        filled = np.stack([fill(frame, None if colors is None else colors[i]) for i, frame in enumerate(frames)])
    if isinstance(depth, torch.Tensor):
        return torch.from_numpy(filled).to(depth.device)
    return filled


def _check_rgb(rgb: np.ndarray | torch.Tensor | None, depth_shape: tuple[int, ...], name: str) -> np.ndarray | None:
    if rgb is None:
        return None
    colors = rgb.detach().cpu().numpy() if isinstance(rgb, torch.Tensor) else np.asarray(rgb)
    if colors.shape != (*depth_shape, 3):
        raise ValueError(
            f"{name}: rgb must be {(*depth_shape, 3)} (uint8 RGB matching depth {depth_shape}), got {colors.shape}"
        )
    if colors.dtype != np.uint8:
        raise TypeError(f"{name}: rgb must be uint8, got {colors.dtype}")
    return colors


def _classical_fill_frame(
    depth: np.ndarray, rgb: np.ndarray | None, options: ClassicalOptions, sanitized: bool
) -> np.ndarray:
    observed = depth > 0 if sanitized else (depth > 0) & (depth < np.inf)  # NaN fails both tests
    if not observed.any():
        return np.zeros_like(depth)
    if observed.all():
        return depth.copy()
    # Every hole pixel of ``filled`` is overwritten at the end; until then holes must read 0.
    filled = depth.copy() if sanitized else np.where(observed, depth, np.float32(0))
    grey = None
    if options.rgb_guidance and rgb is not None:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / np.float32(255.0)
    height, width = depth.shape
    factor = fill_reduction(height, width, options.max_fill_pixels)
    if factor == 1:
        inverse = _filled_inverse(filled, observed, grey, options, factor)
    else:
        small_depth, small_observed = _reduce_depth(filled, observed, factor)
        small_grey = None if grey is None else _block_means(grey, factor, cv2.BORDER_REPLICATE)
        small_inverse = _filled_inverse(small_depth, small_observed, small_grey, options, factor)
        enlarged_size = (small_inverse.shape[1] * factor, small_inverse.shape[0] * factor)
        inverse = cv2.resize(small_inverse, enlarged_size, interpolation=cv2.INTER_LINEAR)[:height, :width]
    np.divide(np.float32(1.0), inverse, out=filled, where=~observed)
    return filled


def fill_reduction(height: int, width: int, max_fill_pixels: int) -> int:
    """The integer factor by which :func:`classical_fill` reduces a ``height`` x ``width`` frame
    to fill it (1 = full resolution): the smallest that brings it to about ``max_fill_pixels``."""
    if max_fill_pixels == 0 or height * width <= max_fill_pixels:
        return 1
    return math.ceil(math.sqrt(height * width / max_fill_pixels))


def _filled_inverse(
    depth: np.ndarray, observed: np.ndarray, grey: np.ndarray | None, options: ClassicalOptions, reduction: int
) -> np.ndarray:
    """Inverse depth with every pixel filled (see the module docstring), on a grid ``reduction``
    times coarser than the camera's: kernel radii shrink by that factor, keeping their reach."""
    # In-place updates (copyto/divide with where=) below: at 640x480 every full-frame
    # temporary costs ~0.3 ms of a ~10 ms budget.
    holes = ~observed
    rims = _hole_rims(depth, observed, _reduced(options.rim_width, reduction), options.rim_tolerance)
    sources = observed & ~rims
    # Inverse depth, 0 = hole: a max-filter now lets the nearer surface win.
    inverse = np.zeros_like(depth)
    np.divide(np.float32(1.0), depth, out=inverse, where=sources)
    np.maximum(inverse, np.float32(1.0 / options.max_depth), out=inverse, where=sources)

    # Small holes: ip_basic's diamond dilation and closing, then a square dilation.
    diamond = _diamond_kernel(_reduced(DIAMOND_RADIUS, reduction))
    closing = _square_kernel(_reduced(CLOSING_RADIUS, reduction))
    near = cv2.morphologyEx(cv2.dilate(inverse, diamond), cv2.MORPH_CLOSE, closing)
    np.copyto(inverse, near, where=~sources)
    np.copyto(inverse, cv2.dilate(inverse, _square_kernel(_reduced(DILATION_RADIUS, reduction))), where=inverse == 0)
    inverse = _pyramid_fill(inverse)

    if options.smooth:
        smoothed = cv2.medianBlur(inverse, 5)
        smoothed = cv2.bilateralFilter(smoothed, 5, options.bilateral_sigma, options.bilateral_sigma_space)
        np.copyto(inverse, smoothed, where=holes)
    if grey is not None:
        guided = _guided_filter(grey, inverse, _reduced(options.guide_radius, reduction), options.guide_eps)
        # The guided filter's linear model can overshoot to <= 0 at strong colour edges.
        np.copyto(inverse, guided, where=holes & (guided > 0))
    return inverse


def _reduced(radius: int, reduction: int) -> int:
    """A kernel radius on a grid ``reduction`` times coarser: the same reach, at least 1 (0 stays 0)."""
    return 0 if radius == 0 else max(1, round(radius / reduction))


@functools.cache
def _diamond_kernel(radius: int) -> np.ndarray:
    offsets = np.abs(np.arange(-radius, radius + 1))
    kernel = (np.add.outer(offsets, offsets) <= radius).astype(np.uint8)
    kernel.flags.writeable = False  # shared by every call
    return kernel


@functools.cache
def _square_kernel(radius: int) -> np.ndarray:
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    kernel.flags.writeable = False  # shared by every call
    return kernel


def _block_means(image: np.ndarray, factor: int, border: int) -> np.ndarray:
    """Mean of each ``factor`` x ``factor`` block, the last row and column of blocks padded by ``border``."""
    height, width = image.shape
    pad_bottom, pad_right = -height % factor, -width % factor
    if pad_bottom or pad_right:
        image = cv2.copyMakeBorder(image, 0, pad_bottom, 0, pad_right, border, value=0)
    size = ((width + pad_right) // factor, (height + pad_bottom) // factor)
    # INTER_AREA at an integer factor is exactly the block mean.
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _reduce_depth(depth: np.ndarray, observed: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Depth and observed mask on the reduced grid: each cell the mean inverse depth of its observed pixels."""
    inverse = np.zeros_like(depth)
    np.divide(np.float32(1.0), depth, out=inverse, where=observed)
    inverse_means = _block_means(inverse, factor, cv2.BORDER_CONSTANT)
    observed_fractions = _block_means(observed.astype(np.float32), factor, cv2.BORDER_CONSTANT)
    small_observed = observed_fractions > 0
    small_depth = np.zeros_like(inverse_means)
    np.divide(observed_fractions, inverse_means, out=small_depth, where=small_observed)
    return small_depth, small_observed


def _hole_rims(depth: np.ndarray, observed: np.ndarray, width: int, tolerance: float) -> np.ndarray:
    """Observed pixels near a hole that are clearly nearer than the farthest depth around them."""
    if width == 0:
        return np.zeros_like(observed)
    window = _square_kernel(width)
    # erode() pads with +inf by default, so the image border does not count as a hole.
    near_hole = observed & ~cv2.erode(observed.astype(np.uint8), window).astype(bool)
    farthest_around = cv2.dilate(depth, window)
    # The farthest pixel of each window is never a rim, so some sources always remain.
    rims: np.ndarray = near_hole & (depth < (1.0 - tolerance) * farthest_around)
    return rims


def _pyramid_fill(values: np.ndarray) -> np.ndarray:
    """Push-pull hole filling: valid-weighted means on a halving pyramid, filled coarse to fine.

    Each hole pixel takes the upsampled estimate of the first level whose cell holds valid
    data, so every hole gets a smooth blend of its borders however large it is.
    Needs at least one value > 0.
    """
    weights: np.ndarray = (values > 0).astype(np.float32)
    levels = [(values, weights)]
    while (weights == 0).any():
        height, width = weights.shape
        size = ((width + 1) // 2, (height + 1) // 2)
        values = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
        weights = cv2.resize(weights, size, interpolation=cv2.INTER_AREA)
        levels.append((values, weights))
    estimate: np.ndarray = values / weights
    for values, weights in reversed(levels[:-1]):
        upsampled = cv2.resize(estimate, weights.shape[::-1], interpolation=cv2.INTER_LINEAR)
        estimate = np.divide(values, weights, out=upsampled, where=weights > 0)
    return estimate


def _guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with box means: edge-aware smoothing that follows ``guide``."""
    size = (2 * radius + 1, 2 * radius + 1)

    def mean(image: np.ndarray) -> np.ndarray:
        box: np.ndarray = cv2.boxFilter(image, -1, size)
        return box

    mean_guide, mean_source = mean(guide), mean(source)
    covariance = mean(guide * source) - mean_guide * mean_source
    variance = mean(guide * guide) - mean_guide * mean_guide
    slope = covariance / (variance + eps)
    offset = mean_source - slope * mean_guide
    guided: np.ndarray = mean(slope) * guide + mean(offset)
    return guided


def _nearest_fill_frame(depth: np.ndarray) -> np.ndarray:
    observed = np.isfinite(depth) & (depth > 0)
    if not observed.any():
        return np.zeros_like(depth)
    if observed.all():
        return depth.copy()
    # Distances are measured to the zero pixels of the input, i.e. to the observed pixels,
    # and each pixel gets the label of the observed pixel it is nearest to.
    _, labels = cv2.distanceTransformWithLabels(
        (~observed).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    depth_of_label = np.zeros(labels.max() + 1, np.float32)
    depth_of_label[labels[observed]] = depth[observed]
    return np.where(observed, depth, depth_of_label[labels])


def _inpaint_fill_frame(depth: np.ndarray, flag: int, radius: float) -> np.ndarray:
    observed = np.isfinite(depth) & (depth > 0)
    if not observed.any():
        return np.zeros_like(depth)
    if observed.all():
        return depth.copy()
    depth = np.where(observed, depth, np.float32(0))
    lowest, highest = depth[observed].min(), depth[observed].max()
    units_per_metre = np.iinfo(np.uint16).max / highest
    units = np.round(depth * units_per_metre).astype(np.uint16)
    painted = cv2.inpaint(units, (~observed).astype(np.uint8), radius, flag)
    filled = np.clip(painted / units_per_metre, lowest, highest).astype(np.float32)
    return np.where(observed, depth, filled)
