"""Tabletop scenes: a table or desk 0.4-1.2 m in front of a RealSense-class camera, objects on it.

Manipulation and tabletop perception look down at a table from arm's length, where active
stereo cameras (RealSense D400) fail on the very objects that matter: glass returns nothing or
the table behind it, shiny objects lose their depth where the projector's pattern is drowned by
a highlight, dark objects absorb it, and the left imager leaves a shadow beside every object and
an invalid band along the left image edge. Each scene here is a room (the background) with a
table inside it, 3-9 boxes, cylinders and spheres on the table in four material classes
(matte, transparent, specular, dark), a lamp near the table for highlights, and a camera that
circles the table looking at a point on it (:class:`camera_paths.OrbitPath`).
"""
from __future__ import annotations

import math

import numpy as np

from ..geometry import CameraIntrinsics
from ..holes import HoleSimulator
from .camera_paths import OrbitPath
from .primitives import Cuboid, Cylinder, Light, Material, Sphere, yaw_matrix
from .rooms import FABRICS, PAINTED, RoomBuilder
from .scene import SyntheticScene
from .sensor import SensorModel

#: Colour focal length per pixel of image width of a RealSense D435 at 640x480 (fx ≈ 615 px).
REALSENSE_FOCAL_PER_WIDTH = 615.0 / 640.0
#: Stereo baseline of the RealSense D435 (m): shadow width and the left invalid band.
REALSENSE_BASELINE_M = 0.05

#: Holes of a RealSense-class camera beyond those the materials cause: the left imager's
#: occlusion shadow beside every object, lost stretches along depth edges, a minimum range of
#: about 0.15 m, few random blobs (the materials decide where surfaces fail).
REALSENSE_HOLES = HoleSimulator(
    blob_probability=0.1,
    polygon_probability=0.0,
    appearance_probability=0.0,
    shadow_probability=1.0,
    shadow_baseline_m=(REALSENSE_BASELINE_M, REALSENSE_BASELINE_M),
    shadow_side="left",
    edge_probability=0.7,
    edge_width_px=(1, 2),
    min_range_m=(0.12, 0.18),
    max_range_m=(6.0, 10.0),
    speckle_probability=0.7,
    speckle_density=(0.0005, 0.003),
)

#: A RealSense D400-class active stereo camera at tabletop range: noise from about 1 mm at
#: 0.4 m to 5 mm at 1.2 m, glass seen through about half the time, dropouts at highlights and
#: the invalid band along the left edge.
REALSENSE_SENSOR = SensorModel(
    holes=REALSENSE_HOLES,
    noise_sigma_m=(0.001, 0.006),
    quantisation_m=0.001,
    grazing_cos=(0.1, 0.25),
    see_through=0.5,
    dropout_scale=0.03,
    highlight_dropout=(0.2, 0.5),
    left_band_baseline_m=REALSENSE_BASELINE_M,
)

#: Material classes of tabletop objects and their shares.
OBJECT_CLASSES = {"matte": 0.4, "transparent": 0.22, "specular": 0.22, "dark": 0.16}


def realsense_intrinsics(width: int, height: int) -> CameraIntrinsics:
    """A RealSense D435-like colour camera (fx ≈ 615 px at 640x480, about 55 degrees wide) at any size."""
    focal = REALSENSE_FOCAL_PER_WIDTH * width
    return CameraIntrinsics(fx=focal, fy=focal, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0, width=width, height=height)


def random_tabletop(seed: int | np.random.SeedSequence) -> SyntheticScene:
    """A random tabletop scene with its camera path, deterministic given ``seed``."""
    return TabletopBuilder(np.random.default_rng(seed)).build()


