"""Procedural indoor RGB-D frames: colour, dense ground truth and realistic raw depth, no download.

Training needs unlimited frames with perfect ground truth, tests need known answers (a glass
pane must come out as a hole), and the README's streaming demo needs a camera moving through
a room at 30 Hz. Each scene is a room (floor, ceiling, walls with windows and doors) furnished
with analytic solids (cuboids, vertical cylinders, spheres) that carry procedural materials.

The raw depth is the ground truth as a structured-light camera would measure it: transparent
surfaces return nothing or the depth behind them, dark and shiny materials lose large clumps,
grazing surfaces drop out, the projector leaves occlusion shadows beside edges, the range is
limited, noise grows with z squared and values are quantised (see :class:`SensorModel` and
:mod:`depth_completion_ros.holes`).

One module per job: ``primitives`` (materials, solids, decals, lights), ``textures``
(procedural albedo patterns), ``raycast`` (camera rays, intersections, normals), ``sensor``
(the depth camera model), ``scene`` (a scene and its renderer), ``camera_paths``, ``rooms``
(random furnished rooms) and ``sequences`` (the entry points below). The command line lives in
``depth_completion_ros.cli.synthetic``.
"""
from .camera_paths import Trajectory
from .primitives import Cuboid, Cylinder, Decal, Light, Material, Primitive, Sphere
from .rooms import random_room
from .scene import SyntheticSample, SyntheticScene
from .sensor import SENSOR_HOLES, SensorModel, default_intrinsics
from .sequences import generate_sample, preview_grid, render_sequence
from .textures import PATTERNS

__all__ = [
    "PATTERNS",
    "SENSOR_HOLES",
    "Cuboid",
    "Cylinder",
    "Decal",
    "Light",
    "Material",
    "Primitive",
    "SensorModel",
    "Sphere",
    "SyntheticSample",
    "SyntheticScene",
    "Trajectory",
    "default_intrinsics",
    "generate_sample",
    "preview_grid",
    "random_room",
    "render_sequence",
]
