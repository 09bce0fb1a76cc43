"""Procedural indoor RGB-D frames: colour, dense ground truth and realistic raw depth, no download.

Training needs unlimited frames with perfect ground truth, tests need known answers (a glass
pane must come out as a hole), and the README's streaming demo needs a camera moving through
a room at 30 Hz. Each scene is a room (floor, ceiling, walls with windows and doors) furnished
with analytic solids (cuboids, vertical cylinders, spheres) that carry procedural materials;
``kind="tabletop"`` scenes put a table 0.4-1.2 m in front of a RealSense-like camera with
transparent, specular, dark and matte objects on it.

The raw depth is the ground truth as a structured-light camera would measure it: transparent
surfaces return nothing or the depth behind them, dark and shiny materials lose large clumps,
grazing surfaces drop out, the projector leaves occlusion shadows beside edges, the range is
limited, noise grows with z squared and values are quantised (see :class:`SensorModel` and
:mod:`depth_completion_ros.holes`).

One module per job: ``primitives`` (materials, solids, decals, lights), ``textures``
(procedural albedo patterns), ``raycast`` (camera rays, intersections, normals), ``sensor``
(the depth camera model), ``scene`` (a scene and its renderer), ``camera_paths``, ``rooms``
(random furnished rooms), ``tabletop`` (random tabletops, the RealSense-like camera) and
``sequences`` (the entry points below). The command line lives in
``depth_completion_ros.cli.synthetic``.
"""
from .camera_paths import OrbitPath, Trajectory
from .primitives import Cuboid, Cylinder, Decal, Light, Material, Primitive, Sphere
from .rooms import random_room
from .scene import SyntheticSample, SyntheticScene
from .sensor import SENSOR_HOLES, SensorModel, default_intrinsics
from .sequences import SCENE_KINDS, SceneKind, generate_sample, preview_grid, render_sequence
from .tabletop import REALSENSE_SENSOR, random_tabletop, realsense_intrinsics
from .textures import PATTERNS

__all__ = [
    "PATTERNS",
    "REALSENSE_SENSOR",
    "SCENE_KINDS",
    "SENSOR_HOLES",
    "Cuboid",
    "Cylinder",
    "Decal",
    "Light",
    "Material",
    "OrbitPath",
    "Primitive",
    "SceneKind",
    "SensorModel",
    "Sphere",
    "SyntheticSample",
    "SyntheticScene",
    "Trajectory",
    "default_intrinsics",
    "generate_sample",
    "preview_grid",
    "random_room",
    "random_tabletop",
    "realsense_intrinsics",
    "render_sequence",
]
