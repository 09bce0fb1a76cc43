"""Synthetic RGB-D generator: exact geometry, determinism, sensor-like raw depth, sequences."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest

from depth_completion_ros import synthetic
from depth_completion_ros.cli import main as cli_main
from depth_completion_ros.depth_io import read_color
from depth_completion_ros.geometry import CameraIntrinsics
from depth_completion_ros.holes import PRESETS
from depth_completion_ros.synthetic import Cuboid, Decal, Material, SensorModel, SyntheticScene, Trajectory, random_room
from depth_completion_ros.synthetic.raycast import RenderBuffers, intersect, screen_rect


def perfect_sensor(see_through: float = 0.0) -> SensorModel:
    """A sensor that reports the ground truth unchanged (no holes, noise or quantisation, drops
    only at exactly grazing incidence); glass is seen through with probability ``see_through``."""
    return SensorModel(
        holes=PRESETS["none"],
        noise_sigma_m=(0.0, 0.0),
        quantisation_m=0.0,
        grazing_cos=(0.0, 1e-6),
        see_through=see_through,
    )


INTRINSICS = synthetic.default_intrinsics(160, 128)


@pytest.fixture(scope="module")
def samples() -> list[synthetic.SyntheticSample]:
    return [synthetic.generate_sample(seed, 160, 128) for seed in range(6)]


def looking_along_x(position: tuple[float, float, float]) -> np.ndarray:
    """Camera-to-world pose at ``position`` looking along world +x, level (x right = world -y)."""
    pose = np.eye(4)
    pose[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    pose[:3, 3] = position
    return pose


def box_room(box_material: Material, window: bool = False) -> SyntheticScene:
    """A 6 x 4 x 3 m room with a 1 m cube centred at (3, 2, 1.5), so its front face is the plane
    x = 2.5; optionally a window in the far wall (x = 6) at y = 0.1...1 m, z = 0.5...2.5 m."""
    paint = Material("paint", (0.7, 0.7, 0.7))
    glass = Material("outdoor", (0.9, 0.9, 1.0), transparent=True, emissive=True)
    decals = (Decal(1, (0.1, 1.0), (0.5, 2.5), 2),) if window else ()
    return SyntheticScene(
        size=(6.0, 4.0, 3.0),
        face_materials=(0, 0, 0, 0, 0, 0),
        decals=decals,
        cuboids=(Cuboid((3.0, 2.0, 1.5), (0.5, 0.5, 0.5), 0.0, 1),),
        cylinders=(),
        spheres=(),
        materials=(paint, box_material, glass),
        lights=(synthetic.Light((3.0, 2.0, 2.7), 1.0),),
        ambient=0.4,
        outside_distance_m=10.0,
        trajectory=Trajectory(  # unused: the tests pass camera poses directly
            center_xy=(3.0, 2.0),
            radii=(1.0, 1.0),
            height_m=1.5,
            start_angle=0.0,
            angular_speed=0.2,
            yaw_sweep=(0.0, 0.1, 0.0),
            pitch=(0.0, 0.0, 0.1, 0.0),
            roll=(0.0, 0.1, 0.0),
            bob=(0.0, 0.1, 0.0),
        ),
        texture_seed=0,
    )


def test_ground_truth_is_z_depth_of_the_analytic_scene() -> None:
    scene = box_room(Material("paint", (0.5, 0.3, 0.2)))
    sample = scene.render(looking_along_x((1.0, 2.0, 1.5)), INTRINSICS, np.random.default_rng(0), perfect_sensor())
    row, col = round(INTRINSICS.cy), round(INTRINSICS.cx)
    # The cube's front face is the plane x = 2.5: its z-depth is 1.5 m at every pixel it covers,
    # not only on the optical axis (z-depth, not distance along the ray). It spans
    # 0.5 / 1.5 * fx = 49 px either side of the centre.
    np.testing.assert_allclose(sample.gt[row - 40 : row + 40, col - 40 : col + 40], 1.5, atol=1e-5)
    # Just beside the cube, the far wall (x = 6) is seen: z = 5 m (its ray is 5.4 m long).
    beside = round(0.37 * INTRINSICS.fx)
    assert sample.gt[row, col - beside] == pytest.approx(5.0, abs=1e-4)
    assert sample.gt[row, col + beside] == pytest.approx(5.0, abs=1e-4)
    np.testing.assert_array_equal(sample.raw, sample.gt)


def test_dark_material_loses_its_depth() -> None:
    dark = Material("metal", (0.03, 0.03, 0.03), specular=0.8, dropout=1.0)
    scene = box_room(dark)
    sample = scene.render(looking_along_x((1.0, 2.0, 1.5)), INTRINSICS, np.random.default_rng(0), perfect_sensor())
    on_box = np.isclose(sample.gt, 1.5, atol=1e-4)
    assert on_box.sum() > 500
    assert (sample.raw[on_box] == 0).all()
    assert (sample.raw[~on_box] > 0).mean() > 0.99


def test_window_is_transparent_in_gt_and_missing_or_seen_through_in_raw() -> None:
    pose = looking_along_x((0.5, 2.0, 1.5))  # the window shows right of the cube
    scene = box_room(Material("paint", (0.5, 0.3, 0.2)), window=True)
    blind = scene.render(pose, INTRINSICS, np.random.default_rng(0), perfect_sensor(see_through=0.0))
    assert blind.transparent.sum() > 200
    np.testing.assert_allclose(blind.gt[blind.transparent], 5.5, atol=1e-4)  # the glass pane itself
    assert (blind.raw[blind.transparent] == 0).all()
    assert (blind.raw[~blind.transparent] > 0).mean() > 0.99
    through = scene.render(pose, INTRINSICS, np.random.default_rng(0), perfect_sensor(see_through=1.0))
    # Seen through, the sensor measures the facade 10 m beyond the wall: 15.5 m in z.
    np.testing.assert_allclose(through.raw[through.transparent], 15.5, atol=1e-3)


def looking_down_at(position: tuple[float, float, float], forward: tuple[float, float, float]) -> np.ndarray:
    """Camera-to-world pose at ``position`` looking along ``forward`` (not vertical), no roll."""
    forward_axis = np.asarray(forward, float) / np.linalg.norm(forward)
    right = np.cross(forward_axis, (0.0, 0.0, 1.0))
    right /= np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, np.cross(forward_axis, right), forward_axis], axis=1)
    pose[:3, 3] = position
    return pose


def test_screen_culling_never_hides_a_visible_surface() -> None:
    """Rendering tests each primitive only inside its projected bounding rectangle (clipped at the
    near plane when part of it is behind the camera); every pixel that truly sees the primitive
    must lie in that rectangle."""
    random_scene = random_room(np.random.SeedSequence(0).spawn(3)[0])
    cases = [(random_scene, random_scene.trajectory.pose(time_s)) for time_s in np.linspace(0.0, 60.0, 7)]
    # Above the middle of a 4 m long table top, looking ahead and down: its near corners are
    # behind the camera, and the top reaches the bottom of the image.
    table = Cuboid((3.0, 2.0, 0.75), (2.0, 0.5, 0.02), 0.0, 1)
    table_room = dataclasses.replace(box_room(Material("paint", (0.5, 0.3, 0.2))), cuboids=(table,))
    cases.append((table_room, looking_down_at((3.0, 2.0, 1.3), (1.0, 0.0, -0.6))))
    straddling_and_seen = 0
    for scene, pose in cases:
        buffers = RenderBuffers(pose, INTRINSICS)
        for primitive, corners in zip(scene.primitives, scene._corners, strict=True):
            hits = np.isfinite(intersect(primitive, buffers.origin, buffers.directions))
            rect = screen_rect(corners, buffers)
            outside = hits.copy()
            if rect is not None:
                outside[rect] = False
            assert not outside.any()
            in_front = (corners - buffers.origin) @ buffers.rotation[:, 2] > 0
            straddling_and_seen += bool(in_front.any() and not in_front.all() and hits.any())
    assert straddling_and_seen > 0  # the near-plane clipping was exercised


def test_generate_sample_is_deterministic() -> None:
    first = synthetic.generate_sample(3, 160, 128)
    again = synthetic.generate_sample(3, 160, 128)
    for name in ("rgb", "gt", "raw", "transparent", "pose"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    other = synthetic.generate_sample(4, 160, 128)
    assert not np.array_equal(first.gt, other.gt)
    assert not np.array_equal(first.rgb, other.rgb)


def test_sample_shapes_types_and_ranges(samples: list[synthetic.SyntheticSample]) -> None:
    for sample in samples:
        assert sample.rgb.shape == (128, 160, 3) and sample.rgb.dtype == np.uint8
        assert sample.gt.shape == (128, 160) and sample.gt.dtype == np.float32
        assert sample.raw.shape == (128, 160) and sample.raw.dtype == np.float32
        for mask in (sample.transparent, sample.dark, sample.specular):
            assert mask.shape == (128, 160) and mask.dtype == bool
        assert sample.intrinsics == INTRINSICS
        assert sample.pose.shape == (4, 4)
        np.testing.assert_allclose(sample.pose[:3, :3] @ sample.pose[:3, :3].T, np.eye(3), atol=1e-9)
        # Dense, finite, positive ground truth inside a room of at most 8 x 6.5 x 3 m.
        assert np.isfinite(sample.gt).all() and (sample.gt > 0).all() and sample.gt.max() < 11.0
        assert sample.rgb.std() > 10  # textured and lit, not a flat image
        valid = sample.raw > 0
        assert 0.2 < valid.mean() < 1.0  # realistic: holes, but mostly measured


def test_raw_depth_is_ground_truth_plus_sensor_noise(samples: list[synthetic.SyntheticSample]) -> None:
    sensor = SensorModel()
    for sample in samples:
        valid = (sample.raw > 0) & ~sample.transparent
        error = np.abs(sample.raw[valid] - sample.gt[valid])
        bound = 6 * sensor.noise_sigma(sample.gt[valid]) + sensor.quantisation_m / 2
        assert (error <= bound).all()
        # Values are whole millimetres, as a 16-bit depth image in mm would hold.
        np.testing.assert_allclose(sample.raw[valid] * 1000, np.rint(sample.raw[valid] * 1000), atol=1e-3)
        # Behind glass the sensor sees nothing or a surface behind the glass (up to noise).
        through = (sample.raw > 0) & sample.transparent
        behind_bound = sample.gt[through] - 6 * sensor.noise_sigma(sample.gt[through]) - sensor.quantisation_m / 2
        assert (sample.raw[through] >= behind_bound).all()


def test_raw_depth_has_sensor_like_holes(samples: list[synthetic.SyntheticSample]) -> None:
    missing = np.mean([(sample.raw <= 0).mean() for sample in samples])
    assert 0.02 < missing < 0.5
    assert any(sample.transparent.any() for sample in samples)


def test_custom_intrinsics_and_size_errors() -> None:
    intrinsics = CameraIntrinsics(fx=100.0, fy=100.0, cx=40.0, cy=30.0, width=80, height=60)
    sample = synthetic.generate_sample(1, 80, 60, intrinsics=intrinsics)
    assert sample.gt.shape == (60, 80) and sample.intrinsics == intrinsics
    with pytest.raises(ValueError, match="intrinsics are for 80x60"):
        synthetic.generate_sample(1, 160, 128, intrinsics=intrinsics)
    with pytest.raises(ValueError, match="at least 8x8"):
        synthetic.generate_sample(1, 4, 4)
    with pytest.raises(ValueError, match="pose"):
        box_room(Material("paint", (0.5, 0.5, 0.5))).render(np.eye(3), INTRINSICS, np.random.default_rng(0))


def test_configuration_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="pattern"):
        Material("marble", (0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="dropout"):
        Material("paint", (0.5, 0.5, 0.5), dropout=2.0)
    with pytest.raises(ValueError, match="see_through"):
        SensorModel(see_through=-0.1)
    with pytest.raises(ValueError, match="grazing_cos"):
        SensorModel(grazing_cos=(0.5, 0.2))


@pytest.mark.parametrize("kind", ["room", "tabletop"])
def test_sequence_moves_smoothly_through_one_scene(kind: str) -> None:
    frames = list(synthetic.render_sequence(5, 4, 160, 128, kind=kind))
    assert len(frames) == 4
    for previous, current in itertools.pairwise(frames):
        step = np.linalg.norm(current.pose[:3, 3] - previous.pose[:3, 3])
        assert 0.0 < step < 0.03  # a few millimetres to centimetres per 30 Hz frame
        turn = np.degrees(np.arccos(np.clip((np.trace(previous.pose[:3, :3].T @ current.pose[:3, :3]) - 1) / 2, -1, 1)))
        assert turn < 2.0
        # Consecutive ground truths differ little (a moving camera, not a new scene).
        relative = np.abs(current.gt - previous.gt) / previous.gt
        assert np.median(relative) < 0.02
        assert not np.array_equal(current.gt, previous.gt)
    replay = next(synthetic.render_sequence(5, 1, 160, 128, kind=kind))
    np.testing.assert_array_equal(replay.raw, frames[0].raw)
    assert list(synthetic.render_sequence(5, 0, 160, 128)) == []
    with pytest.raises(ValueError, match="num_frames"):
        synthetic.render_sequence(5, -1)


def test_preview_cli_writes_a_grid(tmp_path: Path) -> None:
    out = tmp_path / "preview.png"
    assert cli_main(["synthetic", "preview", str(out), "--count", "2", "--width", "80", "--height", "64"]) == 0
    grid = read_color(out)
    assert grid.shape == (2 * 64, 3 * 80, 3)
    with pytest.raises(SystemExit):
        cli_main(["synthetic"])


# ---- tabletop scenes (kind="tabletop") ----------------------------------------------------------

TABLETOP_SIZE = (320, 240)


@pytest.fixture(scope="module")
def tabletops() -> list[synthetic.SyntheticSample]:
    return [synthetic.generate_sample(seed, *TABLETOP_SIZE, kind="tabletop") for seed in range(10)]


def sphere_scene(
    sphere_material: Material, wall_color: tuple[float, float, float] = (0.7, 0.7, 0.7)
) -> SyntheticScene:
    """``box_room`` without the cube: a 0.3 m sphere at (2, 2, 1.5), 1 m in front of a camera at
    x = 1, the far wall (x = 6) painted ``wall_color``, a light above and behind the camera."""
    room = box_room(Material("paint", (0.5, 0.5, 0.5)))
    materials = (Material("paint", wall_color), sphere_material)
    return dataclasses.replace(
        room,
        face_materials=(0, 0, 0, 0, 0, 0),
        cuboids=(),
        spheres=(synthetic.Sphere((2.0, 2.0, 1.5), 0.3, 1),),
        materials=materials,
        lights=(synthetic.Light((0.6, 2.3, 1.8), 1.0),),
    )


def test_realsense_camera_and_table_range() -> None:
    intrinsics = synthetic.realsense_intrinsics(640, 480)
    assert intrinsics.fx == pytest.approx(615.0) and (intrinsics.width, intrinsics.height) == (640, 480)
    for seed in range(12):
        orbit = synthetic.random_tabletop(np.random.SeedSequence(seed)).trajectory
        assert isinstance(orbit, synthetic.OrbitPath)
        for time_s in np.linspace(0.0, orbit.period_s, 9):
            pose = orbit.pose(float(time_s))
            to_target = np.asarray(orbit.target) - pose[:3, 3]
            assert 0.4 <= np.linalg.norm(to_target) <= 1.2  # the table point looked at is 0.4-1.2 m away
            assert to_target[2] < 0 and pose[:3, 2] @ to_target > 0.95 * np.linalg.norm(to_target)  # looking down at it


def test_tabletop_samples_are_dense_and_deterministic(tabletops: list[synthetic.SyntheticSample]) -> None:
    width, height = TABLETOP_SIZE
    for sample in tabletops:
        assert sample.rgb.shape == (height, width, 3) and sample.gt.shape == sample.raw.shape == (height, width)
        assert sample.intrinsics == synthetic.realsense_intrinsics(width, height)
        assert np.isfinite(sample.gt).all() and (sample.gt > 0).all()
        centre = sample.gt[height // 3 : 2 * height // 3, width // 3 : 2 * width // 3]
        assert 0.25 < np.median(centre) < 1.25  # the table fills the middle of the view
        assert sample.rgb.std() > 10
    again = synthetic.generate_sample(3, *TABLETOP_SIZE, kind="tabletop")
    for name in ("rgb", "gt", "raw", "transparent", "dark", "specular", "pose"):
        np.testing.assert_array_equal(getattr(again, name), getattr(tabletops[3], name))
    room = synthetic.generate_sample(3, *TABLETOP_SIZE, kind="room")
    assert not np.array_equal(room.gt, tabletops[3].gt)
    with pytest.raises(ValueError, match="unknown scene kind 'kitchen'"):
        synthetic.generate_sample(3, kind="kitchen")


def test_tabletop_holes_are_where_the_materials_say(tabletops: list[synthetic.SyntheticSample]) -> None:
    """Pooled over ten tabletops: glass is mostly missing or measured behind itself, dark objects
    are mostly missing, shiny objects lose more than plain surfaces, plain surfaces keep most depth."""
    counts = {"transparent": [0, 0], "dark": [0, 0], "specular": [0, 0], "plain": [0, 0]}
    behind, measured_glass = 0, 0
    for sample in tabletops:
        missing = sample.raw == 0
        plain = ~(sample.transparent | sample.dark | sample.specular)
        for name, mask in (("transparent", sample.transparent), ("dark", sample.dark),
                           ("specular", sample.specular & ~sample.transparent), ("plain", plain)):
            counts[name][0] += int(missing[mask].sum())
            counts[name][1] += int(mask.sum())
        glass_seen = sample.transparent & ~missing
        measured_glass += int(glass_seen.sum())
        behind += int((sample.raw[glass_seen] > sample.gt[glass_seen] + 0.005).sum())
    rates = {name: lost / total for name, (lost, total) in counts.items()}
    assert all(total > 200 for _, total in counts.values()), counts
    assert rates["transparent"] > 0.5 and behind / measured_glass > 0.8
    assert rates["dark"] > 0.7
    assert rates["specular"] > 1.2 * rates["plain"]
    assert rates["plain"] < 0.25


def test_highlights_blind_a_realsense_like_sensor() -> None:
    """A polished sphere loses depth exactly where the lamp's highlight is, and only there."""
    pose = looking_along_x((1.0, 2.0, 1.5))
    scene = sphere_scene(Material("metal", (0.5, 0.5, 0.5), specular=1.5))
    blinded = dataclasses.replace(perfect_sensor(), highlight_dropout=(0.2, 0.5))
    sample = scene.render(pose, INTRINSICS, np.random.default_rng(0), blinded)
    on_sphere = sample.gt < 2.0
    lost = on_sphere & (sample.raw == 0)
    assert 0 < lost.sum() < 0.5 * on_sphere.sum()
    brightness = sample.rgb.astype(np.float32).mean(axis=2)
    assert brightness[lost].mean() > brightness[on_sphere & ~lost].mean() + 40  # the holes are the highlight
    assert (sample.raw[~on_sphere] > 0).all()
    plain = scene.render(pose, INTRINSICS, np.random.default_rng(0), perfect_sensor())
    assert (plain.raw > 0).all()


