"""midpoint_fill against its definition, the original per-pixel loop, itself across backends, and real frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.per_pixel_loop import per_pixel_loop_fill
from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.depth_io import read_depth, read_depth_raw, sanitize_depth
from depth_completion_ros.interpolation import WINDOW_RADIUS, midpoint_fill, midpoint_fill_torch

# Pair offsets d (earlier -> later endpoint in raster order) for which the per-pixel loop chains:
# the later endpoint q sees the freshly filled midpoint m at offset m - q = -ceil(d/2) = (-1, +1),
# whose own midpoint q + (-1, 0) is a third pixel. Every other offset fills m and nothing else.
CHAINING_OFFSETS = {(1, -2), (2, -2)}
ALL_OFFSETS = [
    (dy, dx)
    for dy in range(-WINDOW_RADIUS, WINDOW_RADIUS + 1)
    for dx in range(-WINDOW_RADIUS, WINDOW_RADIUS + 1)
    if (dy, dx) > (0, 0)  # q after p in raster order
]


def random_depth(rng: np.random.Generator, shape: tuple[int, ...], density: float, dtype=np.float32) -> np.ndarray:
    values = rng.uniform(0.3, 8.0, shape) if dtype == np.float32 else rng.integers(300, 8000, shape)
    return np.where(rng.random(shape) < density, values, 0).astype(dtype)


def definition_fill(depth: np.ndarray) -> np.ndarray:
    """The rule spelled out pixel by pixel: mean over unordered pairs of originally valid pixels."""
    height, width = depth.shape
    r = WINDOW_RADIUS
    pairs: dict[tuple[int, int], set] = {}
    for py, px in zip(*np.nonzero(depth > 0), strict=True):
        if not (r <= py < height - r and r <= px < width - r):
            continue  # only window centres at least r pixels from the border
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                qy, qx = py + dy, px + dx
                my, mx = py + dy // 2, px + dx // 2
                if depth[qy, qx] > 0 and depth[my, mx] == 0:
                    pairs.setdefault((my, mx), set()).add(frozenset({(py, px), (qy, qx)}))
    out = depth.astype(np.float64)
    for (my, mx), members in pairs.items():
        out[my, mx] = np.mean([sum(float(depth[p]) for p in pair) / 2 for pair in members])
    return out


def neighbourhood_range(depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest valid depth in each pixel's 3x3 neighbourhood."""
    padded_low = np.pad(np.where(depth > 0, depth, np.inf), 1, constant_values=np.inf)
    padded_high = np.pad(depth, 1)
    height, width = depth.shape
    windows = [(slice(dy, dy + height), slice(dx, dx + width)) for dy in range(3) for dx in range(3)]
    low = np.min([padded_low[w] for w in windows], axis=0)
    high = np.max([padded_high[w] for w in windows], axis=0)
    return low, high


