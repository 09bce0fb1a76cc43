"""Procedural indoor RGB-D frames: colour, dense ground truth and realistic raw depth, no download.

Training needs unlimited frames with perfect ground truth, tests need known answers (a glass
pane must come out as a hole), and the README's streaming demo needs a camera moving through
a room at 30 Hz. Each scene is a room (floor, ceiling, walls with windows and doors) furnished
with analytic primitives (boxes, vertical cylinders, spheres) that carry procedural materials.
Rendering is a vectorised ray cast: every pixel's ray is intersected with every primitive at
once (restricted to the primitive's bounding rectangle on screen), so a 320x256 frame takes a
few tens of milliseconds in numpy.

Depth is z-depth along the optical axis in metres, as depth cameras report: rays are built
with a unit z component in the camera frame, so the ray parameter *is* the z-depth.

The raw depth is the ground truth as a structured-light camera would measure it: transparent
surfaces return nothing or the depth behind them, dark and shiny materials lose large clumps,
grazing surfaces drop out, the projector leaves occlusion shadows beside edges, the range is
limited, noise grows with z squared and values are quantised (see :class:`SensorModel` and
:mod:`depth_completion_ros.holes`).
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from depth_completion_ros.depth_io import write_color
from depth_completion_ros.geometry import CameraIntrinsics
from depth_completion_ros.holes import (
    DEFAULT_FOCAL_PER_WIDTH,
    HoleSimulator,
    coherent_dropout,
    format_hole_statistics,
    hole_statistics,
)

Vec3 = tuple[float, float, float]

_NEAR_M = 0.02
_UP = np.array([0.0, 0.0, 1.0])
_NOISE_TEXELS = 512
_TEXELS_PER_PERIOD = 128.0
_HASH_SIZE = 4096


@dataclass(frozen=True)
class Material:
    """How a surface looks in colour and how a depth sensor fails on it.

    ``period_m`` sets the pattern's spatial period (plank width, tile size, stripe or shelf
    spacing). ``dropout`` is the chance that a pixel of this surface returns no depth (dark or
    shiny materials absorb or deflect the projector's light), applied in clumps.
    ``transparent`` surfaces (glass) are the ground truth but the sensor sees through them.
    ``emissive`` surfaces are not lit (the bright outdoor view through a window).
    """

    pattern: str
    color: Vec3
    accent: Vec3 = (0.0, 0.0, 0.0)
    period_m: float = 0.2
    specular: float = 0.0
    dropout: float = 0.0
    transparent: bool = False
    emissive: bool = False

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"unknown material pattern {self.pattern!r}; choose from {PATTERNS}")
        if not 0.0 <= self.dropout <= 1.0:
            raise ValueError(f"material dropout must lie in [0, 1], got {self.dropout}")
        if not self.period_m > 0:
            raise ValueError(f"material period_m must be positive, got {self.period_m}")


@dataclass(frozen=True)
class Box:
    """A box with half extents ``half`` in its own frame, rotated by ``yaw`` about the vertical."""

    center: Vec3
    half: Vec3
    yaw: float
    material: int


@dataclass(frozen=True)
class Cylinder:
    """A vertical cylinder from ``z0`` to ``z1`` (mugs, pots, lamp poles)."""

    center_xy: tuple[float, float]
    z0: float
    z1: float
    radius: float
    material: int


@dataclass(frozen=True)
class Sphere:
    center: Vec3
    radius: float
    material: int


@dataclass(frozen=True)
class Decal:
    """A rectangle on a room face drawn with another material (window, frame, door).

    ``u`` runs along the face and ``v`` upwards on walls (see :func:`_room_uv`); later decals
    cover earlier ones. A transparent decal is a window: the room continues outside it.
    """

    face: int
    u_range: tuple[float, float]
    v_range: tuple[float, float]
    material: int


@dataclass(frozen=True)
class Light:
    position: Vec3
    intensity: float


@dataclass(frozen=True)
class Trajectory:
    """A smooth closed camera path: an ellipse in the free floor area, looking inwards with slow
    sweeps of yaw, pitch, roll and height, so consecutive 30 Hz frames move about a centimetre.

    ``angular_speed`` (rad/s) runs the camera around the ellipse; ``yaw_sweep``, ``roll`` and
    ``bob`` (height) are sinusoids (amplitude, frequency in Hz, phase); ``pitch`` is (mean,
    amplitude, frequency, phase). Angles in radians, lengths in metres.
    """

    center_xy: tuple[float, float]
    radii: tuple[float, float]
    height_m: float
    start_angle: float
    angular_speed: float
    yaw_sweep: tuple[float, float, float]
    pitch: tuple[float, float, float, float]
    roll: tuple[float, float, float]
    bob: tuple[float, float, float]

    def path_xy(self, samples: int = 96) -> np.ndarray:
        """Points along the whole loop (for keeping furniture off the camera's way)."""
        angles = np.linspace(0.0, 2.0 * np.pi, samples, endpoint=False)
        return np.stack(
            [self.center_xy[0] + self.radii[0] * np.cos(angles), self.center_xy[1] + self.radii[1] * np.sin(angles)], 1
        )

    def pose(self, time_s: float) -> np.ndarray:
        """4x4 camera-to-world pose (camera x right, y down, z forward; world z up)."""
        angle = self.start_angle + self.angular_speed * time_s
        amplitude, frequency, phase = self.yaw_sweep
        yaw = angle + np.pi + amplitude * math.sin(2 * np.pi * frequency * time_s + phase)
        mean, amplitude, frequency, phase = self.pitch
        pitch = mean + amplitude * math.sin(2 * np.pi * frequency * time_s + phase)
        amplitude, frequency, phase = self.roll
        roll = amplitude * math.sin(2 * np.pi * frequency * time_s + phase)
        amplitude, frequency, phase = self.bob
        position = np.array(
            [
                self.center_xy[0] + self.radii[0] * math.cos(angle),
                self.center_xy[1] + self.radii[1] * math.sin(angle),
                self.height_m + amplitude * math.sin(2 * np.pi * frequency * time_s + phase),
            ]
        )
        forward = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)])
        right = np.cross(forward, _UP)
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        right, down = math.cos(roll) * right + math.sin(roll) * down, math.cos(roll) * down - math.sin(roll) * right
        pose = np.eye(4)
        pose[:3, :3] = np.stack([right, down, forward], axis=1)
        pose[:3, 3] = position
        return pose


#: Holes of the synthetic sensor beyond those its materials cause: always projector shadows;
#: fewer random blobs and speckles than :data:`holes.PRESETS` ``"sensor"``, and no colour-driven
#: dropouts, because here the materials say which surfaces are dark or shiny (the preset guesses
#: that from the colour image of real frames, which carry no material labels).
SENSOR_HOLES = HoleSimulator(
    blob_probability=0.15,
    polygon_probability=0.05,
    appearance_probability=0.0,
    shadow_probability=1.0,
    max_range_m=(5.0, 9.0),
    speckle_density=(0.0005, 0.004),
)


@dataclass(frozen=True)
class SensorModel:
    """How the raw depth departs from the ground truth (defaults: an indoor structured-light camera).

    ``noise_sigma_m`` = (a, b): axial noise ``sigma(z) = a + b (z - 0.4)^2`` metres, the Kinect
    model of Nguyen et al. (2012). ``grazing_cos`` = (low, high): surfaces seen at an incidence
    cosine below ``low`` always drop out, above ``high`` never. ``see_through`` is the share of
    transparent-surface pixels that return the depth behind the glass instead of nothing.
    ``dropout_scale`` is the clump size of material dropouts (fraction of the shorter side).
    """

    holes: HoleSimulator = SENSOR_HOLES
    noise_sigma_m: tuple[float, float] = (0.0012, 0.0019)
    quantisation_m: float = 0.001
    grazing_cos: tuple[float, float] = (0.12, 0.3)
    see_through: float = 0.3
    dropout_scale: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.see_through <= 1.0:
            raise ValueError(f"see_through must lie in [0, 1], got {self.see_through}")
        if not 0.0 <= self.grazing_cos[0] < self.grazing_cos[1] <= 1.0:
            raise ValueError(f"grazing_cos must be (low, high) with 0 <= low < high <= 1, got {self.grazing_cos}")
        if min(self.noise_sigma_m) < 0 or self.quantisation_m < 0 or not self.dropout_scale > 0:
            raise ValueError("noise_sigma_m and quantisation_m must be >= 0 and dropout_scale > 0")

    def noise_sigma(self, depth: np.ndarray) -> np.ndarray:
        """Standard deviation (m) of the axial noise at each depth."""
        base, quadratic = self.noise_sigma_m
        return np.float32(base) + np.float32(quadratic) * np.square(depth - np.float32(0.4))