class TabletopBuilder(RoomBuilder):
    """Draws one tabletop scene: a room shell, a table in it, objects on the table, the orbit."""

    def build(self) -> SyntheticScene:
        face_materials = self.shell()
        anchor, yaw, half, height = self.table()
        target_local = np.array([self.uniform(-0.4, 0.4) * half[0], self.uniform(-0.4, 0.4) * half[1], height])
        target = anchor + yaw_matrix(yaw) @ target_local
        self.set_camera(self.orbit(target))
        self.furnish_walls()
        self.objects(anchor, yaw, half, target)
        return self.scene(face_materials, (*self.lights(), self.desk_lamp(target)))

    def table(self) -> tuple[np.ndarray, float, np.ndarray, float]:
        """A table or desk near the middle of the room; returns its anchor, yaw, half size, height."""
        length, width, _ = self.size
        anchor = np.array([length / 2 + self.uniform(-0.3, 0.3), width / 2 + self.uniform(-0.3, 0.3), 0.0])
        yaw = self.uniform(-np.pi, np.pi)
        half = np.array([self.uniform(0.55, 0.9), self.uniform(0.35, 0.55)])
        height = self.uniform(0.68, 0.8)
        if self.rng.random() < 0.5:
            top = self.wood()
        else:
            laminate = self.pick(((0.72, 0.72, 0.69), (0.6, 0.62, 0.62), (0.68, 0.64, 0.56), (0.25, 0.25, 0.27)))
            gloss = self.uniform(0.02, 0.2)
            top = self.material(Material("paint", self.jitter(laminate), period_m=1.0, specular=gloss))
        self.part(anchor, yaw, (0.0, 0.0, height - 0.015), (half[0], half[1], 0.015), top)
        leg_height = (height - 0.03) / 2
        legs = self.wood()
        for sx in (-1, 1):
            for sy in (-1, 1):
                centre = (sx * (half[0] - 0.05), sy * (half[1] - 0.05), leg_height)
                self.part(anchor, yaw, centre, (0.025, 0.025, leg_height), legs)
        return anchor, yaw, half, height

    def orbit(self, target: np.ndarray) -> OrbitPath:
        """A camera 0.4-1.2 m from a point on the table, 35-72 degrees above it, circling slowly."""

        def phase() -> float:
            return self.uniform(0.0, 2 * np.pi)

        return OrbitPath(
            target=(float(target[0]), float(target[1]), float(target[2])),
            distance_m=self.uniform(0.5, 1.05),
            distance_sweep=(self.uniform(0.0, 0.1), self.uniform(0.03, 0.1), phase()),
            elevation=self.uniform(0.6, 1.25),
            elevation_sweep=(self.uniform(0.0, 0.08), self.uniform(0.03, 0.1), phase()),
            start_angle=phase(),
            angular_speed=self.uniform(0.1, 0.3) * self.pick((-1.0, 1.0)),
            aim_wander_m=self.uniform(0.02, 0.08),
            roll=(self.uniform(0.0, 0.05), self.uniform(0.05, 0.15), phase()),
        )

    def desk_lamp(self, target: np.ndarray) -> Light:
        """A lamp above and beside the table: highlights on the objects, seen from the orbit."""
        angle = self.uniform(0.0, 2 * np.pi)
        reach = self.uniform(0.3, 0.9)
        position = (
            float(target[0] + reach * math.cos(angle)),
            float(target[1] + reach * math.sin(angle)),
            float(target[2] + self.uniform(0.5, 1.1)),
        )
        return Light(position, self.uniform(0.2, 0.5))

    def objects(self, anchor: np.ndarray, yaw: float, half: np.ndarray, target: np.ndarray) -> None:
        """3-9 objects on the table around the point the camera looks at, never overlapping."""
        rotation = yaw_matrix(yaw)
        local_target = (rotation.T @ (target - anchor))[:2]
        spread = 0.45 * self.camera.distance_m if isinstance(self.camera, OrbitPath) else 0.3
        placed: list[tuple[np.ndarray, float]] = []
        for _ in range(int(self.rng.integers(3, 10))):
            shape = self.pick(("cuboid", "cylinder", "cylinder", "sphere"))
            footprint = self.uniform(0.025, 0.07)
            for _attempt in range(30):
                reach, angle = self.uniform(0.0, spread), self.uniform(0.0, 2 * np.pi)
                spot = local_target + reach * np.array([math.cos(angle), math.sin(angle)])
                inside = np.all(np.abs(spot) <= half - footprint - 0.02)
                if inside and all(np.linalg.norm(spot - other) > footprint + size + 0.01 for other, size in placed):
                    placed.append((spot, footprint))
                    world = anchor + rotation @ np.array([spot[0], spot[1], target[2] - anchor[2]])
                    self.table_object(shape, world, footprint, self.object_material())
                    break

    def table_object(self, shape: str, base: np.ndarray, footprint: float, material: int) -> None:
        """A box, cylinder (can, mug, bottle, glass) or sphere (ball, fruit) standing at ``base``."""
        x, y, z = (float(c) for c in base)
        if shape == "cuboid":
            side = footprint / math.sqrt(2)
            half = (side * self.uniform(0.6, 1.0), side * self.uniform(0.6, 1.0), self.uniform(0.015, 0.1))
            self.cuboids.append(Cuboid((x, y, z + half[2]), half, self.uniform(0.0, np.pi), material))
        elif shape == "cylinder":
            height = self.uniform(0.05, 0.25)
            self.cylinders.append(Cylinder((x, y), z, z + height, footprint * self.uniform(0.6, 1.0), material))
        else:
            radius = footprint * self.uniform(0.6, 1.0)
            self.spheres.append(Sphere((x, y, z + radius), radius, material))

    def object_material(self) -> int:
        """A material of one of the OBJECT_CLASSES, drawn by their shares."""
        classes, shares = zip(*OBJECT_CLASSES.items(), strict=True)
        kind = classes[int(self.rng.choice(len(classes), p=np.asarray(shares) / sum(shares)))]
        if kind == "transparent":  # glass: the sensor sees through or nothing; the eye sees the table
            tint = self.jitter((0.78, 0.82, 0.85), 0.05)
            gloss = self.uniform(1.0, 1.5)
            return self.material(Material("metal", tint, period_m=0.2, specular=gloss, transparent=True))
        if kind == "specular":  # polished metal or glossy paint: highlights blind the projector
            if self.rng.random() < 0.5:
                metal = self.jitter(self.pick(((0.6, 0.6, 0.62), (0.75, 0.7, 0.55), (0.55, 0.45, 0.4))), 0.08)
                return self.material(Material("metal", metal, period_m=0.3, specular=self.uniform(1.0, 1.6)))
            glossy_paint = self.jitter(self.pick(PAINTED), 0.2)
            return self.material(Material("paint", glossy_paint, period_m=1.0, specular=self.uniform(0.7, 1.2)))
        if kind == "dark":  # black plastic, dark fabric: absorbs the projector, mostly missing
            black = (self.uniform(0.02, 0.07), self.uniform(0.02, 0.07), self.uniform(0.02, 0.07))
            gloss, dropout = self.uniform(0.1, 0.4), self.uniform(0.85, 0.97)
            return self.material(Material("paint", black, period_m=1.0, specular=gloss, dropout=dropout))
        colour = self.jitter(self.pick(PAINTED + FABRICS + ((0.9, 0.75, 0.2), (0.3, 0.6, 0.3))), 0.2)
        pattern = self.pick(("paint", "fabric", "art"))
        accent = self.jitter(colour, 0.4)
        return self.material(Material(pattern, colour, accent, period_m=0.1, specular=self.uniform(0.0, 0.25)))