def isolated_pairs(offsets: list[tuple[int, int]], rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """One pair per 10x10 cell, far enough apart that no window sees two pairs."""
    cell = 10
    depth = np.zeros((cell * len(offsets), cell), np.float32)
    placed = []
    for index, (dy, dx) in enumerate(offsets):
        p = (index * cell + 4, 4)
        q = (p[0] + dy, p[1] + dx)
        depth[p], depth[q] = rng.uniform(0.5, 6.0, 2)
        placed.append((p, q))
    return depth, placed


@pytest.mark.parametrize("density", [0.05, 0.3, 0.7])
@pytest.mark.parametrize("shape", [(23, 31), (6, 5), (4, 9), (1, 1)])
def test_numpy_and_torch_follow_the_definition(density, shape):
    rng = np.random.default_rng(int(density * 100) + shape[0])
    depth = random_depth(rng, shape, density)
    expected = definition_fill(depth)
    filled = midpoint_fill(depth)
    np.testing.assert_allclose(filled, expected, rtol=1e-6)
    # Sums are exact in float64 on both paths, so they agree to the last bit.
    np.testing.assert_array_equal(midpoint_fill_torch(torch.from_numpy(depth)).numpy(), filled)
    np.testing.assert_array_equal(midpoint_fill(torch.from_numpy(depth)).numpy(), filled)


def original_notes_loop(img: np.ndarray) -> np.ndarray:
    """The loop body from the project's first notes (2022/12/05), verbatim but for the ``center_mas`` typo."""
    img = np.asarray(img).astype(np.float32)
    mask = np.where(img > 0)
    valid_pos = np.array(list(zip(mask[0], mask[1], strict=True)))
    width, height = img.shape[1], img.shape[0]
    center_mask = (np.array([2]), np.array([2]))
    for pos in valid_pos:
        row, col = pos[0], pos[1]
        if row - 2 >= 0 and col - 2 >= 0 and row + 2 < height and col + 2 < width:
            kernel = img[row - 2 : row + 3, col - 2 : col + 3]
            kernel_cp = img[row - 2 : row + 3, col - 2 : col + 3].copy()
            valid_mask = np.where(kernel > 0)
            interpo_mask = ((valid_mask[0] + center_mask[0]) // 2, (valid_mask[1] + center_mask[1]) // 2)
            inter_val = (kernel[valid_mask] + kernel[2, 2]) / 2
            kernel[interpo_mask] = inter_val[:]
            kernel[valid_mask] = kernel_cp[valid_mask]
    return img.astype(np.uint16)


@pytest.mark.parametrize("density", [0.055, 0.4])
def test_per_pixel_reference_is_the_original_notes_loop(density):
    depth = random_depth(np.random.default_rng(9), (48, 64), density, dtype=np.uint16)
    np.testing.assert_array_equal(per_pixel_loop_fill(depth), original_notes_loop(depth))


def test_matches_the_per_pixel_loop_where_its_order_cannot_matter():
    rng = np.random.default_rng(1)
    offsets = [d for d in ALL_OFFSETS if d not in CHAINING_OFFSETS]
    depth, _ = isolated_pairs(offsets, rng)
    filled = midpoint_fill(depth)
    assert (filled > depth).sum() > 0
    np.testing.assert_array_equal(filled, per_pixel_loop_fill(depth))


def test_per_pixel_loop_chains_through_pixels_it_filled():
    rng = np.random.default_rng(2)
    depth, placed = isolated_pairs(sorted(CHAINING_OFFSETS), rng)
    ours, loop = midpoint_fill(depth), per_pixel_loop_fill(depth)
    for p, q in placed:
        midpoint = (p[0] + (q[0] - p[0]) // 2, p[1] + (q[1] - p[1]) // 2)
        chained = (q[0] - 1, q[1])
        assert ours[midpoint] == loop[midpoint] == pytest.approx((depth[p] + depth[q]) / 2)
        assert ours[chained] == 0
        assert loop[chained] == pytest.approx((loop[midpoint] + depth[q]) / 2)
    assert np.count_nonzero(loop > ours) == len(placed)


def test_per_pixel_loop_keeps_the_last_pair_where_ours_takes_the_mean():
    # Centre (2, 2) of a 5x5 image; (0, 0) and (1, 0) both have their midpoint with the centre
    # at (1, 1): window indices (0, 0) and (1, 0) map to ((0 + 2) // 2, (0 + 2) // 2) = (1, 1)
    # and ((1 + 2) // 2, (0 + 2) // 2) = (1, 1). The pair (0, 0)-(1, 0) has no centre inside.
    depth = np.zeros((5, 5), np.float32)
    depth[2, 2], depth[0, 0], depth[1, 0] = 1.0, 3.0, 5.0
    first_average, last_average = (3.0 + 1.0) / 2, (5.0 + 1.0) / 2
    loop, ours = per_pixel_loop_fill(depth), midpoint_fill(depth)
    assert loop[1, 1] == last_average
    assert ours[1, 1] == (first_average + last_average) / 2
    assert np.count_nonzero(loop != depth) == np.count_nonzero(ours != depth) == 1


def test_pairs_reach_holes_only_through_a_centre_away_from_the_border():
    depth = np.zeros((8, 8), np.float32)
    depth[0, 2], depth[0, 4] = 1.0, 2.0  # both endpoints in the 2-pixel border band: never a centre
    depth[5, 7], depth[7, 7] = 3.0, 5.0  # likewise, along the right edge
    depth[1, 3], depth[3, 3] = 4.0, 6.0  # (3, 3) can be a centre: fills (2, 3)
    ours = midpoint_fill(depth)
    np.testing.assert_array_equal(ours, per_pixel_loop_fill(depth))
    assert ours[0, 3] == 0 and ours[6, 7] == 0
    assert ours[2, 3] == 5.0


@pytest.mark.parametrize("density", [0.055, 0.5])
def test_invariants_and_the_per_pixel_loop_fills_a_superset(density):
    rng = np.random.default_rng(3)
    depth = random_depth(rng, (64, 80), density)
    ours, loop = midpoint_fill(depth), per_pixel_loop_fill(depth)
    valid = depth > 0
    np.testing.assert_array_equal(ours[valid], depth[valid])
    np.testing.assert_array_equal(loop[valid], depth[valid])
    filled = (ours > 0) & ~valid
    assert filled.any()
    assert not (filled & ~(loop > 0)).any()
    low, high = neighbourhood_range(depth)
    assert np.all(ours[filled] >= low[filled]) and np.all(ours[filled] <= high[filled])


def test_uint16_is_the_rounded_float_result():
    rng = np.random.default_rng(4)
    depth = random_depth(rng, (3, 40, 50), 0.3, dtype=np.uint16)
    as_float = midpoint_fill(depth.astype(np.float32))
    filled = midpoint_fill(depth)
    assert filled.dtype == np.uint16
    np.testing.assert_array_equal(filled, np.rint(as_float).astype(np.uint16))
    np.testing.assert_array_equal(midpoint_fill_torch(torch.from_numpy(depth)).numpy(), filled)


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_batch_equals_images_one_by_one(dtype):
    rng = np.random.default_rng(5)
    batch = random_depth(rng, (4, 33, 47), 0.2, dtype=dtype)
    one_by_one = np.stack([midpoint_fill(image) for image in batch])
    np.testing.assert_array_equal(midpoint_fill(batch), one_by_one)
    tensor_batch = midpoint_fill_torch(torch.from_numpy(batch))
    image_by_image = np.stack([midpoint_fill_torch(torch.from_numpy(image)).numpy() for image in batch])
    np.testing.assert_array_equal(tensor_batch.numpy(), image_by_image)
    np.testing.assert_array_equal(tensor_batch.numpy(), one_by_one)


def test_returns_a_new_object_of_the_same_kind_and_leaves_the_input_alone():
    rng = np.random.default_rng(6)
    depth = random_depth(rng, (20, 30), 0.3)
    original = depth.copy()
    tensor = torch.from_numpy(depth)
    for fill, given in [
        (midpoint_fill, depth),
        (midpoint_fill, depth[:, ::-1]),
        (midpoint_fill, np.asfortranarray(depth)),
        (midpoint_fill, tensor),
        (midpoint_fill, tensor.t()),
        (midpoint_fill_torch, tensor),
        (midpoint_fill_torch, tensor.t()),
    ]:
        out = fill(given)
        assert type(out) is type(given) and out.shape == given.shape and out.dtype == given.dtype
        assert out is not given
    np.testing.assert_array_equal(depth, original)
    np.testing.assert_array_equal(midpoint_fill(depth[:, ::-1]), midpoint_fill(depth[:, ::-1].copy()))


def test_nan_inf_and_negative_depths_are_holes():
    rng = np.random.default_rng(7)
    depth = random_depth(rng, (30, 30), 0.3)
    corrupted = depth.copy()
    holes = np.flatnonzero(depth == 0)
    corrupted.flat[holes[0::3]] = np.nan
    corrupted.flat[holes[1::3]] = np.inf
    corrupted.flat[holes[2::3]] = -1.0
    expected = midpoint_fill(depth)
    np.testing.assert_array_equal(midpoint_fill(corrupted), expected)
    np.testing.assert_array_equal(midpoint_fill_torch(torch.from_numpy(corrupted)).numpy(), expected)


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (np.zeros((4, 4), np.float64), TypeError, "uint16 or float32"),
        (torch.zeros((4, 4), dtype=torch.int32), TypeError, "uint16 or float32"),
        ([[0.0, 1.0]], TypeError, "numpy array or a torch tensor"),
        (np.zeros(5, np.float32), ValueError, r"\(H, W\) or \(B, H, W\)"),
        (np.zeros((1, 2, 3, 4), np.uint16), ValueError, r"\(H, W\) or \(B, H, W\)"),
        (np.zeros((0, 4), np.float32), ValueError, "empty"),
    ],
)
def test_bad_input_is_named(bad, error, message):
    with pytest.raises(error, match=message):
        midpoint_fill(bad)


def test_torch_path_takes_tensors_only():
    with pytest.raises(TypeError, match="torch tensor"):
        midpoint_fill_torch(np.zeros((8, 8), np.float32))


def test_per_pixel_reference_takes_single_numpy_images_only():
    with pytest.raises(ValueError, match="one numpy"):
        per_pixel_loop_fill(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="one numpy"):
        per_pixel_loop_fill(torch.zeros((8, 8)))


def _sequence_frames(root: Path) -> list[Path]:
    frames = sorted(root.glob("frame-*.depth.png"))
    assert frames, f"no depth frames in {root}"
    return frames[:: max(1, len(frames) // 3)][:3]


def test_kinect_like_frames(generated_kitchen):
    for path in _sequence_frames(generated_kitchen):
        depth = read_depth(path, scale=1000.0)
        valid = depth > 0
        ours = midpoint_fill(depth)
        np.testing.assert_array_equal(ours[valid], depth[valid])
        filled = (ours > 0) & ~valid
        assert filled.any(), f"{path.name}: no hole was filled"
        low, high = neighbourhood_range(depth)
        assert np.all((ours[filled] >= low[filled]) & (ours[filled] <= high[filled]))
        np.testing.assert_array_equal(midpoint_fill_torch(torch.from_numpy(depth)).numpy(), ours)
        # The slow references on the 60x80 block where most holes get filled.
        blocks = filled.reshape(depth.shape[0] // 60, 60, depth.shape[1] // 80, 80).sum(axis=(1, 3))
        row, col = np.unravel_index(np.argmax(blocks), blocks.shape)
        crop = depth[row * 60 : (row + 1) * 60, col * 80 : (col + 1) * 80]
        crop_ours, crop_loop = midpoint_fill(crop), per_pixel_loop_fill(crop)
        assert np.count_nonzero(crop_ours != crop) > 40
        np.testing.assert_allclose(crop_ours, definition_fill(crop), rtol=1e-6)
        assert not ((crop_ours > 0) & ~(crop_loop > 0)).any()

    raw = read_depth_raw(_sequence_frames(generated_kitchen)[0])
    raw[raw == 65535] = 0
    np.testing.assert_array_equal(midpoint_fill(raw), np.rint(midpoint_fill(raw.astype(np.float32))).astype(np.uint16))


def test_sanitized_input_is_filled_exactly_as_without_the_flag(generated_kitchen, redkitchen_root):
    """The flag only skips re-cleaning depth that sanitize_depth already cleaned: same bits, input untouched."""
    frames = [read_depth(path, scale=1000.0) for path in _sequence_frames(generated_kitchen)[:2]]
    frames += [sanitize_depth(load_frame(frame).depth) for frame in discover_frames(redkitchen_root)[:2]]
    for depth in frames:
        original = depth.copy()
        for given in (depth, depth[None], depth[:, ::-1], torch.from_numpy(depth)):
            out = midpoint_fill(given, sanitized=True)
            assert out is not given and not np.shares_memory(np.asarray(out), np.asarray(given))
            np.testing.assert_array_equal(np.asarray(out), np.asarray(midpoint_fill(given)))
        np.testing.assert_array_equal(depth, original)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(8)
    for dtype in (np.float32, np.uint16):
        batch = torch.from_numpy(random_depth(rng, (3, 120, 160), 0.2, dtype=dtype))
        on_gpu = midpoint_fill(batch.cuda())
        assert on_gpu.device.type == "cuda" and on_gpu.dtype == batch.dtype
        torch.testing.assert_close(on_gpu.cpu(), midpoint_fill(batch), rtol=0, atol=0)
