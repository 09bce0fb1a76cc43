"""Midpoint interpolation: a classical pre-pass that fills small gaps between measurements.

The rule: for every valid pixel p at least two pixels from the border and every valid pixel q
in p's 5x5 window (offset d), the pixel ``p + floor(d / 2)`` receives ``(depth[p] + depth[q]) / 2``
unless it holds a measurement. The project's first notes applied it with a per-pixel Python loop
whose result depends on the visiting order (kept, ported unchanged, as the reference in
benchmarks/per_pixel_loop.py); ``midpoint_fill`` computes the rule as one vectorised pass whose
result does not depend on any order.

Where the two differ:

* ``midpoint_fill`` uses only pairs of *originally* valid pixels; the loop also pairs with pixels
  it filled earlier in the same pass (filled pixels count as valid for later windows).
* A hole reached by several pairs gets the mean of their averages; the loop keeps the value of
  the first window that reaches it, and inside that window the last pair (raster order) wins.

Hence every pixel ``midpoint_fill`` fills is filled by the loop too, and each filled value lies
between the smallest and largest valid depth of the hole's 3x3 neighbourhood.

Border rule: a pair is used only when at least one of its two pixels is at least two pixels
away from every border, i.e. could be the centre of a 5x5 window that lies inside the image.
Each unordered pair counts once (the loop could visit it from both ends, and the two visits
target the same pixel because ``p + floor(d/2) == q + floor(-d/2)``).

Implementations: numpy arrays and CPU tensors are filled per image through an 8-neighbour
validity code (``cv2.filter2D``) and lookup tables, touching only the holes that have a pair,
the fastest CPU formulation measured (docs/interpolation.md). Tensors on other devices (CUDA)
go through ``midpoint_fill_torch``: one shifted-slice pass per pair over the whole batch, pure
torch ops. Both sum in float64, where the sums of a few float32 depths are exact, so both give
the same bits, a hole whose pairs all have depth v gets exactly v, and no fill leaves the range
of its neighbours through rounding.
"""
from __future__ import annotations

import math
from itertools import product
from types import EllipsisType
from typing import TypeVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from depth_completion_ros.depth_io import sanitize_depth

DepthT = TypeVar("DepthT", np.ndarray, torch.Tensor)
Offset = tuple[int, int]  # (row, column)

#: Half the size of the rule's 5x5 window; also its border margin.
WINDOW_RADIUS = 2
#: The 8 neighbours of a pixel; neighbour i is bit i of a validity code.
NEIGHBOURS: tuple[Offset, ...] = tuple(
    (dy, dx) for dy, dx in product((-1, 0, 1), repeat=2) if (dy, dx) != (0, 0)
)


