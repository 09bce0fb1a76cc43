"""The public entry points: single random frames, camera sequences through one scene, previews.

Two kinds of scene (:data:`SCENE_KINDS`): ``room`` and ``tabletop``.

Same seed, same arrays: each call spawns independent random streams for the scene, the camera
pose and the sensor from ``numpy.random.SeedSequence(seed)``, so item *i* of a dataset is
reproducible on its own and never depends on global random state.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ..geometry import CameraIntrinsics
from ..visualization import colorize_depth
from .rooms import random_room
from .scene import SyntheticSample, SyntheticScene
from .sensor import SensorModel, default_intrinsics
from .tabletop import REALSENSE_SENSOR, random_tabletop, realsense_intrinsics


@dataclass(frozen=True)
class SceneKind:
    """One kind of scene: how to draw it from a seed, and its default camera and sensor."""

    build: Callable[[np.random.SeedSequence], SyntheticScene]
    camera: Callable[[int, int], CameraIntrinsics]
    sensor: SensorModel


#: The scene kinds :func:`generate_sample` and :func:`render_sequence` can draw: furnished rooms
#: seen by a Kinect-like camera walking through them, and tabletops 0.4-1.2 m in front of a
#: RealSense-like camera (:mod:`.tabletop`).
SCENE_KINDS: Mapping[str, SceneKind] = MappingProxyType(
    {
        "room": SceneKind(random_room, default_intrinsics, SensorModel()),
        "tabletop": SceneKind(random_tabletop, realsense_intrinsics, REALSENSE_SENSOR),
    }
)


def _scene_kind(kind: str) -> SceneKind:
    if kind not in SCENE_KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; expected one of {list(SCENE_KINDS)}")
    return SCENE_KINDS[kind]


def _resolve_intrinsics(
    width: int, height: int, intrinsics: CameraIntrinsics | None, kind: SceneKind
) -> CameraIntrinsics:
    """``intrinsics`` checked against the requested size, or the kind's camera at that size."""
    if intrinsics is None:
        if width < 8 or height < 8:
            raise ValueError(f"image size must be at least 8x8, got {width}x{height}")
        return kind.camera(width, height)
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
    *,
    kind: str = "room",
) -> SyntheticSample:
    """One frame of a random scene of ``kind`` (see :data:`SCENE_KINDS`) from a random point of
    its camera path; same seed and kind, same arrays. ``intrinsics`` and ``sensor`` default to
    the kind's camera (at ``width`` x ``height``) and sensor."""
    scene_kind = _scene_kind(kind)
    intrinsics = _resolve_intrinsics(width, height, intrinsics, scene_kind)
    scene_seed, pose_seed, sensor_seed = np.random.SeedSequence(seed).spawn(3)
    scene = scene_kind.build(scene_seed)
    time_s = float(np.random.default_rng(pose_seed).uniform(0.0, scene.trajectory.period_s))
    rng = np.random.default_rng(sensor_seed)
    return scene.render(scene.trajectory.pose(time_s), intrinsics, rng, sensor or scene_kind.sensor)


def render_sequence(
    seed: int,
    num_frames: int,
    width: int = 320,
    height: int = 256,
    intrinsics: CameraIntrinsics | None = None,
    fps: float = 30.0,
    sensor: SensorModel | None = None,
    *,
    kind: str = "room",
) -> Iterator[SyntheticSample]:
    """Frames of a camera moving smoothly through one scene of ``kind`` at ``fps`` (for streaming
    demos), rendered one at a time as the iterator is consumed; arguments are checked at the call."""
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    scene_kind = _scene_kind(kind)
    intrinsics = _resolve_intrinsics(width, height, intrinsics, scene_kind)
    scene_seed, _, sensor_seed = np.random.SeedSequence(seed).spawn(3)
    scene = scene_kind.build(scene_seed)
    rng = np.random.default_rng(sensor_seed)
    sensor = sensor or scene_kind.sensor
    return (scene.render(scene.trajectory.pose(index / fps), intrinsics, rng, sensor) for index in range(num_frames))


def preview_grid(samples: Sequence[SyntheticSample], vmax: float = 8.0) -> np.ndarray:
    """Rows of RGB | raw | ground truth, depth on one fixed colour scale (holes black)."""
    if not samples:
        raise ValueError("preview_grid needs at least one sample")
    rows = [np.hstack([s.rgb, colorize_depth(s.raw, 0.0, vmax), colorize_depth(s.gt, 0.0, vmax)]) for s in samples]
    return np.vstack(rows)
