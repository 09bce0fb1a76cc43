"""A synthetic scene and its renderer: colour, dense ground truth and raw depth from any pose.

A scene is a room (floor, ceiling, walls with windows and doors; the room faces have ids 0-5)
holding analytic solids with procedural materials, its lights and a camera path. Rendering
traces every surface (:mod:`.raycast`), shades it (Lambert and Blinn-Phong lights, ambient light
with cheap occlusion, textures from :mod:`.textures`) and hands the traced geometry to the
sensor model (:mod:`.sensor`) for the raw depth. Rooms are furnished by :mod:`.rooms`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ..geometry import CameraIntrinsics
from .camera_paths import OrbitPath, Trajectory
from .primitives import Cuboid, Cylinder, Decal, Light, Material, Primitive, Sphere, Vec3, yaw_matrix
from .raycast import RenderBuffers, dot, intersect, norm, planes, room_uv, screen_rect, surface
from .sensor import SensorModel, sense
from .textures import HASH_SIZE, TEXELS_PER_PERIOD, Texels, noise_texture, texture


@dataclass(frozen=True)
class SyntheticSample:
    """One rendered frame.

    ``rgb`` is uint8 (H, W, 3); ``gt`` is dense float32 z-depth (m) of the nearest surface,
    glass included; ``raw`` is what the sensor reports (0 = invalid). The boolean masks say which
    material each pixel's nearest surface has, i.e. where an active depth camera struggles:
    ``transparent`` (glass: missing, or the depth behind it), ``dark`` (absorbs the projector:
    missing) and ``specular`` (shiny: missing at highlights). ``pose`` is camera-to-world (4x4).
    """

    rgb: np.ndarray
    gt: np.ndarray
    raw: np.ndarray
    intrinsics: CameraIntrinsics
    transparent: np.ndarray
    dark: np.ndarray
    specular: np.ndarray
    pose: np.ndarray


class SceneTables:
    """Per-material and per-primitive lookup arrays of a scene, so per-pixel properties are one
    fancy-indexing step (``table[material_map]``) instead of a loop over surfaces."""

    def __init__(self, scene: SyntheticScene) -> None:
        materials = scene.materials
        self.period = np.array([m.period_m for m in materials], np.float32)
        self.specular = np.array([m.specular for m in materials], np.float32)
        self.dropout = np.array([m.dropout for m in materials], np.float32)
        self.transparent = np.array([m.transparent for m in materials], bool)
        self.emissive = np.array([m.emissive for m in materials], bool)
        self.dark = np.array([m.dark for m in materials], bool)
        self.shiny = np.array([m.shiny for m in materials], bool)
        shapes = scene.primitives
        self.material_of = np.array([*scene.face_materials, *(p.material for p in shapes)], np.int32)
        rng = np.random.default_rng(scene.texture_seed)
        self.hash = rng.random(HASH_SIZE, dtype=np.float32)
        # Texture phase (along the surface only, so vertical patterns keep their meaning) and
        # brightness per primitive: neighbouring boxes of one material do not look identical.
        count = 6 + len(shapes)
        self.u_offset = rng.uniform(0.0, 20.0, count).astype(np.float32)
        self.tint = rng.uniform(0.9, 1.1, (count, 1)).astype(np.float32)


@dataclass(frozen=True)
class SyntheticScene:
    """A furnished room, its lights and a camera path through its free space.

    The room spans ``[0, size]`` on each world axis (z up). Room faces have ids 0-5: x = 0,
    x = size_x, y = 0, y = size_y, floor, ceiling; ``face_materials`` gives their materials and
    primitives and decals refer to materials by index into ``materials``.
    ``outside_distance_m`` is how far beyond a window wall the sensor meets something.
    """

    size: Vec3
    face_materials: tuple[int, ...]
    decals: tuple[Decal, ...]
    cuboids: tuple[Cuboid, ...]
    cylinders: tuple[Cylinder, ...]
    spheres: tuple[Sphere, ...]
    materials: tuple[Material, ...]
    lights: tuple[Light, ...]
    ambient: float
    outside_distance_m: float
    trajectory: Trajectory | OrbitPath
    texture_seed: int

    @functools.cached_property
    def primitives(self) -> tuple[Primitive, ...]:
        """All primitives; primitive ``i`` has id ``6 + i`` in the id map (0-5 are the room faces)."""
        return (*self.cuboids, *self.cylinders, *self.spheres)

    @functools.cached_property
    def _corners(self) -> tuple[np.ndarray, ...]:
        """World-space corners of each primitive's bounding box (for screen-space culling)."""
        signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)
        corners = []
        for primitive in self.primitives:
            if isinstance(primitive, Cuboid):
                corners.append((signs * primitive.half) @ yaw_matrix(primitive.yaw).T + primitive.center)
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
    def _lookup(self) -> SceneTables:
        return SceneTables(self)

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
        buffers = RenderBuffers(pose, intrinsics)
        self._trace(buffers)
        material, normal, rgb, highlight = self._look(buffers)
        lookup = self._lookup
        transparent = lookup.transparent[material]
        glass_in_front = transparent & (buffers.primitive >= 6)  # glass objects; windows show the outdoors
        if glass_in_front.any():
            rgb = self._see_through(buffers, rgb, glass_in_front, normal)
        raw = sense(buffers, lookup.dropout[material], normal, transparent, rgb, rng, sensor, highlight)
        return SyntheticSample(
            rgb=rgb,
            gt=buffers.depth,
            raw=raw,
            intrinsics=intrinsics,
            transparent=transparent,
            dark=lookup.dark[material],
            specular=lookup.shiny[material],
            pose=pose,
        )

    def _look(self, buffers: RenderBuffers) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Material id, normal, colour and specular highlight strength of every traced pixel."""
        points = planes(buffers.origin) + buffers.depth * buffers.directions
        material, normal, u, v = self._surfaces(buffers, points)
        rgb, highlight = self._shade(buffers, points, material, normal, u, v, self._occlusion(buffers, points))
        return material, normal, rgb, highlight

    def _see_through(
        self, buffers: RenderBuffers, rgb: np.ndarray, glass: np.ndarray, normal: np.ndarray
    ) -> np.ndarray:
        """Colour of glass objects: the surface behind them, seen through, mixed with the glass's
        own shading (tint and highlights) by a Fresnel-like weight that grows towards the rim."""
        behind = buffers.behind_glass()
        _, _, behind_rgb, _ = self._look(behind)
        incidence = np.abs(dot(normal, buffers.directions)) / norm(buffers.directions)
        weight = (np.float32(0.15) + np.float32(0.7) * (np.float32(1.0) - incidence) ** 3)[glass][:, None]
        mixed = rgb.copy()
        mixed[glass] = np.rint(weight * rgb[glass] + (np.float32(1.0) - weight) * behind_rgb[glass]).astype(np.uint8)
        return mixed

    def _trace(self, buffers: RenderBuffers) -> None:
        """Z-buffer every surface; glass updates only the ground truth, not ``opaque_depth``."""
        directions, origin = buffers.directions, buffers.origin
        with np.errstate(divide="ignore", invalid="ignore"):
            for axis in range(3):
                component = directions[axis]
                exit_t = np.where(component > 0, np.float32(self.size[axis]) - origin[axis], -origin[axis]) / component
                exit_t[~(exit_t > 0)] = np.inf  # rays parallel to this pair of walls
                nearer = exit_t < buffers.depth
                buffers.depth[nearer] = exit_t[nearer]
                buffers.primitive[nearer] = 2 * axis + (component[nearer] > 0)
        np.copyto(buffers.opaque_depth, buffers.depth)
        np.copyto(buffers.opaque_primitive, buffers.primitive)
        for decal, corners in zip(self.decals, self._decal_corners, strict=True):
            if not self.materials[decal.material].transparent:
                continue
            region = self._decal_region(decal, corners, buffers)
            if region is None:
                continue
            rect, inside = region
            # Outside, the ray meets a facade parallel to the wall (usually beyond range).
            axis, far_side = decal.face // 2, decal.face % 2
            facade = self.size[axis] + self.outside_distance_m if far_side else -self.outside_distance_m
            buffers.opaque_depth[rect][inside] = (np.float32(facade) - origin[axis]) / directions[axis][rect][inside]
        transparent = self._lookup.transparent
        for offset, (primitive, corners) in enumerate(zip(self.primitives, self._corners, strict=True)):
            on_screen = screen_rect(corners, buffers)
            if on_screen is None:
                continue
            rect = on_screen
            t = intersect(primitive, origin, directions[:, rect[0], rect[1]])
            nearer = t < buffers.depth[rect]
            if not nearer.any():
                continue
            buffers.depth[rect][nearer] = t[nearer]
            buffers.primitive[rect][nearer] = 6 + offset
            buffers.rects[6 + offset] = rect
            if not transparent[primitive.material]:
                opaque = buffers.opaque_depth[rect]
                closer = t < opaque
                if closer.any():
                    opaque[closer] = t[closer]
                    buffers.opaque_primitive[rect][closer] = 6 + offset
                    buffers.opaque_rects[6 + offset] = rect

    def _decal_region(
        self, decal: Decal, corners: np.ndarray, buffers: RenderBuffers
    ) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Screen rectangle of a decal and, inside it, the pixels that see the decal."""
        rect = screen_rect(corners, buffers)
        if rect is None:
            return None
        points = planes(buffers.origin) + buffers.depth[rect] * buffers.directions[:, rect[0], rect[1]]
        u, v = room_uv(decal.face, points)
        inside = (
            (buffers.primitive[rect] == decal.face)
            & (u >= decal.u_range[0])
            & (u <= decal.u_range[1])
            & (v >= decal.v_range[0])
            & (v <= decal.v_range[1])
        )
        return rect, inside

    def _surfaces(
        self, buffers: RenderBuffers, points: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Material id, unit normal (3, H, W) facing the camera, and texture coordinates per pixel."""
        primitive = buffers.primitive
        material = self._lookup.material_of[primitive]
        # Room faces first (ids 0-5: face axis = id // 2); primitives overwrite their pixels.
        axis = primitive >> 1
        normal = np.stack([axis == 0, axis == 1, axis == 2]).astype(np.float32)
        u = np.where(axis == 0, points[1], points[0])
        v = np.where(axis == 2, points[1], points[2])
        for decal, corners in zip(self.decals, self._decal_corners, strict=True):
            region = self._decal_region(decal, corners, buffers)
            if region is not None:
                rect, inside = region
                material[rect][inside] = decal.material
        for index, (r, c) in buffers.rects.items():
            rows, cols = np.nonzero(primitive[r, c] == index)
            rows += r.start
            cols += c.start
            shape_object = self.primitives[index - 6]
            material[rows, cols] = shape_object.material
            normal[:, rows, cols], u[rows, cols], v[rows, cols] = surface(shape_object, points[:, rows, cols])
        normal *= np.where(dot(normal, buffers.directions) > 0, np.float32(-1.0), np.float32(1.0))
        return material, normal, u + self._lookup.u_offset[primitive], v

    def _shade(
        self,
        buffers: RenderBuffers,
        points: np.ndarray,
        material: np.ndarray,
        normal: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        occlusion: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Textured albedo lit by point lights (Lambert, Blinn-Phong highlights on shiny materials)
        and ambient light with occlusion: uint8 RGB after a slight lens blur and display gamma, and
        the highlight strength per pixel (where the sensor's projector is blinded too)."""
        lookup = self._lookup
        texels = np.float32(TEXELS_PER_PERIOD) / lookup.period[material]
        noise = cv2.remap(noise_texture(), u * texels, v * texels, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        albedo = np.empty((material.size, 3), np.float32)
        flat = material.ravel()
        u, v, fine, coarse = u.ravel(), v.ravel(), noise[..., 0].ravel(), noise[..., 1].ravel()
        for index in np.flatnonzero(np.bincount(flat, minlength=len(self.materials))):
            pixels = np.flatnonzero(flat == index)
            texels = Texels(u[pixels], v[pixels], fine[pixels], coarse[pixels], lookup.hash)
            albedo[pixels] = texture(self.materials[index], texels)
        albedo = albedo.reshape(*material.shape, 3) * lookup.tint[buffers.primitive]

        light = np.float32(self.ambient) * occlusion
        diffuse_shadow = np.float32(0.5) + np.float32(0.5) * occlusion
        specular = lookup.specular[flat]
        shiny = np.flatnonzero(specular)
        highlight = np.zeros(flat.size, np.float32)
        shiny_normal = normal.reshape(3, -1)[:, shiny]
        shiny_points = points.reshape(3, -1)[:, shiny]
        view = -buffers.directions.reshape(3, -1)[:, shiny]
        view /= norm(view)
        for lamp in self.lights:
            to_light = planes(lamp.position) - points
            distance = norm(to_light)
            attenuation = np.float32(lamp.intensity) / (np.float32(1.0) + np.square(distance * np.float32(1 / 2.5)))
            light += np.maximum(dot(normal, to_light) / distance, np.float32(0.0)) * attenuation * diffuse_shadow
            halfway = np.asarray(lamp.position, np.float32)[:, None] - shiny_points
            halfway /= norm(halfway)
            halfway += view
            sharp = np.clip(dot(shiny_normal, halfway) / (norm(halfway) + np.float32(1e-6)), 0.0, 1.0)
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
        return cv2.convertScaleAbs(color, alpha=255.0), highlight.reshape(material.shape)

    def _occlusion(self, buffers: RenderBuffers, points: np.ndarray) -> np.ndarray:
        """Cheap stand-ins for global illumination: darker room corners, and soft shadows on the
        surfaces under each piece of furniture (its footprint seen from above, softer with height)."""
        occlusion = np.ones(points.shape[1:], np.float32)
        for axis in range(3):
            # Outside the room (the facade seen through a window) counts as on the wall.
            gap = np.maximum(np.minimum(points[axis], np.float32(self.size[axis]) - points[axis]), np.float32(0.0))
            occlusion *= np.float32(1.0) - np.float32(0.25) * np.exp(gap * np.float32(-1 / 0.25))
        reach = 0.35
        corners_2d = np.array([[x, y] for x in (-1, 1) for y in (-1, 1)], np.float64)
        for box in self.cuboids:
            if min(box.half[:2]) < 0.05:  # legs, slats and boards cast negligible shadows
                continue
            bottom = box.center[2] - box.half[2]
            rotation_2d = yaw_matrix(box.yaw)[:2, :2]
            footprint = (corners_2d * (np.asarray(box.half[:2]) + reach)) @ rotation_2d.T + box.center[:2]
            corners = np.array([[x, y, z] for x, y in footprint for z in (0.0, bottom + 0.02)])
            rect = screen_rect(corners, buffers)
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