@dataclass(frozen=True)
class SyntheticSample:
    """One rendered frame. ``gt`` is dense z-depth (m); ``raw`` is what the sensor reports
    (0 = invalid); ``transparent`` marks glass in the ground truth; ``pose`` is camera-to-world."""

    rgb: np.ndarray
    gt: np.ndarray
    raw: np.ndarray
    intrinsics: CameraIntrinsics
    transparent: np.ndarray
    pose: np.ndarray


def default_intrinsics(width: int, height: int) -> CameraIntrinsics:
    """A Kinect-like pinhole camera (about 58 degrees horizontal field of view) for any size."""
    focal = DEFAULT_FOCAL_PER_WIDTH * width
    return CameraIntrinsics(fx=focal, fy=focal, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0, width=width, height=height)


@functools.lru_cache(maxsize=8)
def _camera_rays(intrinsics: CameraIntrinsics) -> np.ndarray:
    """Per-pixel ray directions (3, H, W) in the camera frame with z = 1 (read-only, cached)."""
    u = (np.arange(intrinsics.width, dtype=np.float32) - np.float32(intrinsics.cx)) / np.float32(intrinsics.fx)
    v = (np.arange(intrinsics.height, dtype=np.float32) - np.float32(intrinsics.cy)) / np.float32(intrinsics.fy)
    rays = np.empty((3, intrinsics.height, intrinsics.width), np.float32)
    rays[0] = u[None, :]
    rays[1] = v[:, None]
    rays[2] = 1.0
    rays.flags.writeable = False
    return rays


