"""Room furnishing: random rooms with windows, a door, wall furniture and a dining set.

Every random choice comes from one ``numpy.random.Generator``, so a room is a pure function of
its seed. Furniture keeps clear of the camera's path (:class:`camera_paths.Trajectory`), so a
sequence never passes through a cabinet.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from .camera_paths import OrbitPath, Trajectory
from .primitives import Cuboid, Cylinder, Decal, Light, Material, Sphere, Vec3, yaw_matrix
from .scene import SyntheticScene

T = TypeVar("T")


def random_room(seed: int | np.random.SeedSequence) -> SyntheticScene:
    """A random furnished room with its camera path, deterministic given ``seed``."""
    return RoomBuilder(np.random.default_rng(seed)).build()


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
FABRICS = ((0.25, 0.3, 0.42), (0.45, 0.42, 0.38), (0.5, 0.2, 0.18), (0.3, 0.32, 0.3), (0.62, 0.58, 0.5))
PAINTED = ((0.7, 0.12, 0.1), (0.85, 0.85, 0.82), (0.22, 0.3, 0.4), (0.5, 0.52, 0.5))

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


class RoomBuilder:
    """Draws one random furnished room; every random choice comes from one Generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.size: Vec3 = (float(rng.uniform(4.0, 8.0)), float(rng.uniform(3.5, 6.5)), float(rng.uniform(2.4, 3.0)))
        self.materials: list[Material] = []
        self.cuboids: list[Cuboid] = []
        self.cylinders: list[Cylinder] = []
        self.spheres: list[Sphere] = []
        self.decals: list[Decal] = []

    def material(self, material: Material) -> int:
        self.materials.append(material)
        return len(self.materials) - 1

    def pick(self, options: Sequence[T]) -> T:
        """One of ``options``, uniformly."""
        return options[int(self.rng.integers(len(options)))]

    def jitter(self, color: Vec3, amount: float = 0.06) -> Vec3:
        """``color`` with each channel scaled by up to ``1 ± amount``, kept in [0, 1]."""
        red, green, blue = (float(np.clip(c * (1.0 + self.rng.uniform(-amount, amount)), 0.0, 1.0)) for c in color)
        return red, green, blue

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def wood(self) -> int:
        color, accent = self.pick(_WOODS)
        return self.material(
            Material("wood", self.jitter(color), self.jitter(accent), period_m=self.uniform(0.08, 0.2))
        )

    def build(self) -> SyntheticScene:
        face_materials = self.shell()
        loop = self.trajectory()
        self.set_camera(loop)
        self.furnish_walls()
        if self.rng.random() < 0.85:
            self.dining_set(loop)
        return self.scene(face_materials, self.lights())

    def shell(self) -> tuple[int, ...]:
        """Materials of the room faces: walls (one may differ), floor, ceiling."""
        rng = self.rng
        wall = self.material(Material("paint", self.jitter(self.pick(_WALL_PAINTS)), period_m=2.5))
        walls = [wall] * 4
        if rng.random() < 0.35:
            walls[int(rng.integers(4))] = self.material(
                Material("paint", self.jitter(self.pick(_WALL_PAINTS)), period_m=2.5)
            )
        ceiling = self.material(Material("paint", self.jitter((0.88, 0.88, 0.86), 0.03), period_m=2.5))
        return (*walls, self.floor(), ceiling)

    def set_camera(self, camera: Trajectory | OrbitPath) -> None:
        """The camera path that furniture must keep clear of."""
        self.camera = camera
        self.path = camera.path_xy()

    def furnish_walls(self) -> None:
        """Windows, a door and one or two items along each wall."""
        occupied: dict[int, list[tuple[float, float]]] = {face: [] for face in range(4)}
        self.openings(occupied)
        for face in self.rng.permutation(4):
            for _ in range(int(self.rng.integers(1, 3))):
                self.wall_item(int(face), occupied[int(face)])

    def scene(self, face_materials: tuple[int, ...], lights: tuple[Light, ...]) -> SyntheticScene:
        """The finished scene: everything added so far, ambient light and outdoor distance drawn last."""
        return SyntheticScene(
            size=self.size,
            face_materials=face_materials,
            decals=tuple(self.decals),
            cuboids=tuple(self.cuboids),
            cylinders=tuple(self.cylinders),
            spheres=tuple(self.spheres),
            materials=tuple(self.materials),
            lights=lights,
            ambient=self.uniform(0.3, 0.45),
            outside_distance_m=self.uniform(4.0, 20.0),
            trajectory=self.camera,
            texture_seed=int(self.rng.integers(2**31)),
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
        darker = self.jitter((base[0] * 0.55, base[1] * 0.55, base[2] * 0.55))
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
        self,
        anchor: np.ndarray,
        yaw: float,
        center_xy: Sequence[float],
        half_xy: Sequence[float] | np.ndarray,
        top: float,
    ) -> bool:
        """Whether a footprint keeps clear of the camera path: 0.45 m for items the camera could
        hit, 0.15 m for items below its lowest height (the camera passes over them)."""
        lowest_camera = self.camera.lowest_height_m
        margin = 0.45 if top > lowest_camera - 0.1 else 0.15
        rotation = yaw_matrix(yaw)[:2, :2]
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
        world = anchor + yaw_matrix(yaw) @ np.asarray(center)
        self.cuboids.append(Cuboid((float(world[0]), float(world[1]), float(world[2])), half, float(yaw), material))

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
                Material("paint", self.jitter(self.pick(PAINTED)), period_m=1.0, specular=self.uniform(0.1, 0.5))
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
        fabric = self.material(Material("fabric", self.jitter(self.pick(FABRICS)), period_m=0.2))
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
                "art", self.jitter(self.pick(FABRICS), 0.3), self.jitter(self.pick(_WALL_PAINTS), 0.3), period_m=0.6
            )
        )
        half_height = width * self.uniform(0.3, 0.65)
        self.part(anchor, yaw, (0.0, depth / 2, self.uniform(1.35, 1.7)), (width / 2, depth / 2, half_height), art)

    def plant(self, anchor: np.ndarray, yaw: float, width: float, depth: float) -> None:
        x, y, _ = anchor + yaw_matrix(yaw) @ np.array([0.0, depth / 2, 0.0])
        pot_color = self.jitter(self.pick(((0.6, 0.35, 0.25), (0.85, 0.85, 0.85), (0.15, 0.15, 0.15))))
        pot = self.material(Material("paint", pot_color, period_m=1.0, specular=0.2))
        leaves = self.material(Material("art", (0.12, 0.3, 0.08), (0.3, 0.5, 0.15), period_m=0.08, dropout=0.25))
        radius, height, crown = self.uniform(0.12, 0.2), self.uniform(0.3, 0.5), self.uniform(0.22, 0.3)
        self.cylinders.append(Cylinder((float(x), float(y)), 0.0, height, radius, pot))
        self.spheres.append(Sphere((float(x), float(y), height + crown * 0.8), crown, leaves))

    def lamp(self, anchor: np.ndarray, yaw: float, width: float, depth: float) -> None:
        x, y, _ = anchor + yaw_matrix(yaw) @ np.array([0.0, depth / 2, 0.0])
        xy = (float(x), float(y))
        metal = self.material(Material("metal", (0.25, 0.25, 0.27), period_m=0.3, specular=0.9, dropout=0.3))
        shade = self.material(Material("fabric", self.jitter((0.9, 0.86, 0.75)), period_m=0.2))
        height = self.uniform(1.4, 1.7)
        self.cylinders.append(Cylinder(xy, 0.0, 0.03, 0.15, metal))
        self.cylinders.append(Cylinder(xy, 0.03, height, 0.015, metal))
        self.cylinders.append(Cylinder(xy, height, height + 0.3, self.uniform(0.15, 0.22), shade))

    def dining_set(self, loop: Trajectory) -> None:
        """A table inside the camera loop (the camera passes over its edges, as in hand-held
        kitchen sequences), chairs around it and a few objects on it: mugs, glasses, books."""
        rng = self.rng
        anchor = np.array([*loop.center_xy, 0.0])
        yaw = self.uniform(-0.15, 0.15)
        height = self.uniform(0.72, 0.78)
        half = np.minimum((self.uniform(0.4, 0.9), self.uniform(0.35, 0.6)), np.asarray(loop.radii) - 0.1)
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
            chair_anchor = anchor + yaw_matrix(yaw) @ np.array(
                [x + self.uniform(-0.1, 0.1), y + self.uniform(-0.1, 0.1), 0.0]
            )
            chair_yaw = yaw + facing + self.uniform(-0.3, 0.3)
            if self.clear_of_path(chair_anchor, chair_yaw, (0.0, 0.0), (0.25, 0.3), 0.9):
                self.chair(chair_anchor, chair_yaw, chair_wood)
        for _ in range(int(rng.integers(1, 6))):
            spot = anchor + yaw_matrix(yaw) @ np.array(
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
            color = (0.04, 0.04, 0.05) if dark else self.jitter(self.pick(PAINTED + FABRICS), 0.2)
            material = self.material(Material("paint", color, period_m=1.0, specular=0.6, dropout=0.8 if dark else 0.0))
            height, radius = (0.1, 0.045) if kind == "mug" else (self.uniform(0.2, 0.3), 0.04)
            self.cylinders.append(Cylinder((x, y), z, z + height, radius, material))
        elif kind == "book":
            cover = self.material(Material("paint", self.jitter(self.pick(PAINTED + FABRICS), 0.2), period_m=1.0))
            half = (self.uniform(0.08, 0.15), self.uniform(0.1, 0.2), self.uniform(0.01, 0.03))
            self.cuboids.append(Cuboid((x, y, z + half[2]), half, self.uniform(0.0, np.pi), cover))
        else:
            radius = self.uniform(0.04, 0.09)
            material = self.material(
                Material("paint", self.jitter(self.pick(PAINTED), 0.2), period_m=1.0, specular=0.4)
            )
            self.spheres.append(Sphere((x, y, z + radius), radius, material))