def test_glass_shows_what_is_behind_it_in_colour() -> None:
    """A glass sphere in front of a red wall looks red, as the wall beside it does; an opaque grey
    sphere does not."""
    pose = looking_along_x((1.0, 2.0, 1.5))
    glass = Material("metal", (0.8, 0.82, 0.85), specular=1.2, transparent=True)
    for material, red_inside in ((glass, True), (Material("paint", (0.6, 0.6, 0.6)), False)):
        sample = sphere_scene(material, wall_color=(0.8, 0.1, 0.1)).render(
            pose, INTRINSICS, np.random.default_rng(0), perfect_sensor()
        )
        row, col = round(INTRINSICS.cy), round(INTRINSICS.cx)
        centre = sample.rgb[row - 5 : row + 5, col - 5 : col + 5]
        red, green = centre[..., 0].astype(int).mean(), centre[..., 1].astype(int).mean()
        assert (red > green + 60) == red_inside
        assert sample.transparent.any() == red_inside


def test_left_band_of_a_stereo_camera() -> None:
    """Registered to its left imager, a stereo camera loses the fx * baseline / z leftmost columns."""
    scene = box_room(Material("paint", (0.5, 0.3, 0.2)))
    sensor = dataclasses.replace(perfect_sensor(), left_band_baseline_m=0.05)
    sample = scene.render(looking_along_x((1.0, 2.0, 1.5)), INTRINSICS, np.random.default_rng(0), sensor)
    band = INTRINSICS.fx * 0.05 / sample.gt  # the far wall is 5 m away at every row
    columns = np.arange(INTRINSICS.width)[None, :]
    np.testing.assert_array_equal(sample.raw == 0, columns < band)
    assert (sample.raw[:, 0] == 0).all() and (sample.raw[:, 5:] > 0).all()


def test_tabletop_preview_cli(tmp_path: Path) -> None:
    out = tmp_path / "tabletop.png"
    argv = ["synthetic", "preview", str(out), "--kind", "tabletop", "--count", "1", "--width", "80", "--height", "60"]
    assert cli_main(argv) == 0
    assert read_color(out).shape == (60, 3 * 80, 3)
