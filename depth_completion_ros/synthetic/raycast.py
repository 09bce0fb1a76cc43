"""The ray caster: per-pixel camera rays, exact intersections with the solids, surface normals.

Depth is z-depth along the optical axis in metres, as depth cameras report: rays are built with
a unit z component in the camera buffers, so the ray parameter *is* the z-depth. Every pixel's ray
is intersected with a solid at once (restricted to the solid's bounding rectangle on screen,
:func:`screen_rect`), so a 320x256 buffers takes a few tens of milliseconds in numpy.
"""
from __future__ import annotations

import copy
import functools
import math
from collections.abc import Sequence

import numpy as np

from ..geometry import CameraIntrinsics
from .primitives import Cuboid, Cylinder, Primitive

#: Nearest distance (m) at which a surface is hit; closer intersections are ignored.
NEAR_M = 0.02


@functools.lru_cache(maxsize=8)
def camera_rays(intrinsics: CameraIntrinsics) -> np.ndarray:
    """Per-pixel ray directions (3, H, W) in the camera buffers with z = 1 (read-only, cached)."""
    u = (np.arange(intrinsics.width, dtype=np.float32) - np.float32(intrinsics.cx)) / np.float32(intrinsics.fx)
    v = (np.arange(intrinsics.height, dtype=np.float32) - np.float32(intrinsics.cy)) / np.float32(intrinsics.fy)
    rays = np.empty((3, intrinsics.height, intrinsics.width), np.float32)
    rays[0] = u[None, :]
    rays[1] = v[:, None]
    rays[2] = 1.0
    rays.flags.writeable = False
    return rays


class RenderBuffers:
    """Per-pixel buffers of one render. Vectors are stored channel-first, (3, H, W), so dot
    products and norms are sums of whole planes instead of slow reductions over a size-3 axis."""

    def __init__(self, pose: np.ndarray, intrinsics: CameraIntrinsics) -> None:
        self.intrinsics = intrinsics
        self.rotation = pose[:3, :3]
        self.origin = pose[:3, 3].astype(np.float32)
        rays = camera_rays(intrinsics)
        # einsum, not matmul: BLAS threads stall this small product on a busy machine.
        self.directions = np.einsum("ij,jhw->ihw", self.rotation.astype(np.float32), rays)
        shape = self.directions.shape[1:]
        self.depth = np.full(shape, np.inf, np.float32)
        self.opaque_depth = np.full(shape, np.inf, np.float32)
        self.primitive = np.zeros(shape, np.int32)
        self.rects: dict[int, tuple[slice, slice]] = {}
        # The nearest surface that is not glass: what the sensor and the eye see through glass.
        self.opaque_primitive = np.zeros(shape, np.int32)
        self.opaque_rects: dict[int, tuple[slice, slice]] = {}

    def behind_glass(self) -> RenderBuffers:
        """These buffers with every glass surface removed (same rays, the opaque surfaces behind)."""
        behind = copy.copy(self)
        behind.depth, behind.primitive, behind.rects = self.opaque_depth, self.opaque_primitive, self.opaque_rects
        return behind


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel dot product of two (3, ...) vector planes."""
    product: np.ndarray = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    return product


def norm(a: np.ndarray) -> np.ndarray:
    """Per-pixel length of a (3, ...) vector plane."""
    length: np.ndarray = np.sqrt(dot(a, a))
    return length


def planes(vector: Sequence[float] | np.ndarray) -> np.ndarray:
    """A 3-vector shaped to broadcast against (3, H, W) planes."""
    return np.asarray(vector, np.float32).reshape(3, 1, 1)


def room_uv(face: int, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Surface coordinates on a room face from points (3, ...): along the wall and up for walls,
    x and y for the floor and ceiling."""
    axis = face // 2
    if axis == 0:
        return points[1], points[2]
    if axis == 1:
        return points[0], points[2]
    return points[0], points[1]


def screen_rect(corners: np.ndarray, buffers: RenderBuffers) -> tuple[slice, slice] | None:
    """Pixel rectangle that can see an object with these world-space corners (None: not visible)."""
    intrinsics = buffers.intrinsics
    camera = (corners - buffers.origin) @ buffers.rotation
    front = camera[:, 2] > NEAR_M
    if not front.any():
        return None
    if not front.all():
        # Only the part in front of the near plane can be seen: it lies within the hull of
        # the front corners and the points where front-to-behind segments cross the plane.
        ahead, behind = camera[front][:, None, :], camera[~front][None, :, :]
        fraction = (NEAR_M - ahead[..., 2]) / (behind[..., 2] - ahead[..., 2])
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


def intersect(primitive: Primitive, origin: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Ray parameter (= z-depth) of the first hit in front of the camera, inf where missed.
    ``directions`` is (3, h, w); the result is (h, w)."""
    dx, dy, dz = directions
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if isinstance(primitive, Cuboid):
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
            return np.where((near <= far) & (near > NEAR_M), near, np.float32(np.inf))
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
                (discriminant >= 0) & (t > NEAR_M) & (z >= primitive.z0) & (z <= primitive.z1), t, np.float32(np.inf)
            )
            cap = primitive.z1 if origin[2] > primitive.z1 else primitive.z0 if origin[2] < primitive.z0 else None
            if cap is not None:
                t_cap = (np.float32(cap) - origin[2]) / dz
                inside = np.square(ox + t_cap * dx) + np.square(oy + t_cap * dy) <= radius_sq
                hit = np.where(inside & (t_cap > NEAR_M) & (t_cap < hit), t_cap, hit)
            return hit
        offset = origin - np.asarray(primitive.center, np.float32)
        a = dx * dx + dy * dy + dz * dz
        b = offset[0] * dx + offset[1] * dy + offset[2] * dz
        discriminant = b * b - a * np.float32(offset @ offset - primitive.radius**2)
        t = (-b - np.sqrt(discriminant)) / a
        return np.where((discriminant >= 0) & (t > NEAR_M), t, np.float32(np.inf))


def surface(primitive: Primitive, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outward unit normals (3, N) and texture coordinates (metres) of hit points (3, N)."""
    if isinstance(primitive, Cuboid):
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
