"""The original per-pixel midpoint loop: the reference ``midpoint_fill`` is measured against.

The project started from notes whose classical pre-pass was a Python loop over every valid
pixel. ``interpolation.midpoint_fill`` computes the same rule order-independently and ~100x
faster; this module keeps the loop itself, ported statement for statement, for the parity tests
(test/test_interpolation.py) and the speed comparison (benchmarks/interpolation.py). It is not
part of the library: nothing a user runs calls it.
"""
from __future__ import annotations

import numpy as np

from depth_completion_ros.interpolation import WINDOW_RADIUS


def per_pixel_loop_fill(depth: np.ndarray) -> np.ndarray:
    """The original order-dependent per-pixel loop (about a second per 1080p frame).

    Windows are visited in raster order of their centre; pixels filled by earlier windows act as
    valid pixels in later ones, a pixel keeps the value of the first window that fills it, and
    within a window numpy's fancy assignment lets the last pair in raster order win. Accepts a
    numpy (H, W) uint16 or float32 image (NaN, inf and negative values are holes); computes in
    float32 like the original and converts back with ``astype``, so uint16 fills are truncated
    as the original ``img.astype(np.uint16)`` did.
    """
    if not isinstance(depth, np.ndarray) or depth.ndim != 2 or depth.dtype not in (np.uint16, np.float32):
        raise ValueError(f"per_pixel_loop_fill takes one numpy (H, W) uint16 or float32 image, got "
                         f"{type(depth).__name__} of shape {tuple(depth.shape)}")
    image = np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float32)
    height, width = image.shape
    r = WINDOW_RADIUS
    centre_rows, centre_cols = np.nonzero(image > 0)
    for row, col in zip(centre_rows.tolist(), centre_cols.tolist(), strict=True):
        if r <= row < height - r and r <= col < width - r:
            window = image[row - r : row + r + 1, col - r : col + r + 1]
            before = window.copy()
            valid_rows, valid_cols = np.nonzero(window > 0)
            averages = (window[valid_rows, valid_cols] + window[r, r]) / 2
            window[(valid_rows + r) // 2, (valid_cols + r) // 2] = averages
            window[valid_rows, valid_cols] = before[valid_rows, valid_cols]
    return image.astype(depth.dtype)
