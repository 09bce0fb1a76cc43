"""The public entry points: single random frames, camera sequences through one scene, previews.

Same seed, same arrays: each call spawns independent random streams for the scene, the camera
pose and the sensor from ``numpy.random.SeedSequence(seed)``, so item *i* of a dataset is
reproducible on its own and never depends on global random state.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..geometry import CameraIntrinsics
from ..visualization import colorize_depth
from .rooms import random_room
from .scene import SyntheticSample
from .sensor import SensorModel, default_intrinsics


def _resolve_intrinsics(width: int, height: int, intrinsics: CameraIntrinsics | None) -> CameraIntrinsics:
    """``intrinsics`` checked against the requested size, or the default camera for that size."""
    if intrinsics is None:
        if width < 8 or height < 8:
            raise ValueError(f"image size must be at least 8x8, got {width}x{height}")
        return default_intrinsics(width, height)
    if (intrinsics.width, intrinsics.height) != (width, height):
        raise ValueError(
            f"intrinsics are for {intrinsics.width}x{intrinsics.height} but {width}x{height} was requested"
        )
    return intrinsics


def generate_sample(
    seed: int,
    width: int = 320,
    height: int = 256,
    intrinsics: CameraIntrinsics | None = None,
    sensor: SensorModel | None = None,
) -> SyntheticSample:
    """One frame of a random scene from a random point of its trajectory; same seed, same arrays."""
    intrinsics = _resolve_intrinsics(width, height, intrinsics)
    scene_seed, pose_seed, sensor_seed = np.random.SeedSequence(seed).spawn(3)
    scene = random_room(scene_seed)
    period = 2 * np.pi / abs(scene.trajectory.angular_speed)
    time_s = float(np.random.default_rng(pose_seed).uniform(0.0, period))
    return scene.render(scene.trajectory.pose(time_s), intrinsics, np.random.default_rng(sensor_seed), sensor)


def render_sequence(
    seed: int,
    num_frames: int,
    width: int = 320,
    height: int = 256,
    intrinsics: CameraIntrinsics | None = None,
    fps: float = 30.0,
    sensor: SensorModel | None = None,
) -> Iterator[SyntheticSample]:
    """Frames of a camera moving smoothly through one scene at ``fps`` (for streaming demos),
    rendered one at a time as the iterator is consumed; arguments are checked at the call."""
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    intrinsics = _resolve_intrinsics(width, height, intrinsics)
    scene_seed, _, sensor_seed = np.random.SeedSequence(seed).spawn(3)
    scene = random_room(scene_seed)
    rng = np.random.default_rng(sensor_seed)
    return (scene.render(scene.trajectory.pose(index / fps), intrinsics, rng, sensor) for index in range(num_frames))


def preview_grid(samples: Sequence[SyntheticSample], vmax: float = 8.0) -> np.ndarray:
    """Rows of RGB | raw | ground truth, depth on one fixed colour scale (holes black)."""
    if not samples:
        raise ValueError("preview_grid needs at least one sample")
    rows = [np.hstack([s.rgb, colorize_depth(s.raw, 0.0, vmax), colorize_depth(s.gt, 0.0, vmax)]) for s in samples]
    return np.vstack(rows)
