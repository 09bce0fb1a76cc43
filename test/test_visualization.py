"""Colour scales and panels: shapes, dtypes, fixed scales and layout."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from depth_completion_ros.classical import classical_fill
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.visualization import (
    COLORMAPS,
    DEFAULT_VMAX,
    MIN_RANGE_SPAN,
    RANGE_STEP,
    ROBUST_PERCENTILES,
    colorize,
    colorize_confidence,
    colorize_depth,
    colorize_error,
    make_panel,
    robust_depth_range,
)


def colormap_rgb(colormap: str, level: int) -> np.ndarray:
    """OpenCV's colour for one 0-255 level, as RGB."""
    bgr = cv2.applyColorMap(np.array([[level]], np.uint8), COLORMAPS[colormap])
    return bgr[0, 0, ::-1]


def find_block(panel: np.ndarray, block: np.ndarray, left: int) -> int | None:
    """Row where ``block`` sits in ``panel`` at column ``left``, or None."""
    height, width = block.shape[:2]
    for top in range(panel.shape[0] - height + 1):
        if np.array_equal(panel[top : top + height, left : left + width], block):
            return top
    return None


@pytest.fixture(scope="module")
def matterport_sample(generated_matterport):
    return load_frame(discover_frames(generated_matterport, layout="matterport")[0])


def test_colorize_depth_is_uint8_rgb_with_black_holes():
    depth = np.array([[0.0, 1.0, np.nan], [np.inf, -2.0, 9.0]], np.float32)
    rgb = colorize_depth(depth)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    for hole in [(0, 0), (0, 2), (1, 0), (1, 1)]:
        assert rgb[hole].tolist() == [0, 0, 0]
    assert rgb[0, 1].any() and rgb[1, 2].any()


def test_fixed_scale_gives_the_same_colour_to_the_same_depth_across_frames():
    near_frame = np.full((4, 4), 0.7, np.float32)
    near_frame[1, 2] = 2.5
    far_frame = np.linspace(2.0, 9.0, 16, dtype=np.float32).reshape(4, 4)
    far_frame[3, 0] = 2.5
    a, b = colorize_depth(near_frame), colorize_depth(far_frame)
    assert np.array_equal(a[1, 2], b[3, 0])
    assert np.array_equal(a[1, 2], colormap_rgb("turbo", round(2.5 / 10.0 * 255)))


def test_scale_ends_and_clipping():
    depth = np.array([[0.5, 4.0, 4.0001, 40.0]], np.float32)
    rgb = colorize_depth(depth, vmin=0.5, vmax=4.0, colormap="viridis")
    assert np.array_equal(rgb[0, 0], colormap_rgb("viridis", 0))
    for column in (1, 2, 3):
        assert np.array_equal(rgb[0, column], colormap_rgb("viridis", 255))


def test_error_and_confidence_maps():
    error = np.array([[0.0, 0.25, 0.5, np.nan]], np.float32)
    rgb = colorize_error(error, vmax=0.5)
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 4, 3)
    assert rgb[0, 0].any(), "zero error must not look like missing ground truth"
    assert rgb[0, 3].tolist() == [0, 0, 0]
    assert np.array_equal(rgb[0, 2], colormap_rgb("viridis", 255))
    confidence = colorize_confidence(torch.tensor([[0.0, 1.0]]))
    assert np.array_equal(confidence[0, 0], colormap_rgb("inferno", 0))
    assert np.array_equal(confidence[0, 1], colormap_rgb("inferno", 255))


def test_panel_layout_holds_each_tile_at_its_place(matterport_sample):
    sample = matterport_sample
    completed = classical_fill(sample.depth)
    confidence = np.linspace(0, 1, sample.depth.size, dtype=np.float32).reshape(sample.depth.shape)
    panel = make_panel(sample.depth, completed, sample.gt, sample.rgb, confidence=confidence, depth_range=(0.0, 8.0))
    height, width = sample.depth.shape
    assert panel.dtype == np.uint8 and panel.ndim == 3 and panel.shape[2] == 3
    gap = (panel.shape[1] - 6 * width) // 5
    assert panel.shape[1] == 6 * width + 5 * gap and gap > 0
    assert height < panel.shape[0] < 2 * height
    expected = [
        sample.rgb,
        colorize_depth(sample.depth, 0.0, 8.0),
        colorize_depth(completed, 0.0, 8.0),
        colorize_depth(sample.gt, 0.0, 8.0),
        colorize_error(np.where(sample.gt > 0, np.abs(completed - sample.gt), np.nan), 0.8),
        colorize_confidence(confidence),
    ]
    tops = {find_block(panel, tile, index * (width + gap)) for index, tile in enumerate(expected)}
    assert len(tops) == 1 and None not in tops, "every tile sits at the same height below its title"


