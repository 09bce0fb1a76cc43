"""Hole masks: shapes, physics of edge shadows, determinism, and the hidden-region protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depth_completion_ros import holes
from depth_completion_ros.cli import main as cli_main
from depth_completion_ros.depth_io import read_color, read_depth, write_depth
from depth_completion_ros.holes import HoleSimulator, hide_regions


def plate_in_front_of_wall(
    near: float = 1.0, far: float = 2.0, shape=(120, 160), plate=(40, 80, 60, 100)
) -> np.ndarray:
    """A wall at ``far`` metres with a rectangular plate at ``near`` metres (rows/cols r0, r1, c0, c1)."""
    depth = np.full(shape, far, np.float32)
    r0, r1, c0, c1 = plate
    depth[r0:r1, c0:c1] = near
    return depth


@pytest.fixture(scope="module")
def kitchen_frame(generated_kitchen: Path) -> tuple[np.ndarray, np.ndarray]:
    depth = read_depth(generated_kitchen / "frame-000000.depth.png", scale=1000.0)
    rgb = read_color(generated_kitchen / "frame-000000.color.jpg")
    return depth, rgb


def test_as_generator_accepts_seeds_and_generators_only() -> None:
    generator = np.random.default_rng(1)
    assert holes.as_generator(generator) is generator
    assert holes.as_generator(5).random() == np.random.default_rng(5).random()
    with pytest.raises(TypeError, match="Generator or an int"):
        holes.as_generator(None)
    with pytest.raises(TypeError):
        holes.as_generator(1.5)


def test_smooth_noise_is_standardised_and_deterministic() -> None:
    field = holes.smooth_noise((96, 128), 3, scale_px=12)
    assert field.shape == (96, 128) and field.dtype == np.float32
    assert abs(float(field.mean())) < 0.1 and abs(float(field.std()) - 1.0) < 0.1
    np.testing.assert_array_equal(field, holes.smooth_noise((96, 128), 3, scale_px=12))
    assert not np.array_equal(field, holes.smooth_noise((96, 128), 4, scale_px=12))
    # Neighbouring pixels are strongly correlated at a 12 px scale (unlike white noise).
    assert np.corrcoef(field[:, :-1].ravel(), field[:, 1:].ravel())[0, 1] > 0.9
    with pytest.raises(ValueError, match="scale_px"):
        holes.smooth_noise((10, 10), 0, scale_px=0)


@pytest.mark.parametrize("coverage", [0.05, 0.2, 0.5])
def test_blob_mask_meets_its_coverage(coverage: float) -> None:
    mask = holes.blob_mask((240, 320), 7, coverage, scale_px=30)
    assert mask.dtype == bool
    assert abs(mask.mean() - coverage) < 0.02


def test_blob_mask_edge_cases_and_errors() -> None:
    assert not holes.blob_mask((50, 60), 0, 0.0, 10).any()
    with pytest.raises(ValueError, match="coverage"):
        holes.blob_mask((50, 60), 0, 1.5, 10)


def test_coherent_dropout_follows_probability() -> None:
    shape = (200, 200)
    assert not holes.coherent_dropout(0.0, shape, 0, 8).any()
    assert holes.coherent_dropout(1.0, shape, 0, 8).all()
    assert abs(holes.coherent_dropout(0.3, shape, 0, 8).mean() - 0.3) < 0.1
    probability = np.zeros(shape, np.float32)
    probability[:, 100:] = 1.0
    mask = holes.coherent_dropout(probability, shape, 0, 8)
    assert mask[:, 100:].all() and not mask[:, :100].any()
    with pytest.raises(ValueError, match="probability"):
        holes.coherent_dropout(np.zeros((10, 10)), shape, 0, 8)


def test_polygon_mask_draws_bounded_polygons() -> None:
    assert not holes.polygon_mask((100, 100), 0, 0, (10, 20)).any()
    mask = holes.polygon_mask((100, 100), 0, 1, (20, 30))
    rows, cols = np.nonzero(mask)
    assert rows.size > 0
    # A polygon of at most 30 px diameter fits in a 31 px box.
    assert rows.max() - rows.min() <= 31 and cols.max() - cols.min() <= 31
    with pytest.raises(ValueError, match="size_px"):
        holes.polygon_mask((100, 100), 0, 1, (30, 20))


def test_edge_shadow_has_the_projector_geometry() -> None:
    near, far, focal_baseline = 1.0, 2.0, 40.0
    depth = plate_in_front_of_wall(near, far)
    shadow = holes.edge_shadow_mask(depth, focal_baseline, side="left")
    expected_width = focal_baseline * (1 / near - 1 / far)  # 20 px
    columns = np.flatnonzero(shadow[60])
    assert columns.size == pytest.approx(expected_width, abs=1)
    assert columns.max() == 59  # the band ends right beside the plate's left edge (column 60)
    assert not shadow[:40].any() and not shadow[80:].any()  # rows without the plate
    assert not shadow[:, 60:].any()  # nothing on the plate or to its right
    mirrored = holes.edge_shadow_mask(depth, focal_baseline, side="right")
    assert np.flatnonzero(mirrored[60]).min() == 100


def test_edge_shadow_ignores_invalid_pixels_and_flat_scenes() -> None:
    depth = plate_in_front_of_wall()
    depth[:, :30] = 0.0
    shadow = holes.edge_shadow_mask(depth, 40.0)
    assert not shadow[depth <= 0].any()
    assert not holes.edge_shadow_mask(np.full((50, 50), 2.0, np.float32), 40.0).any()
    with pytest.raises(ValueError, match="side"):
        holes.edge_shadow_mask(depth, 40.0, side="up")
    with pytest.raises(ValueError, match="float"):
        holes.edge_shadow_mask(depth.astype(np.uint16), 40.0)


def test_depth_edge_mask_marks_both_sides_of_a_step() -> None:
    depth = plate_in_front_of_wall()
    edges = holes.depth_edge_mask(depth, relative_jump=0.05, width_px=1)
    assert edges[60, 59] and edges[60, 60] and edges[60, 99] and edges[60, 100]
    assert not edges[60, 80] and not edges[10, 10]
    wider = holes.depth_edge_mask(depth, relative_jump=0.05, width_px=3)
    assert wider.sum() > edges.sum() and (wider | ~edges).all()


def test_range_mask_hard_and_ragged_limits() -> None:
    depth = np.tile(np.linspace(0.1, 10.0, 200, dtype=np.float32), (100, 1))
    hard = holes.range_mask(depth, 0, 0.5, 6.0)
    np.testing.assert_array_equal(hard, (depth < 0.5) | (depth > 6.0))
    ragged = holes.range_mask(depth, 0, 0.5, 6.0, falloff=2.0)
    assert not ragged[(depth >= 0.5) & (depth < 4.0)].any()
    assert ragged[depth > 6.0].all()
    fading = (depth > 4.0) & (depth < 6.0)
    assert 0.1 < ragged[fading].mean() < 0.9
    with pytest.raises(ValueError, match="min_range"):
        holes.range_mask(depth, 0, 5.0, 1.0)


def test_appearance_mask_drops_dark_and_saturated_pixels() -> None:
    rgb = np.full((60, 90, 3), 128, np.uint8)
    rgb[:, :30] = 0
    rgb[:, 60:] = 255
    mask = holes.appearance_mask(rgb, 0)
    assert mask[:, :30].all() and mask[:, 60:].all() and not mask[:, 30:60].any()
    with pytest.raises(ValueError, match="uint8"):
        holes.appearance_mask(rgb.astype(np.float32), 0)


def test_speckle_and_sparse_masks() -> None:
    speckle = holes.speckle_mask((300, 300), 0, 0.02)
    assert 0.005 < speckle.mean() < 0.05
    keep = ~holes.sparse_sample_mask((300, 300), 0, 0.01)
    assert abs(keep.mean() - 0.01) < 0.003
    lines = ~holes.sparse_sample_mask((100, 40), 0, 0.1, pattern="lines")
    kept_rows = np.flatnonzero(lines.all(axis=1))
    assert kept_rows.size == 10 and set(np.diff(kept_rows)) == {10}
    assert not lines[~lines.all(axis=1)].any()
    with pytest.raises(ValueError, match="pattern"):
        holes.sparse_sample_mask((10, 10), 0, 0.1, pattern="grid")


def test_simulator_is_deterministic_and_valid(kitchen_frame: tuple[np.ndarray, np.ndarray]) -> None:
    depth, rgb = kitchen_frame
    simulator = holes.PRESETS["sensor"]
    first = simulator(depth, rgb, rng=11)
    assert first.shape == depth.shape and first.dtype == bool
    np.testing.assert_array_equal(first, simulator(depth, rgb, rng=11))
    assert not np.array_equal(first, simulator(depth, rgb, rng=12))
    assert not holes.PRESETS["none"](depth, rgb, rng=11).any()
    # The large-hole augmentation removes more than the sensor model, on average.
    sensor = np.mean([holes.PRESETS["sensor"](depth, rng=seed).mean() for seed in range(6)])
    large = np.mean([holes.PRESETS["large"](depth, rng=seed).mean() for seed in range(6)])
    assert large > sensor
    with pytest.raises(ValueError, match="rgb size"):
        HoleSimulator(appearance_probability=1.0)(depth, rgb[:10], rng=0)


def test_shadow_side_matches_real_kinect_frames(redkitchen_root: Path) -> None:
    """Kinect v1 loses the background just left of foreground objects. Shadows predicted from the
    remaining valid depth with ``side="left"`` border the frame's real holes far more often than
    the mirrored model does (about 10x on 7-Scenes)."""
    for index in (0, 100, 200):
        depth = read_depth(redkitchen_root / f"frame-{index:06d}.depth.png", scale=1000.0)
        invalid = depth <= 0
        beside_hole = np.roll(invalid, 1, axis=1) | np.roll(invalid, -1, axis=1)
        touching = {}
        for side in ("left", "right"):
            shadow = holes.edge_shadow_mask(depth, 585.0 * 0.075, side=side)
            touching[side] = (shadow & beside_hole).sum() / max(shadow.sum(), 1)
        assert touching["left"] > 3 * touching["right"], touching


def test_simulator_config_validation_and_from_dict() -> None:
    config = {"blob_probability": 0.5, "blob_coverage": [0.1, 0.2], "shadow_side": "right"}
    simulator = HoleSimulator.from_dict(config)
    assert simulator.blob_coverage == (0.1, 0.2) and simulator.shadow_side == "right"
    with pytest.raises(ValueError, match="unknown HoleSimulator keys"):
        HoleSimulator.from_dict({"blob_chance": 0.5})
    with pytest.raises(ValueError, match="blob_probability"):
        HoleSimulator(blob_probability=1.5)
    with pytest.raises(ValueError, match="speckle_density"):
        HoleSimulator(speckle_density=(0.2, 0.1))
    with pytest.raises(ValueError, match="min_range_m"):
        HoleSimulator(min_range_m=(0.3, 5.0), max_range_m=(4.0, 8.0))
    with pytest.raises(ValueError, match="shadow_side"):
        HoleSimulator(shadow_side="top")
    with pytest.raises(ValueError, match="blob_coverage must be a range"):
        HoleSimulator.from_dict({"blob_coverage": 0.1})
    with pytest.raises(TypeError):
        holes.PRESETS["mine"] = HoleSimulator()  # shared presets are read-only


@pytest.mark.parametrize("use_simulator", [False, True])
def test_hide_regions_hides_only_valid_pixels_within_bounds(
    kitchen_frame: tuple[np.ndarray, np.ndarray], use_simulator: bool
) -> None:
    depth, rgb = kitchen_frame
    valid = depth > 0
    simulator = holes.PRESETS["sensor"] if use_simulator else None
    for seed in range(4):
        hidden_input, hidden = hide_regions(depth, seed, fraction=(0.1, 0.3), simulator=simulator, rgb=rgb)
        assert hidden.dtype == bool and hidden.shape == depth.shape
        assert not hidden[~valid].any()
        share = hidden.sum() / valid.sum()
        assert 0.1 <= share <= 0.3
        assert (hidden_input[hidden] == 0).all()
        np.testing.assert_array_equal(hidden_input[~hidden], depth[~hidden])
    again = hide_regions(depth, 3, fraction=(0.1, 0.3), simulator=simulator, rgb=rgb)
    np.testing.assert_array_equal(
        again[1], hide_regions(depth, 3, fraction=(0.1, 0.3), simulator=simulator, rgb=rgb)[1]
    )


def test_hide_regions_forms_regions_not_scattered_pixels() -> None:
    depth = np.full((120, 160), 2.0, np.float32)
    _, hidden = hide_regions(depth, 0, fraction=(0.2, 0.2))
    assert hidden.sum() == round(0.2 * depth.size)
    # Most hidden pixels have all four neighbours hidden too: blobs, not salt-and-pepper (for
    # pixels scattered at random the share would be about 0.2 ** 4 = 0.2 %).
    interior = hidden[1:-1, 1:-1] & hidden[:-2, 1:-1] & hidden[2:, 1:-1] & hidden[1:-1, :-2] & hidden[1:-1, 2:]
    assert interior.sum() > 0.5 * hidden.sum()


def test_hide_regions_rejects_bad_input() -> None:
    depth = np.zeros((50, 50), np.float32)
    depth[:5, :5] = 1.0
    with pytest.raises(ValueError, match="valid depth pixels"):
        hide_regions(depth, 0)
    with pytest.raises(ValueError, match="fraction"):
        hide_regions(np.ones((50, 50), np.float32), 0, fraction=(0.3, 0.1))
    with pytest.raises(ValueError, match="fraction"):
        hide_regions(np.ones((50, 50), np.float32), 0, fraction=(0.1, 1.0))


def test_hole_statistics_by_hand() -> None:
    depth = np.ones((100, 100), np.float32)
    depth[10:15, 10:20] = 0.0  # one hole of 50 px = 0.5 % of the image
    depth[50, 50:52] = 0.0  # one hole of 2 px = 0.02 %
    stats = holes.hole_statistics([depth, np.ones((100, 100), np.float32)])
    assert stats.frames == 2
    assert stats.missing_fraction == pytest.approx(52 / 10000 / 2)
    assert stats.missing_fraction_range == (0.0, pytest.approx(52 / 10000))
    assert stats.holes_per_frame == 1.0
    # Bins: <=0.01 %, <=0.1 %, <=1 %, <=10 %, >10 %.
    assert stats.size_shares == pytest.approx((0.0, 2 / 52, 50 / 52, 0.0, 0.0))
    table = holes.format_hole_statistics({"hand-made": stats})
    assert "hand-made" in table and table.count("\n") == 2
    with pytest.raises(ValueError, match="at least one"):
        holes.hole_statistics([])


def test_cli_prints_statistics_of_depth_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    depth = np.full((100, 100), 1.5, np.float32)
    depth[10:15, 10:20] = 0.0  # 0.5 % of the frame missing
    files = [write_depth(tmp_path / f"{index}.png", depth) for index in (0, 1)]
    assert cli_main(["hole-stats", *map(str, files), "--scale", "1000", "--name", "kitchen"]) == 0
    expected = holes.format_hole_statistics({"kitchen": holes.hole_statistics([depth, depth])})
    assert capsys.readouterr().out.strip() == expected
    assert "| kitchen | 2 | 0.5% |" in expected