def _yaw_matrix(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _room_uv(face: int, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Surface coordinates on a room face from points (3, ...): along the wall and up for walls,
    x and y for the floor and ceiling."""
    axis = face // 2
    if axis == 0:
        return points[1], points[2]
    if axis == 1:
        return points[0], points[2]
    return points[0], points[1]


class _Frame:
    """Per-pixel buffers of one render. Vectors are stored channel-first, (3, H, W), so dot
    products and norms are sums of whole planes instead of slow reductions over a size-3 axis."""

    def __init__(self, pose: np.ndarray, intrinsics: CameraIntrinsics) -> None:
        self.intrinsics = intrinsics
        self.rotation = pose[:3, :3]
        self.origin = pose[:3, 3].astype(np.float32)
        rays = _camera_rays(intrinsics)
        # einsum, not matmul: BLAS threads stall this small product on a busy machine.
        self.directions = np.einsum("ij,jhw->ihw", self.rotation.astype(np.float32), rays)
        shape = self.directions.shape[1:]
        self.depth = np.full(shape, np.inf, np.float32)
        self.opaque_depth = np.full(shape, np.inf, np.float32)
        self.primitive = np.zeros(shape, np.int32)
        self.rects: dict[int, tuple[slice, slice]] = {}


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _norm(a: np.ndarray) -> np.ndarray:
    return np.sqrt(_dot(a, a))


def _planes(vector: Sequence[float]) -> np.ndarray:
    """A 3-vector shaped to broadcast against (3, H, W) planes."""
    return np.asarray(vector, np.float32).reshape(3, 1, 1)


@functools.lru_cache(maxsize=1)
def _noise_texture() -> np.ndarray:
    """Two channels of unit-variance, tileable noise shared by all scenes (per-primitive texture
    offsets already make surfaces differ): 1/f detail, and smooth blotches with features about
    16x larger. One remap of both channels costs less than two remaps."""
    rng = np.random.default_rng(20240929)
    fy = np.fft.fftfreq(_NOISE_TEXELS)[:, None]
    fx = np.fft.rfftfreq(_NOISE_TEXELS)[None, :]
    frequency = np.hypot(fx, fy) * _NOISE_TEXELS
    channels = []
    for spectrum_filter in (1.0 / (frequency + 2.0), np.exp(-np.square(frequency / 16.0))):
        spectrum = np.fft.rfft2(rng.standard_normal((_NOISE_TEXELS, _NOISE_TEXELS))) * spectrum_filter
        noise = np.fft.irfft2(spectrum, s=(_NOISE_TEXELS, _NOISE_TEXELS))
        channels.append((noise - noise.mean()) / noise.std())
    texture = np.stack(channels, axis=-1).astype(np.float32)
    texture.flags.writeable = False
    return texture


class _SceneTables:
    """Per-material and per-primitive lookup arrays of a scene, so per-pixel properties are one
    fancy-indexing step (``table[material_map]``) instead of a loop over surfaces."""

    def __init__(self, scene: SyntheticScene) -> None:
        materials = scene.materials
        self.period = np.array([m.period_m for m in materials], np.float32)
        self.specular = np.array([m.specular for m in materials], np.float32)
        self.dropout = np.array([m.dropout for m in materials], np.float32)
        self.transparent = np.array([m.transparent for m in materials], bool)
        self.emissive = np.array([m.emissive for m in materials], bool)
        shapes = scene.primitives
        self.material_of = np.array([*scene.face_materials, *(p.material for p in shapes)], np.int32)
        rng = np.random.default_rng(scene.texture_seed)
        self.hash = rng.random(_HASH_SIZE, dtype=np.float32)
        # Texture phase (along the surface only, so vertical patterns keep their meaning) and
        # brightness per primitive: neighbouring boxes of one material do not look identical.
        count = 6 + len(shapes)
        self.u_offset = rng.uniform(0.0, 20.0, count).astype(np.float32)
        self.tint = rng.uniform(0.9, 1.1, (count, 1)).astype(np.float32)


@dataclass(frozen=True)
class SyntheticScene:
    """A furnished room, its lights and a camera trajectory through its free space.

    The room spans ``[0, size]`` on each world axis (z up). Room faces have ids 0-5: x = 0,
    x = size_x, y = 0, y = size_y, floor, ceiling; ``face_materials`` gives their materials and
    primitives and decals refer to materials by index into ``materials``.
    ``outside_distance_m`` is how far beyond a window wall the sensor meets something.
    """

    size: Vec3
    face_materials: tuple[int, ...]
    decals: tuple[Decal, ...]
    boxes: tuple[Box, ...]
    cylinders: tuple[Cylinder, ...]
    spheres: tuple[Sphere, ...]
    materials: tuple[Material, ...]
    lights: tuple[Light, ...]
    ambient: float
    outside_distance_m: float
    trajectory: Trajectory
    texture_seed: int

    @classmethod
    def random(cls, seed: int | np.random.SeedSequence) -> SyntheticScene:
        """A random furnished room, deterministic given ``seed``."""
        return _SceneBuilder(np.random.default_rng(seed)).build()

    @functools.cached_property
    def primitives(self) -> tuple[Box | Cylinder | Sphere, ...]:
        """All primitives; primitive ``i`` has id ``6 + i`` in the id map (0-5 are the room faces)."""
        return (*self.boxes, *self.cylinders, *self.spheres)

    @functools.cached_property
    def _corners(self) -> tuple[np.ndarray, ...]:
        """World-space corners of each primitive's bounding box (for screen-space culling)."""
        signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)
        corners = []
        for primitive in self.primitives:
            if isinstance(primitive, Box):
                corners.append((signs * primitive.half) @ _yaw_matrix(primitive.yaw).T + primitive.center)
            elif isinstance(primitive, Cylinder):
                middle = (*primitive.center_xy, (primitive.z0 + primitive.z1) / 2)
                corners.append(signs * (primitive.radius, primitive.radius, (primitive.z1 - primitive.z0) / 2) + middle)
            else:
                corners.append(signs * primitive.radius + primitive.center)
        return tuple(corners)

    @functools.cached_property
    def _decal_corners(self) -> tuple[np.ndarray, ...]:
        """World-space corners of each decal rectangle (for screen-space culling)."""
        corners = []
        for decal in self.decals:
            axis = decal.face // 2
            plane = self.size[axis] if decal.face % 2 else 0.0
            in_plane = {0: (1, 2), 1: (0, 2), 2: (0, 1)}[axis]
            rectangle = np.zeros((4, 3))
            rectangle[:, axis] = plane
            rectangle[:, in_plane[0]] = np.repeat(decal.u_range, 2)
            rectangle[:, in_plane[1]] = np.tile(decal.v_range, 2)
            corners.append(rectangle)
        return tuple(corners)

    @functools.cached_property
    def _lookup(self) -> _SceneTables:
        return _SceneTables(self)

    def render(
        self,
        pose: np.ndarray,
        intrinsics: CameraIntrinsics,
        rng: np.random.Generator,
        sensor: SensorModel | None = None,
    ) -> SyntheticSample:
        """Render colour, ground truth and raw depth from camera-to-world ``pose`` (4x4);
        ``rng`` draws the sensor's holes and noise."""
        sensor = sensor or SensorModel()
        pose = np.asarray(pose, np.float64)
        if pose.shape != (4, 4):
            raise ValueError(f"pose must be a 4x4 camera-to-world matrix, got shape {pose.shape}")
        frame = _Frame(pose, intrinsics)
        self._trace(frame)
        points = _planes(frame.origin) + frame.depth * frame.directions
        material, normal, u, v = self._surfaces(frame, points)
        rgb = self._shade(frame, points, material, normal, u, v, self._occlusion(frame, points))
        transparent = self._lookup.transparent[material]
        raw = self._sense(frame, material, normal, transparent, rgb, rng, sensor)
        return SyntheticSample(
            rgb=rgb, gt=frame.depth, raw=raw, intrinsics=intrinsics, transparent=transparent, pose=pose
        )

    @staticmethod
    def _screen_rect(corners: np.ndarray, frame: _Frame) -> tuple[slice, slice] | None:
        """Pixel rectangle that can see an object with these world-space corners (None: not visible)."""
        intrinsics = frame.intrinsics
        camera = (corners - frame.origin) @ frame.rotation
        front = camera[:, 2] > _NEAR_M
        if not front.any():
            return None
        if not front.all():
            # Only the part in front of the near plane can be seen: it lies within the hull of
            # the front corners and the points where front-to-behind segments cross the plane.
            ahead, behind = camera[front][:, None, :], camera[~front][None, :, :]
            fraction = (_NEAR_M - ahead[..., 2]) / (behind[..., 2] - ahead[..., 2])
            crossings = ahead + fraction[..., None] * (behind - ahead)
            camera = np.concatenate([camera[front], crossings.reshape(-1, 3)])
        z = camera[:, 2]
        u = intrinsics.fx * camera[:, 0] / z + intrinsics.cx
        v = intrinsics.fy * camera[:, 1] / z + intrinsics.cy
        c0, c1 = max(0, math.floor(u.min()) - 1), min(intrinsics.width, math.ceil(u.max()) + 2)
        r0, r1 = max(0, math.floor(v.min()) - 1), min(intrinsics.height, math.ceil(v.max()) + 2)
        if c0 >= c1 or r0 >= r1:
            return None
        return slice(r0, r1), slice(c0, c1)

    def _trace(self, frame: _Frame) -> None:
        """Z-buffer every surface; glass updates only the ground truth, not ``opaque_depth``."""
        directions, origin = frame.directions, frame.origin
        with np.errstate(divide="ignore", invalid="ignore"):
            for axis in range(3):
                component = directions[axis]
                exit_t = np.where(component > 0, np.float32(self.size[axis]) - origin[axis], -origin[axis]) / component
                exit_t[~(exit_t > 0)] = np.inf  # rays parallel to this pair of walls
                nearer = exit_t < frame.depth
                frame.depth[nearer] = exit_t[nearer]
                frame.primitive[nearer] = 2 * axis + (component[nearer] > 0)
        np.copyto(frame.opaque_depth, frame.depth)
        for decal, corners in zip(self.decals, self._decal_corners, strict=True):
            if not self.materials[decal.material].transparent:
                continue
            region = self._decal_region(decal, corners, frame)
            if region is None:
                continue
            rect, inside = region
            # Outside, the ray meets a facade parallel to the wall (usually beyond range).
            axis, far_side = decal.face // 2, decal.face % 2
            facade = self.size[axis] + self.outside_distance_m if far_side else -self.outside_distance_m
            frame.opaque_depth[rect][inside] = (np.float32(facade) - origin[axis]) / directions[axis][rect][inside]
        transparent = self._lookup.transparent
        for offset, (primitive, corners) in enumerate(zip(self.primitives, self._corners, strict=True)):
            rect = self._screen_rect(corners, frame)
            if rect is None:
                continue
            t = _intersect(primitive, origin, directions[(slice(None), *rect)])
            nearer = t < frame.depth[rect]
            if not nearer.any():
                continue
            frame.depth[rect][nearer] = t[nearer]
            frame.primitive[rect][nearer] = 6 + offset
            frame.rects[6 + offset] = rect
            if not transparent[primitive.material]:
                opaque = frame.opaque_depth[rect]
                np.minimum(opaque, t, out=opaque)

    def _decal_region(
        self, decal: Decal, corners: np.ndarray, frame: _Frame
    ) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Screen rectangle of a decal and, inside it, the pixels that see the decal."""
        rect = self._screen_rect(corners, frame)
        if rect is None:
            return None
        points = _planes(frame.origin) + frame.depth[rect] * frame.directions[(slice(None), *rect)]
        u, v = _room_uv(decal.face, points)
        inside = (
            (frame.primitive[rect] == decal.face)
            & (u >= decal.u_range[0])
            & (u <= decal.u_range[1])
            & (v >= decal.v_range[0])
            & (v <= decal.v_range[1])
        )
        return rect, inside

    def _surfaces(self, frame: _Frame, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Material id, unit normal (3, H, W) facing the camera, and texture coordinates per pixel."""
        primitive = frame.primitive
        material = self._lookup.material_of[primitive]
        # Room faces first (ids 0-5: face axis = id // 2); primitives overwrite their pixels.
        axis = primitive >> 1
        normal = np.stack([axis == 0, axis == 1, axis == 2]).astype(np.float32)
        u = np.where(axis == 0, points[1], points[0])
        v = np.where(axis == 2, points[1], points[2])
        for decal, corners in zip(self.decals, self._decal_corners, strict=True):
            region = self._decal_region(decal, corners, frame)
            if region is not None:
                rect, inside = region
                material[rect][inside] = decal.material
        for index, (r, c) in frame.rects.items():
            rows, cols = np.nonzero(primitive[r, c] == index)
            rows += r.start
            cols += c.start
            shape_object = self.primitives[index - 6]
            material[rows, cols] = shape_object.material
            normal[:, rows, cols], u[rows, cols], v[rows, cols] = _surface(shape_object, points[:, rows, cols])
        normal *= np.where(_dot(normal, frame.directions) > 0, np.float32(-1.0), np.float32(1.0))
        return material, normal, u + self._lookup.u_offset[primitive], v

    def _shade(
        self,
        frame: _Frame,
        points: np.ndarray,
        material: np.ndarray,
        normal: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        occlusion: np.ndarray,
    ) -> np.ndarray:
        """Textured albedo lit by point lights (Lambert, Blinn-Phong highlights on shiny materials)
        and ambient light with occlusion; uint8 RGB after a slight lens blur and display gamma."""
        lookup = self._lookup
        texels = np.float32(_TEXELS_PER_PERIOD) / lookup.period[material]
        noise = cv2.remap(_noise_texture(), u * texels, v * texels, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        albedo = np.empty((material.size, 3), np.float32)
        flat = material.ravel()
        u, v, fine, coarse = u.ravel(), v.ravel(), noise[..., 0].ravel(), noise[..., 1].ravel()
        for index in np.flatnonzero(np.bincount(flat, minlength=len(self.materials))):
            pixels = np.flatnonzero(flat == index)
            texels = _Texels(u[pixels], v[pixels], fine[pixels], coarse[pixels], lookup.hash)
            albedo[pixels] = _texture(self.materials[index], texels)
        albedo = albedo.reshape(*material.shape, 3) * lookup.tint[frame.primitive]

        light = np.float32(self.ambient) * occlusion
        diffuse_shadow = np.float32(0.5) + np.float32(0.5) * occlusion
        specular = lookup.specular[flat]
        shiny = np.flatnonzero(specular)
        highlight = np.zeros(flat.size, np.float32)
        shiny_normal = normal.reshape(3, -1)[:, shiny]
        shiny_points = points.reshape(3, -1)[:, shiny]
        view = -frame.directions.reshape(3, -1)[:, shiny]
        view /= _norm(view)
        for lamp in self.lights:
            to_light = _planes(lamp.position) - points
            distance = _norm(to_light)
            attenuation = np.float32(lamp.intensity) / (np.float32(1.0) + np.square(distance * np.float32(1 / 2.5)))
            light += np.maximum(_dot(normal, to_light) / distance, np.float32(0.0)) * attenuation * diffuse_shadow
            halfway = np.asarray(lamp.position, np.float32)[:, None] - shiny_points
            halfway /= _norm(halfway)
            halfway += view
            sharp = np.clip(_dot(shiny_normal, halfway) / (_norm(halfway) + np.float32(1e-6)), 0.0, 1.0)
            for _ in range(5):  # cosine ** 32, the Blinn-Phong lobe, by squaring (power() is slow)
                sharp *= sharp
            highlight[shiny] += specular[shiny] * attenuation.ravel()[shiny] * sharp
        color = albedo * light[..., None]
        color += highlight.reshape(material.shape)[..., None]
        emissive = lookup.emissive[material]
        color[emissive] = albedo[emissive]
        cv2.GaussianBlur(color, (3, 3), 0.6, dst=color)
        # Display gamma 2 (square root): close to sRGB, far cheaper than a power or a lookup table.
        np.sqrt(np.maximum(color, np.float32(0.0), out=color), out=color)
        return cv2.convertScaleAbs(color, alpha=255.0)

    def _occlusion(self, frame: _Frame, points: np.ndarray) -> np.ndarray:
        """Cheap stand-ins for global illumination: darker room corners, and soft shadows on the
        surfaces under each piece of furniture (its footprint seen from above, softer with height)."""
        occlusion = np.ones(points.shape[1:], np.float32)
        for axis in range(3):
            gap = np.minimum(points[axis], np.float32(self.size[axis]) - points[axis])
            occlusion *= np.float32(1.0) - np.float32(0.25) * np.exp(gap * np.float32(-1 / 0.25))
        reach = 0.35
        corners_2d = np.array([[x, y] for x in (-1, 1) for y in (-1, 1)], np.float64)
        for box in self.boxes:
            if min(box.half[:2]) < 0.05:  # legs, slats and boards cast negligible shadows
                continue
            bottom = box.center[2] - box.half[2]
            rotation_2d = _yaw_matrix(box.yaw)[:2, :2]
            footprint = (corners_2d * (np.asarray(box.half[:2]) + reach)) @ rotation_2d.T + box.center[:2]
            corners = np.array([[x, y, z] for x, y in footprint for z in (0.0, bottom + 0.02)])
            rect = self._screen_rect(corners, frame)
            if rect is None:
                continue
            x = points[0][rect] - np.float32(box.center[0])
            y = points[1][rect] - np.float32(box.center[1])
            cos, sin = np.float32(rotation_2d[0, 0]), np.float32(rotation_2d[1, 0])
            out_x = np.maximum(np.abs(cos * x + sin * y) - np.float32(box.half[0]), np.float32(0.0))
            out_y = np.maximum(np.abs(cos * y - sin * x) - np.float32(box.half[1]), np.float32(0.0))
            below = np.maximum(np.float32(bottom + 0.02) - points[2][rect], np.float32(0.0))
            softness = np.float32(0.06) + np.float32(0.25) * below
            strength = np.float32(0.55) - np.float32(0.25) * np.minimum(below, np.float32(1.0))
            shadow = np.where(
                below > 0, np.exp(-np.sqrt(out_x * out_x + out_y * out_y) / softness) * strength, np.float32(0.0)
            )
            occlusion[rect] *= np.float32(1.0) - shadow
        return occlusion

    def _sense(
        self,
        frame: _Frame,
        material: np.ndarray,
        normal: np.ndarray,
        transparent: np.ndarray,
        rgb: np.ndarray,
        rng: np.random.Generator,
        sensor: SensorModel,
    ) -> np.ndarray:
        """What the depth camera reports for this frame (0 = no measurement)."""
        shape = frame.depth.shape
        clump = sensor.dropout_scale * min(shape)
        if transparent.any():
            sees_through = transparent & coherent_dropout(sensor.see_through, shape, rng, clump)
            measured = np.where(sees_through, frame.opaque_depth, frame.depth)
            measured[~np.isfinite(measured)] = 0.0
        else:
            sees_through, measured = transparent, frame.depth.copy()
        drop = sensor.holes(measured, rgb, rng=rng, fx=frame.intrinsics.fx)
        drop |= transparent & ~sees_through
        incidence = np.abs(_dot(normal, frame.directions)) / _norm(frame.directions)
        low, high = sensor.grazing_cos
        grazing = np.clip((np.float32(high) - incidence) / np.float32(high - low), 0.0, 1.0)
        probability = np.maximum(self._lookup.dropout[material] * ~transparent, grazing)
        drop |= coherent_dropout(probability, shape, rng, clump)
        noisy = measured + sensor.noise_sigma(measured) * rng.standard_normal(shape, dtype=np.float32)
        if sensor.quantisation_m > 0:
            noisy = np.rint(noisy / np.float32(sensor.quantisation_m)) * np.float32(sensor.quantisation_m)
        noisy[drop | (measured <= 0) | (noisy <= 0)] = 0.0
        return noisy.astype(np.float32, copy=False)


def _intersect(primitive: Box | Cylinder | Sphere, origin: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Ray parameter (= z-depth) of the first hit in front of the camera, inf where missed.
    ``directions`` is (3, h, w); the result is (h, w)."""
    dx, dy, dz = directions
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if isinstance(primitive, Box):
            cos, sin = np.float32(math.cos(primitive.yaw)), np.float32(math.sin(primitive.yaw))
            ox, oy, oz = origin - np.asarray(primitive.center, np.float32)
            local_origin = (cos * ox + sin * oy, cos * oy - sin * ox, oz)
            local = (cos * dx + sin * dy, cos * dy - sin * dx, dz)
            near = np.full(dx.shape, -np.inf, np.float32)
            far = np.full(dx.shape, np.inf, np.float32)
            for component, start, half in zip(local, local_origin, primitive.half, strict=True):
                inverse = np.float32(1.0) / component
                first = (np.float32(-half) - start) * inverse
                second = (np.float32(half) - start) * inverse
                near = np.maximum(near, np.minimum(first, second))
                far = np.minimum(far, np.maximum(first, second))
            return np.where((near <= far) & (near > _NEAR_M), near, np.float32(np.inf))
        if isinstance(primitive, Cylinder):
            ox = origin[0] - np.float32(primitive.center_xy[0])
            oy = origin[1] - np.float32(primitive.center_xy[1])
            radius_sq = np.float32(primitive.radius**2)
            a = dx * dx + dy * dy
            b = ox * dx + oy * dy
            discriminant = b * b - a * (ox * ox + oy * oy - radius_sq)
            t = (-b - np.sqrt(discriminant)) / a
            z = origin[2] + t * dz
            hit = np.where(
                (discriminant >= 0) & (t > _NEAR_M) & (z >= primitive.z0) & (z <= primitive.z1), t, np.float32(np.inf)
            )
            cap = primitive.z1 if origin[2] > primitive.z1 else primitive.z0 if origin[2] < primitive.z0 else None
            if cap is not None:
                t_cap = (np.float32(cap) - origin[2]) / dz
                inside = np.square(ox + t_cap * dx) + np.square(oy + t_cap * dy) <= radius_sq
                hit = np.where(inside & (t_cap > _NEAR_M) & (t_cap < hit), t_cap, hit)
            return hit
        offset = origin - np.asarray(primitive.center, np.float32)
        a = dx * dx + dy * dy + dz * dz
        b = offset[0] * dx + offset[1] * dy + offset[2] * dz
        discriminant = b * b - a * np.float32(offset @ offset - primitive.radius**2)
        t = (-b - np.sqrt(discriminant)) / a
        return np.where((discriminant >= 0) & (t > _NEAR_M), t, np.float32(np.inf))


def _surface(primitive: Box | Cylinder | Sphere, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outward unit normals (3, N) and texture coordinates (metres) of hit points (3, N)."""
    if isinstance(primitive, Box):
        cos, sin = np.float32(math.cos(primitive.yaw)), np.float32(math.sin(primitive.yaw))
        x, y, z = points - np.asarray(primitive.center, np.float32)[:, None]
        local = np.stack([cos * x + sin * y, cos * y - sin * x, z])
        half = np.asarray(primitive.half, np.float32)[:, None]
        axis = np.argmax(np.abs(local) / half, axis=0)
        side = np.sign(np.take_along_axis(local, axis[None], axis=0)[0])
        normal = np.zeros_like(points)
        normal[0] = np.where(axis == 0, cos * side, np.where(axis == 1, -sin * side, 0.0))
        normal[1] = np.where(axis == 0, sin * side, np.where(axis == 1, cos * side, 0.0))
        normal[2] = np.where(axis == 2, side, 0.0)
        shifted = local + half
        return normal, np.where(axis == 0, shifted[1], shifted[0]), np.where(axis == 2, shifted[1], shifted[2])
    if isinstance(primitive, Cylinder):
        radial = points[:2] - np.asarray(primitive.center_xy, np.float32)[:, None]
        distance = np.sqrt(radial[0] ** 2 + radial[1] ** 2)
        to_cap = np.minimum(np.abs(points[2] - primitive.z1), np.abs(points[2] - primitive.z0))
        on_cap = to_cap < primitive.radius - distance
        normal = np.zeros_like(points)
        normal[:2] = np.where(on_cap, 0.0, radial / np.maximum(distance, 1e-6))
        normal[2] = np.where(on_cap, np.where(points[2] > (primitive.z0 + primitive.z1) / 2, 1.0, -1.0), 0.0)
        around = np.arctan2(radial[1], radial[0]) * np.float32(primitive.radius)
        return normal, np.where(on_cap, radial[0], around), np.where(on_cap, radial[1], points[2])
    normal = (points - np.asarray(primitive.center, np.float32)[:, None]) / np.float32(primitive.radius)
    return normal, np.arctan2(normal[1], normal[0]) * np.float32(primitive.radius), points[2].copy()


def _cell_hash(table: np.ndarray, i: np.ndarray, j: np.ndarray | int = 0) -> np.ndarray:
    """A random value in [0, 1) per integer cell (plank, tile, book), stable across frames."""
    return table[(i.astype(np.int64) * 92821 + np.asarray(j, np.int64) * 68917) & (_HASH_SIZE - 1)]


def _mix(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-pixel blend of colours ``a`` and ``b`` ((N, 3) or (1, 3)) by ``weight`` (N,)."""
    return a + (b - a) * weight[:, None]


class _Texels(NamedTuple):
    """What a pattern sees of one material's pixels: surface coordinates (metres), two noise
    samples (fine detail, smooth blotches) and the scene's random table for :func:`_cell_hash`."""

    u: np.ndarray
    v: np.ndarray
    fine: np.ndarray
    coarse: np.ndarray
    table: np.ndarray


# Procedural patterns: albedo, (N, 3) or one colour (1, 3), of a material's pixels.
def _paint(m: Material, t: _Texels) -> np.ndarray:
    return _colour(m.color) * (1.0 + 0.025 * t.coarse + 0.01 * t.fine)[:, None]


def _wood(m: Material, t: _Texels) -> np.ndarray:
    """Planks ``period`` wide along u, boards 1.3 m long with staggered ends, grain and seams."""
    plank = np.floor(t.v / m.period_m)
    along = t.u + 3.0 * _cell_hash(t.table, plank)
    board = np.floor(along / 1.3)
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (t.v / m.period_m * 3.0 + 0.6 * t.coarse + 0.15 * t.fine))
    albedo = _mix(_colour(m.color), _colour(m.accent), 0.25 * _cell_hash(t.table, plank, board) + 0.3 * grain)
    albedo[(t.v / m.period_m - plank < 0.03) | (along / 1.3 - board < 0.004)] *= 0.45
    return albedo


def _tiles(m: Material, t: _Texels) -> np.ndarray:
    """Square tiles ``period`` wide with slightly varying tones, grout in the accent colour."""
    iu, iv = np.floor(t.u / m.period_m), np.floor(t.v / m.period_m)
    albedo = _colour(m.color) * (0.93 + 0.14 * _cell_hash(t.table, iu, iv) + 0.03 * t.fine)[:, None]
    albedo[(t.u / m.period_m - iu < 0.04) | (t.v / m.period_m - iv < 0.04)] = _colour(m.accent)
    return albedo


def _stripes(m: Material, t: _Texels) -> np.ndarray:
    """Carpet: stripes ``period`` wide of random shades between the two colours, fibre noise."""
    albedo = _mix(_colour(m.color), _colour(m.accent), _cell_hash(t.table, np.floor(t.u / m.period_m)))
    return albedo * (1.0 + 0.18 * t.fine)[:, None]


def _fabric(m: Material, t: _Texels) -> np.ndarray:
    return _colour(m.color) * (1.0 + 0.08 * t.fine + 0.05 * t.coarse)[:, None]


def _books(m: Material, t: _Texels) -> np.ndarray:
    """A row of spines ``period`` tall: random colours and heights, the dark shelf back above."""
    spine = np.floor(t.u / 0.035)
    hue = np.stack([_cell_hash(t.table, spine, k) for k in (11, 23, 37)], axis=1)
    albedo = (0.12 + 0.6 * hue * hue) * (1.0 + 0.05 * t.fine)[:, None]
    albedo[t.v / m.period_m > 0.7 + 0.3 * _cell_hash(t.table, spine, 51)] = _colour(m.accent) * 0.3
    return albedo


def _art(m: Material, t: _Texels) -> np.ndarray:
    """Colourful smooth blotches between the two colours (paintings, foliage)."""
    weights = np.stack([0.5 + 0.5 * np.sin(3.0 * t.coarse + phase) for phase in (0.0, 2.1, 4.2)], axis=1)
    return _colour(m.color) + (_colour(m.accent) - _colour(m.color)) * weights


def _metal(m: Material, t: _Texels) -> np.ndarray:
    return _colour(m.color) * (1.0 + 0.05 * t.fine + 0.08 * t.coarse)[:, None]


def _outdoor(m: Material, t: _Texels) -> np.ndarray:
    """The view through a window: sky (the material colour) above a ragged horizon at about
    1.3 m, hazy greenery and facades below; ``v`` is the height on the wall."""
    horizon = np.clip((t.v - 1.3 - 0.25 * t.coarse) / 0.5, 0.0, 1.0)
    ground = _colour((0.45, 0.5, 0.38)) * (1.0 + 0.25 * t.fine + 0.2 * t.coarse)[:, None]
    return _mix(ground, _colour(m.color), horizon)


def _colour(rgb: Vec3) -> np.ndarray:
    return np.asarray(rgb, np.float32)[None, :]


_PATTERN_FUNCTIONS = {
    "paint": _paint,
    "wood": _wood,
    "tiles": _tiles,
    "stripes": _stripes,
    "fabric": _fabric,
    "books": _books,
    "art": _art,
    "metal": _metal,
    "outdoor": _outdoor,
}
#: Patterns a :class:`Material` can carry; ``outdoor`` is the emissive view through a window.
PATTERNS = tuple(_PATTERN_FUNCTIONS)


def _texture(material: Material, texels: _Texels) -> np.ndarray:
    """Albedo (N, 3) float32 of one material's pixels."""
    albedo = _PATTERN_FUNCTIONS[material.pattern](material, texels)
    return np.broadcast_to(albedo, (texels.u.size, 3)).astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------- scene builder
_WALL_PAINTS = (
    (0.82, 0.8, 0.75),
    (0.75, 0.76, 0.78),
    (0.8, 0.74, 0.62),
    (0.62, 0.7, 0.74),
    (0.7, 0.76, 0.64),
    (0.86, 0.86, 0.84),
)
_WOODS = (
    ((0.55, 0.36, 0.2), (0.36, 0.2, 0.1)),
    ((0.72, 0.55, 0.36), (0.55, 0.38, 0.22)),
    ((0.3, 0.18, 0.1), (0.18, 0.1, 0.06)),
)
_FABRICS = ((0.25, 0.3, 0.42), (0.45, 0.42, 0.38), (0.5, 0.2, 0.18), (0.3, 0.32, 0.3), (0.62, 0.58, 0.5))
_PAINTED = ((0.7, 0.12, 0.1), (0.85, 0.85, 0.82), (0.22, 0.3, 0.4), (0.5, 0.52, 0.5))

#: Yaw of a wall-standing item's frame per wall face (local x along the wall, +y into the room).
_WALL_YAW = {0: -np.pi / 2, 1: np.pi / 2, 2: 0.0, 3: np.pi}

#: Items that stand against a wall: (width range, depth range, height of the top) in metres.
_WALL_ITEMS = {
    "cabinet": ((0.8, 2.2), (0.45, 0.62), 0.95),
    "shelf": ((0.6, 1.2), (0.28, 0.4), 2.1),
    "sofa": ((1.6, 2.2), (0.8, 0.95), 0.84),
    "media": ((1.0, 1.8), (0.45, 0.45), 2.0),
    "picture": ((0.4, 1.0), (0.03, 0.03), 2.0),
    "plant": ((0.6, 0.6), (0.6, 0.6), 1.1),
    "lamp": ((0.5, 0.5), (0.5, 0.5), 2.0),
}


class _SceneBuilder:
    """Draws one random furnished room; every random choice comes from one Generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.size: Vec3 = (float(rng.uniform(4.0, 8.0)), float(rng.uniform(3.5, 6.5)), float(rng.uniform(2.4, 3.0)))
        self.materials: list[Material] = []
        self.boxes: list[Box] = []
        self.cylinders: list[Cylinder] = []
        self.spheres: list[Sphere] = []
        self.decals: list[Decal] = []

    def material(self, material: Material) -> int:
        self.materials.append(material)
        return len(self.materials) - 1

    def pick(self, options: Sequence):
        return options[int(self.rng.integers(len(options)))]

    def jitter(self, color: Vec3, amount: float = 0.06) -> Vec3:
        return tuple(float(np.clip(c * (1.0 + self.rng.uniform(-amount, amount)), 0.0, 1.0)) for c in color)

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def wood(self) -> int:
        color, accent = self.pick(_WOODS)
        return self.material(
            Material("wood", self.jitter(color), self.jitter(accent), period_m=self.uniform(0.08, 0.2))
        )

    def build(self) -> SyntheticScene:
        rng = self.rng
        wall = self.material(Material("paint", self.jitter(self.pick(_WALL_PAINTS)), period_m=2.5))
        walls = [wall] * 4
        if rng.random() < 0.35:
            walls[int(rng.integers(4))] = self.material(
                Material("paint", self.jitter(self.pick(_WALL_PAINTS)), period_m=2.5)
            )
        ceiling = self.material(Material("paint", self.jitter((0.88, 0.88, 0.86), 0.03), period_m=2.5))
        face_materials = (*walls, self.floor(), ceiling)

        self.camera = self.trajectory()
        self.path = self.camera.path_xy()
        occupied: dict[int, list[tuple[float, float]]] = {face: [] for face in range(4)}
        self.openings(occupied)
        for face in rng.permutation(4):
            for _ in range(int(rng.integers(1, 3))):
                self.wall_item(int(face), occupied[int(face)])
        if rng.random() < 0.85:
            self.dining_set()
        lights = self.lights()
        return SyntheticScene(
            size=self.size,
            face_materials=face_materials,
            decals=tuple(self.decals),
            boxes=tuple(self.boxes),
            cylinders=tuple(self.cylinders),
            spheres=tuple(self.spheres),
            materials=tuple(self.materials),
            lights=lights,
            ambient=self.uniform(0.3, 0.45),
            outside_distance_m=self.uniform(4.0, 20.0),
            trajectory=self.camera,
            texture_seed=int(rng.integers(2**31)),
        )

    def floor(self) -> int:
        kind = int(self.rng.integers(3))
        if kind == 0:
            return self.wood()
        if kind == 1:
            tile = self.jitter(self.pick(((0.75, 0.74, 0.7), (0.5, 0.5, 0.52), (0.7, 0.62, 0.5))))
            grout = self.jitter((0.35, 0.35, 0.33))
            return self.material(Material("tiles", tile, grout, period_m=self.uniform(0.3, 0.6), specular=0.15))
        base = self.jitter(self.pick(((0.35, 0.37, 0.42), (0.45, 0.42, 0.38), (0.3, 0.3, 0.3))))
        darker = self.jitter(tuple(c * 0.55 for c in base))
        return self.material(Material("stripes", base, darker, period_m=self.uniform(0.02, 0.05)))

    def lights(self) -> tuple[Light, ...]:
        """One or two ceiling lamps, each drawn as a bright disc-like square on the ceiling."""
        lamp = self.material(Material("paint", (1.0, 0.98, 0.92), period_m=1.0, emissive=True))
        lights = []
        for _ in range(int(self.rng.integers(1, 3))):
            x, y = self.uniform(0.25, 0.75) * self.size[0], self.uniform(0.25, 0.75) * self.size[1]
            self.decals.append(Decal(5, (x - 0.15, x + 0.15), (y - 0.15, y + 0.15), lamp))
            lights.append(Light((x, y, self.size[2] - 0.3), self.uniform(0.9, 1.4)))
        return tuple(lights)

    def trajectory(self) -> Trajectory:
        length, width, _ = self.size
        radii = (max(0.3, length / 2 - self.uniform(1.0, 1.5)), max(0.3, width / 2 - self.uniform(1.0, 1.5)))
        angular = min(self.uniform(0.15, 0.4) / float(np.mean(radii)), 0.35) * self.pick((-1.0, 1.0))

        def phase() -> float:
            return self.uniform(0.0, 2 * np.pi)

        return Trajectory(
            center_xy=(length / 2 + self.uniform(-0.15, 0.15), width / 2 + self.uniform(-0.15, 0.15)),
            radii=radii,
            height_m=self.uniform(1.15, 1.6),
            start_angle=phase(),
            angular_speed=angular,
            yaw_sweep=(self.uniform(0.2, 0.7), self.uniform(0.03, 0.08), phase()),
            pitch=(self.uniform(-0.45, -0.15), self.uniform(0.05, 0.15), self.uniform(0.04, 0.1), phase()),
            roll=(self.uniform(0.0, 0.04), self.uniform(0.05, 0.15), phase()),
            bob=(self.uniform(0.0, 0.08), self.uniform(0.05, 0.2), phase()),
        )

    def clear_of_path(
        self, anchor: np.ndarray, yaw: float, center_xy: Sequence[float], half_xy: Sequence[float], top: float
    ) -> bool:
        """Whether a footprint keeps clear of the camera path: 0.45 m for items the camera could
        hit, 0.15 m for items below its lowest height (the camera passes over them)."""
        lowest_camera = self.camera.height_m - self.camera.bob[0]
        margin = 0.45 if top > lowest_camera - 0.1 else 0.15
        rotation = _yaw_matrix(yaw)[:2, :2]
        local = (self.path - (anchor[:2] + rotation @ np.asarray(center_xy))) @ rotation
        gap = np.linalg.norm(np.maximum(np.abs(local) - np.asarray(half_xy), 0.0), axis=1)
        return bool(gap.min() > margin)

    def free_interval(self, face: int, width: float, occupied: list[tuple[float, float]]) -> float | None:
        """Start of a random free stretch of ``width`` along a wall (reserved), or None."""
        length = self.size[1] if face < 2 else self.size[0]
        if length - 0.2 < width:
            return None
        for _ in range(8):
            start = self.uniform(0.1, length - 0.1 - width)
            if all(start + width < a or start > b for a, b in occupied):
                occupied.append((start, start + width))
                return start
        return None

    def openings(self, occupied: dict[int, list[tuple[float, float]]]) -> None:
        """Windows (glass with an outdoor view inside a frame) and a door, as wall decals."""
        rng = self.rng
        frame = self.material(Material("paint", self.jitter((0.85, 0.85, 0.83), 0.03), period_m=1.0, specular=0.1))
        for _ in range(int(rng.integers(1, 3))):
            face = int(rng.integers(4))
            width = self.uniform(0.8, 2.0)
            start = self.free_interval(face, width, occupied[face])
            if start is None:
                continue
            sill = self.uniform(0.6, 1.0)
            top = min(sill + self.uniform(1.0, 1.6), self.size[2] - 0.15)
            border = self.uniform(0.04, 0.08)
            sky = self.jitter((0.95, 0.97, 1.0), 0.03)
            glass = self.material(Material("outdoor", sky, period_m=2.0, transparent=True, emissive=True))
            self.decals.append(
                Decal(face, (start - border, start + width + border), (sill - border, top + border), frame)
            )
            self.decals.append(Decal(face, (start, start + width), (sill, top), glass))
        if rng.random() < 0.6:
            face = int(rng.integers(4))
            start = self.free_interval(face, 0.9, occupied[face])
            if start is not None:
                self.decals.append(Decal(face, (start, start + 0.9), (-1.0, 2.05), self.door()))

    def door(self) -> int:
        """A painted door, or a wooden one whose grain runs along its height (one 2 m plank)."""
        if self.rng.random() < 0.5:
            return self.material(Material("paint", self.jitter((0.9, 0.89, 0.85), 0.04), period_m=1.0, specular=0.15))
        color, accent = self.pick(_WOODS)
        return self.material(Material("wood", self.jitter(color), self.jitter(accent), period_m=2.1))

    def part(self, anchor: np.ndarray, yaw: float, center: Vec3, half: Vec3, material: int) -> None:
        """A box given in an item's local frame (x along, y into the room, z up)."""
        world = anchor + _yaw_matrix(yaw) @ np.asarray(center)
        self.boxes.append(Box(tuple(float(c) for c in world), half, float(yaw), material))

    def wall_item(self, face: int, occupied: list[tuple[float, float]]) -> None:
        kind = self.pick(tuple(_WALL_ITEMS))
        widths, depths, top = _WALL_ITEMS[kind]
        width, depth = self.uniform(*widths), self.uniform(*depths)
        start = self.free_interval(face, width, occupied)
        if start is None:
            return
        along = start + width / 2
        length, breadth = self.size[0], self.size[1]
        anchor = np.array([*{0: (0.0, along), 1: (length, along), 2: (along, 0.0), 3: (along, breadth)}[face], 0.0])
        yaw = _WALL_YAW[face]
        if not self.clear_of_path(anchor, yaw, (0.0, depth / 2), (width / 2, depth / 2), top):
            occupied.pop()
            return
        getattr(self, kind)(anchor, yaw, width, depth)

    def cabinet(self, anchor: np.ndarray, yaw: float, width: float, depth: float) -> None:
        rng = self.rng
        height = self.uniform(0.75, 0.9)
        if rng.random() < 0.5:
            body = self.material(
                Material("paint", self.jitter(self.pick(_PAINTED)), period_m=1.0, specular=self.uniform(0.1, 0.5))
            )
        else:
            body = self.wood()
        if rng.random() < 0.5:  # a black stone worktop, like the 7-Scenes kitchen: mostly no depth
            stone = self.jitter((0.05, 0.05, 0.055))
            top = self.material(Material("metal", stone, period_m=0.3, specular=0.8, dropout=self.uniform(0.6, 0.95)))
        else:
            top = self.wood()
        self.part(
            anchor, yaw, (0.0, depth / 2 - 0.02, height / 2), (width / 2 - 0.01, depth / 2 - 0.02, height / 2), body
        )
        self.part(anchor, yaw, (0.0, depth / 2, height + 0.02), (width / 2, depth / 2, 0.02), top)

    def shelf(self, anchor: np.ndarray, yaw: float, width: float, depth: float) -> None:
        """An open bookcase: back, sides and boards as separate boxes, rows of books recessed."""
        height = self.uniform(1.5, 2.1)
        frame = self.wood()
        back = self.jitter((0.35, 0.25, 0.15))
        board = 0.018
        inner = width / 2 - 2 * board
        self.part(anchor, yaw, (0.0, 0.01, height / 2), (width / 2, 0.01, height / 2), frame)
        for side in (-1, 1):
            self.part(
                anchor, yaw, (side * (width / 2 - board), depth / 2, height / 2), (board, depth / 2, height / 2), frame
            )
        levels = int(self.rng.integers(3, 6))
        spacing = height / levels
        for level in range(levels + 1):
            z = min(level * spacing + board, height - board)
            self.part(anchor, yaw, (0.0, depth / 2, z), (inner, depth / 2, board), frame)
            if level < levels and self.rng.random() < 0.85:
                fill = self.uniform(0.55, 0.85) * (spacing - 2 * board)
                book_depth = self.uniform(0.6, 0.9) * depth
                span = self.uniform(0.5, 1.0) * inner
                offset = self.uniform(-1, 1) * (inner - span)
                books = self.material(Material("books", (0.5, 0.5, 0.5), back, period_m=fill))
                centre = (offset, 0.02 + book_depth / 2, z + board + fill / 2)
                self.part(anchor, yaw, centre, (span, book_depth / 2, fill / 2), books)

    def sofa(self, anchor: np.ndarray, yaw: float, width: float, depth: float) -> None:
        fabric = self.material(Material("fabric", self.jitter(self.pick(_FABRICS)), period_m=0.2))
        self.part(anchor, yaw, (0.0, depth / 2 + 0.05, 0.22), (width / 2 - 0.12, depth / 2 - 0.05, 0.22), fabric)
        self.part(anchor, yaw, (0.0, 0.12, 0.42), (width / 2, 0.12, 0.42), fabric)
        for side in (-1, 1):
            self.part(anchor, yaw, (side * (width / 2 - 0.06), depth / 2, 0.31), (0.06, depth / 2, 0.31), fabric)

    def media(self, anchor: np.ndarray, yaw: float, width: float, depth: float) -> None:
        """A low cabinet with a wall-mounted screen: black gloss, which loses most depth."""
        self.cabinet(anchor, yaw, width, depth)
        screen = self.material(
            Material("metal", (0.02, 0.02, 0.025), period_m=0.5, specular=1.0, dropout=self.uniform(0.7, 0.98))
        )
        half_width = min(width - 0.1, self.uniform(0.9, 1.4)) / 2
        half_height = half_width * 9 / 16
        self.part(
            anchor, yaw, (0.0, 0.03, self.uniform(1.05, 1.25) + half_height), (half_width, 0.03, half_height), screen
        )

    def picture(self, anchor: np.ndarray, yaw: float, width: float, depth: float) -> None:
        art = self.material(
            Material(
                "art", self.jitter(self.pick(_FABRICS), 0.3), self.jitter(self.pick(_WALL_PAINTS), 0.3), period_m=0.6
            )
        )
        half_height = width * self.uniform(0.3, 0.65)
        self.part(anchor, yaw, (0.0, depth / 2, self.uniform(1.35, 1.7)), (width / 2, depth / 2, half_height), art)

    def plant(self, anchor: np.ndarray, yaw: float, width: float, depth: float) -> None:
        x, y, _ = anchor + _yaw_matrix(yaw) @ np.array([0.0, depth / 2, 0.0])
        pot_color = self.jitter(self.pick(((0.6, 0.35, 0.25), (0.85, 0.85, 0.85), (0.15, 0.15, 0.15))))
        pot = self.material(Material("paint", pot_color, period_m=1.0, specular=0.2))
        leaves = self.material(Material("art", (0.12, 0.3, 0.08), (0.3, 0.5, 0.15), period_m=0.08, dropout=0.25))
        radius, height, crown = self.uniform(0.12, 0.2), self.uniform(0.3, 0.5), self.uniform(0.22, 0.3)
        self.cylinders.append(Cylinder((float(x), float(y)), 0.0, height, radius, pot))
        self.spheres.append(Sphere((float(x), float(y), height + crown * 0.8), crown, leaves))

    def lamp(self, anchor: np.ndarray, yaw: float, width: float, depth: float) -> None:
        x, y, _ = anchor + _yaw_matrix(yaw) @ np.array([0.0, depth / 2, 0.0])
        xy = (float(x), float(y))
        metal = self.material(Material("metal", (0.25, 0.25, 0.27), period_m=0.3, specular=0.9, dropout=0.3))
        shade = self.material(Material("fabric", self.jitter((0.9, 0.86, 0.75)), period_m=0.2))
        height = self.uniform(1.4, 1.7)
        self.cylinders.append(Cylinder(xy, 0.0, 0.03, 0.15, metal))
        self.cylinders.append(Cylinder(xy, 0.03, height, 0.015, metal))
        self.cylinders.append(Cylinder(xy, height, height + 0.3, self.uniform(0.15, 0.22), shade))

    def dining_set(self) -> None:
        """A table inside the camera loop (the camera passes over its edges, as in hand-held
        kitchen sequences), chairs around it and a few objects on it: mugs, glasses, books."""
        rng = self.rng
        anchor = np.array([*self.camera.center_xy, 0.0])
        yaw = self.uniform(-0.15, 0.15)
        height = self.uniform(0.72, 0.78)
        half = np.minimum((self.uniform(0.4, 0.9), self.uniform(0.35, 0.6)), np.asarray(self.camera.radii) - 0.1)
        while not self.clear_of_path(anchor, yaw, (0.0, 0.0), half, height):
            half *= 0.85
        if half[0] < 0.25 or half[1] < 0.2:
            return
        wood = self.wood()
        self.part(anchor, yaw, (0.0, 0.0, height - 0.02), (half[0], half[1], 0.02), wood)
        leg_height = (height - 0.04) / 2
        for sx in (-1, 1):
            for sy in (-1, 1):
                self.part(
                    anchor,
                    yaw,
                    (sx * (half[0] - 0.06), sy * (half[1] - 0.06), leg_height),
                    (0.025, 0.025, leg_height),
                    wood,
                )
        chair_wood = self.wood()
        sides = (
            (0.0, half[1] + 0.1, np.pi),
            (0.0, -half[1] - 0.1, 0.0),
            (half[0] + 0.1, 0.0, np.pi / 2),
            (-half[0] - 0.1, 0.0, -np.pi / 2),
        )
        for side in rng.permutation(4)[: int(rng.integers(0, 4))]:
            x, y, facing = sides[side]
            chair_anchor = anchor + _yaw_matrix(yaw) @ np.array(
                [x + self.uniform(-0.1, 0.1), y + self.uniform(-0.1, 0.1), 0.0]
            )
            chair_yaw = yaw + facing + self.uniform(-0.3, 0.3)
            if self.clear_of_path(chair_anchor, chair_yaw, (0.0, 0.0), (0.25, 0.3), 0.9):
                self.chair(chair_anchor, chair_yaw, chair_wood)
        for _ in range(int(rng.integers(1, 6))):
            spot = anchor + _yaw_matrix(yaw) @ np.array(
                [self.uniform(-0.8, 0.8) * half[0], self.uniform(-0.8, 0.8) * half[1], height]
            )
            self.tabletop_object(spot)

    def chair(self, anchor: np.ndarray, yaw: float, wood: int) -> None:
        """Seat, legs and a slatted back (local +y faces the table)."""
        seat = 0.45
        self.part(anchor, yaw, (0.0, 0.0, seat), (0.22, 0.22, 0.02), wood)
        for sx in (-1, 1):
            for sy in (-1, 1):
                self.part(anchor, yaw, (sx * 0.19, sy * 0.19, seat / 2), (0.02, 0.02, seat / 2), wood)
            self.part(anchor, yaw, (sx * 0.19, -0.2, seat + 0.225), (0.02, 0.02, 0.225), wood)
        for slat in range(3):
            self.part(anchor, yaw, (0.0, -0.2, seat + 0.18 + 0.1 * slat), (0.17, 0.012, 0.025), wood)

    def tabletop_object(self, spot: np.ndarray) -> None:
        x, y, z = (float(c) for c in spot)
        kind = self.pick(("mug", "glass", "bottle", "book", "ball"))
        if kind == "glass":
            glass = self.material(Material("metal", (0.7, 0.75, 0.78), period_m=0.2, specular=1.2, transparent=True))
            self.cylinders.append(Cylinder((x, y), z, z + self.uniform(0.1, 0.18), self.uniform(0.03, 0.045), glass))
        elif kind in ("mug", "bottle"):
            dark = self.rng.random() < 0.4
            color = (0.04, 0.04, 0.05) if dark else self.jitter(self.pick(_PAINTED + _FABRICS), 0.2)
            material = self.material(Material("paint", color, period_m=1.0, specular=0.6, dropout=0.8 if dark else 0.0))
            height, radius = (0.1, 0.045) if kind == "mug" else (self.uniform(0.2, 0.3), 0.04)
            self.cylinders.append(Cylinder((x, y), z, z + height, radius, material))
        elif kind == "book":
            cover = self.material(Material("paint", self.jitter(self.pick(_PAINTED + _FABRICS), 0.2), period_m=1.0))
            half = (self.uniform(0.08, 0.15), self.uniform(0.1, 0.2), self.uniform(0.01, 0.03))
            self.boxes.append(Box((x, y, z + half[2]), half, self.uniform(0.0, np.pi), cover))
        else:
            radius = self.uniform(0.04, 0.09)
            material = self.material(
                Material("paint", self.jitter(self.pick(_PAINTED), 0.2), period_m=1.0, specular=0.4)
            )
            self.spheres.append(Sphere((x, y, z + radius), radius, material))


# ---------------------------------------------------------------------------------- public API
def _resolve_intrinsics(width: int, height: int, intrinsics: CameraIntrinsics | None) -> CameraIntrinsics:
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
    scene = SyntheticScene.random(scene_seed)
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
    scene = SyntheticScene.random(scene_seed)
    rng = np.random.default_rng(sensor_seed)
    return (scene.render(scene.trajectory.pose(index / fps), intrinsics, rng, sensor) for index in range(num_frames))


def preview_grid(samples: Sequence[SyntheticSample], vmax: float = 8.0) -> np.ndarray:
    """Rows of RGB | raw | ground truth, depth on one fixed colour scale (holes black)."""
    from depth_completion_ros.visualization import colorize_depth  # imports torch: only previews need it

    if not samples:
        raise ValueError("preview_grid needs at least one sample")
    rows = [np.hstack([s.rgb, colorize_depth(s.raw, 0.0, vmax), colorize_depth(s.gt, 0.0, vmax)]) for s in samples]
    return np.vstack(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Write a preview grid of synthetic samples, or print their timing and hole statistics."""
    parser = argparse.ArgumentParser(prog="python -m depth_completion_ros.synthetic", description=main.__doc__)
    parser.add_argument("--preview", metavar="OUT.png", help="write a grid of rgb / raw / gt rows")
    parser.add_argument("--stats", type=int, metavar="N", help="render N samples, print hole statistics and timing")
    parser.add_argument("--count", type=int, default=6, help="samples in the preview (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=256)
    args = parser.parse_args(argv)
    if not args.preview and not args.stats:
        parser.error("nothing to do: pass --preview OUT.png and/or --stats N")
    if args.preview:
        samples = [generate_sample(args.seed + i, args.width, args.height) for i in range(args.count)]
        print(f"wrote {write_color(args.preview, preview_grid(samples))}")
    if args.stats:
        raws, seconds = [], []
        for seed in range(args.seed, args.seed + args.stats):
            start = time.perf_counter()
            raws.append(generate_sample(seed, args.width, args.height).raw)
            seconds.append(time.perf_counter() - start)
        print(format_hole_statistics({f"synthetic {args.width}x{args.height}": hole_statistics(raws)}))
        median, fastest = 1000 * np.median(seconds), 1000 * min(seconds)
        print(f"generate_sample: median {median:.1f} ms, min {fastest:.1f} ms over {len(seconds)} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