def test_panel_grid_and_optional_tiles(matterport_sample):
    sample = matterport_sample
    width = sample.depth.shape[1]
    two = make_panel(torch.from_numpy(sample.depth), torch.from_numpy(sample.depth))
    gap = two.shape[1] - 2 * width
    assert 0 < gap < 20
    grid = make_panel(sample.depth, sample.depth, sample.gt, sample.rgb, columns=2, titles={"completed": "ip_basic"})
    # RGB, raw | completed, GT | error: three rows of two.
    assert grid.shape == (3 * two.shape[0] + 2 * gap, two.shape[1], 3)


def test_default_panel_scale_is_the_robust_range_of_raw_and_reference(matterport_sample):
    sample = matterport_sample
    auto = make_panel(sample.depth, sample.depth, sample.gt)
    values = np.concatenate([sample.depth[sample.depth > 0], sample.gt[sample.gt > 0]])
    low, high = np.percentile(values, ROBUST_PERCENTILES)
    vmin, vmax = robust_depth_range(sample.depth, sample.gt)
    assert vmin <= low < vmin + RANGE_STEP + 1e-6 and vmax - RANGE_STEP - 1e-6 < high <= vmax
    assert np.array_equal(auto, make_panel(sample.depth, sample.depth, sample.gt, depth_range=(vmin, vmax)))


def test_robust_range_edge_cases():
    assert robust_depth_range(np.zeros((4, 4), np.float32), None) == (0.0, DEFAULT_VMAX)
    flat = np.full((4, 4), 1.234, np.float32)
    vmin, vmax = robust_depth_range(flat)
    assert vmax - vmin >= MIN_RANGE_SPAN and vmin <= 1.234 <= vmax
    with pytest.raises(ValueError, match="percentiles"):
        robust_depth_range(flat, percentiles=(98.0, 2.0))


@pytest.fixture(scope="module")
def realsense_frame(generated_tabletop):
    """A generated RealSense-like tabletop frame (objects on a table 0.4-1.2 m away, the room behind)."""
    return load_frame(discover_frames(generated_tabletop)[0])


def test_a_few_far_noisy_pixels_do_not_wash_out_the_near_scene(realsense_frame):
    depth = realsense_frame.depth
    noisy = depth.copy()
    rng = np.random.default_rng(0)
    far = rng.choice(noisy.size, 300, replace=False)  # 0.1 % of the pixels: multipath returns at 12 m
    noisy.flat[far] = rng.uniform(11.5, 12.0, far.size).astype(np.float32)
    assert robust_depth_range(noisy) == robust_depth_range(depth)
    vmin, vmax = robust_depth_range(noisy)
    assert vmax < 4.0  # the far pixels are outliers, not the scene

    desk = (depth > 0.6) & (depth < 1.2)

    def shades(image: np.ndarray) -> int:
        return len(np.unique(image[desk].reshape(-1, 3), axis=0))

    robust = make_panel(noisy, noisy, rgb=realsense_frame.rgb)
    to_the_farthest = make_panel(noisy, noisy, rgb=realsense_frame.rgb, depth_range=(0.0, float(noisy.max())))
    assert shades(colorize_depth(noisy, vmin, vmax)) > 2 * shades(colorize_depth(noisy, 0.0, float(noisy.max())))
    assert not np.array_equal(robust, to_the_farthest)


FLAT = np.ones((4, 40), np.float32)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: colorize_depth(np.zeros((2, 2, 2), np.float32)), r"\(H, W\)"),
        (lambda: colorize_depth(np.ones((2, 2), np.float32), colormap="rainbow2"), "unknown colormap"),
        (lambda: colorize_depth(np.ones((2, 2), np.float32), vmin=3.0, vmax=3.0), "vmin < vmax"),
        (lambda: colorize(np.ones((2, 2)), 0.0, float("inf"), "turbo"), "finite"),
        (lambda: make_panel(FLAT, np.ones((4, 41), np.float32)), "completed"),
        (lambda: make_panel(FLAT, FLAT, rgb=np.ones((4, 40, 3))), "uint8"),
        (lambda: make_panel(FLAT, FLAT, columns=0), "columns"),
        (lambda: make_panel(np.ones((4, 8), np.float32), np.ones((4, 8), np.float32)), "at least 32 px"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()