def _midpoint_pairs() -> tuple[tuple[Offset, Offset], ...]:
    """The neighbour pairs, relative to the pixel they fill, that the midpoint rule averages.

    For a window offset d the filled pixel is ``m = p + floor(d/2)`` (the original loop's
    ``(index + 2) // 2``), so p and q sit at ``-floor(d/2)`` and ``ceil(d/2)`` from m: always
    inside m's 3x3 neighbourhood. Offsets whose midpoint is p or q itself fill nothing, and
    d and -d give the same unordered pair, which leaves 9 pairs.
    """
    pairs: set[tuple[Offset, Offset]] = set()
    for dy, dx in product(range(-WINDOW_RADIUS, WINDOW_RADIUS + 1), repeat=2):
        first = (-(dy // 2), -(dx // 2))
        second = (dy + first[0], dx + first[1])
        if (0, 0) not in (first, second):
            pairs.add((min(first, second), max(first, second)))
    return tuple(sorted(pairs))


#: Unordered pairs of neighbours (offsets from the filled pixel) averaged into that pixel.
MIDPOINT_PAIRS = _midpoint_pairs()

_BIT = {offset: 1 << index for index, offset in enumerate(NEIGHBOURS)}
# filter2D correlates, so kernel[dy + 1, dx + 1] weights the neighbour at (dy, dx).
_CODE_KERNEL = np.zeros((3, 3), np.float32)
for (_dy, _dx), _bit in _BIT.items():
    _CODE_KERNEL[_dy + 1, _dx + 1] = _bit


def _lookup_tables() -> tuple[np.ndarray, np.ndarray]:
    """Pair counts and per-neighbour weights for every 16-bit key ``valid_code | interior_code << 8``.

    ``valid_code`` has bit i set when neighbour i holds a depth, ``interior_code`` when
    neighbour i is far enough from the border to be a window centre. A pair is counted
    when both neighbours are valid and at least one is interior; a neighbour's weight is the
    number of counted pairs it belongs to, so the sum of pair averages at a hole is
    ``sum_i weight_i * depth_i / 2``.
    """
    keys = np.arange(1 << 16)
    valid_code, interior_code = keys & 0xFF, keys >> 8
    counts = np.zeros(keys.size, np.uint8)
    weights = np.zeros((len(NEIGHBOURS), keys.size), np.float64)  # one contiguous table per neighbour
    for first, second in MIDPOINT_PAIRS:
        both_valid = (valid_code & _BIT[first] != 0) & (valid_code & _BIT[second] != 0)
        reachable = interior_code & (_BIT[first] | _BIT[second]) != 0
        counted = both_valid & reachable
        counts += counted
        weights[NEIGHBOURS.index(first)] += counted
        weights[NEIGHBOURS.index(second)] += counted
    return counts, weights


_PAIR_COUNT, _NEIGHBOUR_WEIGHTS = _lookup_tables()
# Away from the border every neighbour is interior: whether a hole has any pair at all.
_HAS_PAIR_INSIDE = np.ascontiguousarray(_PAIR_COUNT[0xFF00:] > 0).view(np.uint8)
for _table in (_CODE_KERNEL, _PAIR_COUNT, _NEIGHBOUR_WEIGHTS, _HAS_PAIR_INSIDE):
    _table.flags.writeable = False


def midpoint_fill(depth: DepthT, *, sanitized: bool = False) -> DepthT:
    """Fill holes with the mean midpoint average of their 5x5 pairs (see module docstring).

    ``depth`` is a numpy array or torch tensor of shape (H, W) or (B, H, W), uint16 or float32,
    where 0 marks a hole; in float input NaN, inf and negative values are holes too (and come
    back as 0). In uint16 input every nonzero value is a measurement, so remove
    sentinels (65535) with ``depth_io.sanitize_depth`` first. Returns a new array or tensor of
    the same type, shape, dtype and device; valid pixels keep their exact value, uint16 fills
    are rounded to the nearest integer (ties to even). CPU tensors take the numpy path,
    other devices ``midpoint_fill_torch``. ``sanitized=True`` says float input already holds
    only finite positive depths and 0 (``depth_io.sanitize_depth`` output), so the CPU path
    copies it as is instead of cleaning it again.
    """
    _check_depth(depth)
    if isinstance(depth, np.ndarray):
        return _midpoint_fill_numpy(depth, sanitized)
    if depth.device.type == "cpu":
        # Zero-copy both ways; on CPU the numpy path is far faster than the whole-image passes.
        return torch.from_numpy(_midpoint_fill_numpy(depth.detach().numpy(), sanitized))
    return midpoint_fill_torch(depth)


def midpoint_fill_torch(depth: torch.Tensor) -> torch.Tensor:
    """``midpoint_fill`` in pure torch ops on the tensor's own device; bit-identical results.

    ``midpoint_fill`` uses it for CUDA (any non-CPU) tensors. It makes one batched
    shifted-slice pass per pair, with no data-dependent control flow, so it also suits
    tracing or export next to a network; on CPU the numpy path is faster.
    """
    _check_depth(depth)
    if not isinstance(depth, torch.Tensor):
        raise TypeError(f"midpoint_fill_torch takes a torch tensor, got {type(depth).__name__}")
    filled = _fill_torch(_holes_as_zero_torch(depth))
    return torch.round(filled).to(torch.uint16) if depth.dtype == torch.uint16 else filled


def _check_depth(depth: object) -> None:
    """Reject anything midpoint_fill cannot treat as a (batch of) uint16/float32 depth image(s)."""
    allowed: tuple[object, ...]
    if isinstance(depth, torch.Tensor):
        allowed = (torch.uint16, torch.float32)
    elif isinstance(depth, np.ndarray):
        allowed = (np.dtype(np.uint16), np.dtype(np.float32))
    else:
        raise TypeError(f"depth must be a numpy array or a torch tensor, got {type(depth).__name__}")
    if depth.dtype not in allowed:
        raise TypeError(f"depth must be uint16 or float32 (0 = hole), got {depth.dtype}")
    if depth.ndim not in (2, 3):
        raise ValueError(f"depth must have shape (H, W) or (B, H, W), got {tuple(depth.shape)}")
    if 0 in depth.shape:
        raise ValueError(f"depth is empty: shape {tuple(depth.shape)}")


def _holes_as_zero_numpy(depth: np.ndarray, sanitized: bool) -> np.ndarray:
    """A C-contiguous copy in the input dtype whose holes are exactly 0 (filled in place later)."""
    if depth.dtype == np.uint16 or sanitized:
        return np.array(depth, order="C")
    # A fill keeps every finite positive input: range limits belong to whoever read the depth.
    return np.ascontiguousarray(sanitize_depth(depth, max_depth=math.inf))


def _midpoint_fill_numpy(depth: np.ndarray, sanitized: bool) -> np.ndarray:
    """midpoint_fill for a checked numpy (H, W) or (B, H, W) array, image by image."""
    filled = _holes_as_zero_numpy(depth, sanitized)
    for image in filled.reshape(-1, *filled.shape[-2:]):
        _fill_image_numpy(image)
    return filled


def _holes_as_zero_torch(depth: torch.Tensor) -> torch.Tensor:
    """Float32 values with NaN, inf and negative depths replaced by 0."""
    return sanitize_depth(depth.to(torch.float32), max_depth=math.inf)


def _interior_bits(length: int, axis: int) -> np.ndarray:
    """Per coordinate along one axis: the neighbour bits whose coordinate on that axis can be a window centre."""
    coords = np.arange(length)[:, None] + np.array([offset[axis] for offset in NEIGHBOURS])
    inside = (coords >= WINDOW_RADIUS) & (coords < length - WINDOW_RADIUS)
    bits: np.ndarray = (inside * np.array(list(_BIT.values()))).sum(axis=1).astype(np.uint16)
    return bits


def _fill_image_numpy(image: np.ndarray) -> None:
    """Fill one C-contiguous (H, W) image in place; only holes with a valid pair are visited.

    A neighbour's validity code (one filter2D) finds those holes, and the lookup tables turn
    the code plus the border rule into pair counts and neighbour weights, so the work grows
    with the number of fillable holes rather than with 18 full-image passes.
    """
    height, width = image.shape
    valid = image > 0
    valid_code = cv2.filter2D(valid.view(np.uint8), cv2.CV_8U, _CODE_KERNEL, borderType=cv2.BORDER_CONSTANT)
    has_pair = cv2.LUT(valid_code, _HAS_PAIR_INSIDE).view(bool)
    holes = np.flatnonzero(has_pair & ~valid)
    if holes.size == 0:
        return
    rows, cols = np.divmod(holes, width)
    interior_code = _interior_bits(height, 0)[rows] & _interior_bits(width, 1)[cols]
    keys = valid_code.ravel()[holes] | interior_code << 8
    sums = np.zeros(holes.size, np.float64)
    for (dy, dx), weights in zip(NEIGHBOURS, _NEIGHBOUR_WEIGHTS, strict=True):
        # Neighbours outside the image have weight 0 (their valid bit is 0), so clipping is harmless.
        sums += np.take(image.ravel(), holes + (dy * width + dx), mode="clip") * weights[keys]
    # A hole near the border may have only pairs outside the border rule: 0 / 1 keeps it a hole.
    means = sums / (2 * np.maximum(_PAIR_COUNT[keys], 1))
    image.ravel()[holes] = np.rint(means) if image.dtype == np.uint16 else means


def _fill_torch(values: torch.Tensor) -> torch.Tensor:
    """Fill float32 (H, W) or (B, H, W) values with holes at 0: one shifted-slice pass per pair, any device."""
    height, width = values.shape[-2:]
    padded = F.pad(values.to(torch.float64), (1, 1, 1, 1))  # float64: exact sums, as on the numpy path
    padded_valid = padded > 0
    r = WINDOW_RADIUS
    interior = torch.zeros((height + 2, width + 2), dtype=torch.bool, device=values.device)
    interior[1 + r : height + 1 - r, 1 + r : width + 1 - r] = True

    def shifted(offset: Offset) -> tuple[EllipsisType, slice, slice]:
        """Index of the padded plane that puts neighbour ``offset`` of every pixel at the pixel."""
        dy, dx = offset
        return ..., slice(1 + dy, 1 + dy + height), slice(1 + dx, 1 + dx + width)

    sums = torch.zeros(values.shape, dtype=torch.float64, device=values.device)
    counts = torch.zeros(values.shape, dtype=torch.uint8, device=values.device)  # at most 9 pairs
    # Per-pair buffers reused in place: no allocation of batch-sized tensors inside the loop.
    counted = torch.empty(values.shape, dtype=torch.bool, device=values.device)
    pair_sum = torch.empty_like(sums)
    for first, second in MIDPOINT_PAIRS:
        a, b = shifted(first), shifted(second)
        torch.logical_and(padded_valid[a], padded_valid[b], out=counted)
        counted &= interior[a] | interior[b]
        torch.add(padded[a], padded[b], out=pair_sum)
        sums += pair_sum.masked_fill_(~counted, 0)
        counts += counted
    # Holes without a pair get 0 / 1 = 0, i.e. stay holes.
    return torch.where(values > 0, values, (sums / (2 * counts).clamp_min(1)).to(values.dtype))
