"""Scene primitives: materials, the solids that carry them, room-face decals and lights.

Solids are analytic so the ray caster intersects them exactly: cuboids rotated about the
vertical, vertical cylinders and spheres. Every solid refers to its material by index into the
scene's material list.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .textures import PATTERNS

Vec3 = tuple[float, float, float]

#: Albedo (largest channel) below which a material counts as dark: it absorbs the projector's
#: light, so active depth cameras lose it (a black mug, a black stone worktop).
DARK_ALBEDO = 0.12
#: Highlight strength from which a material counts as specular (glossy paint, metal, glass).
SPECULAR_LEVEL = 0.5


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

    @property
    def dark(self) -> bool:
        """Whether the surface is dark enough to absorb an active camera's light."""
        return not (self.emissive or self.transparent) and max(self.color) < DARK_ALBEDO

    @property
    def shiny(self) -> bool:
        """Whether the surface shows highlights strong enough to blind a depth camera."""
        return self.specular >= SPECULAR_LEVEL


@dataclass(frozen=True)
class Cuboid:
    """A rectangular solid (furniture parts, books) with half extents ``half`` in its own frame,
    rotated by ``yaw`` about the vertical."""

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


#: The solids the ray caster can intersect.
Primitive = Cuboid | Cylinder | Sphere


@dataclass(frozen=True)
class Decal:
    """A rectangle on a room face drawn with another material (window, frame, door).

    ``u`` runs along the face and ``v`` upwards on walls (see :func:`raycast.room_uv`); later
    decals cover earlier ones. A transparent decal is a window: the room continues outside it.
    """

    face: int
    u_range: tuple[float, float]
    v_range: tuple[float, float]
    material: int


@dataclass(frozen=True)
class Light:
    position: Vec3
    intensity: float


def yaw_matrix(yaw: float) -> np.ndarray:
    """Rotation by ``yaw`` (radians) about the vertical (world z) axis."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
