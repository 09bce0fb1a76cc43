"""Camera paths through a scene: smooth, closed, sampled at any time (30 Hz sequences, single frames).

Both paths answer the same questions: the camera-to-world ``pose(time_s)``, the ``period_s`` of
one loop, and where the camera passes (``path_xy`` and ``lowest_height_m``) so furniture keeps
clear of it. :class:`Trajectory` walks through a room; :class:`OrbitPath` circles a tabletop.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: World up (z).
UP = np.array([0.0, 0.0, 1.0])


def _wave(sweep: tuple[float, float, float], time_s: float) -> float:
    """A sinusoid ``(amplitude, frequency in Hz, phase)`` at ``time_s``."""
    amplitude, frequency, phase = sweep
    return amplitude * math.sin(2 * np.pi * frequency * time_s + phase)


def camera_pose(position: np.ndarray, forward: np.ndarray, roll: float) -> np.ndarray:
    """4x4 camera-to-world pose at ``position`` looking along unit ``forward``, rolled by ``roll``
    (camera x right, y down, z forward; world z up)."""
    right = np.cross(forward, UP)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    right, down = math.cos(roll) * right + math.sin(roll) * down, math.cos(roll) * down - math.sin(roll) * right
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = position
    return pose


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

    @property
    def period_s(self) -> float:
        """Seconds of one loop around the ellipse."""
        return 2 * np.pi / abs(self.angular_speed)

    @property
    def lowest_height_m(self) -> float:
        """The lowest the camera gets (furniture below it can stand closer to the path)."""
        return self.height_m - self.bob[0]

    def path_xy(self, samples: int = 96) -> np.ndarray:
        """Points along the whole loop (for keeping furniture off the camera's way)."""
        angles = np.linspace(0.0, 2.0 * np.pi, samples, endpoint=False)
        return np.stack(
            [self.center_xy[0] + self.radii[0] * np.cos(angles), self.center_xy[1] + self.radii[1] * np.sin(angles)], 1
        )

    def pose(self, time_s: float) -> np.ndarray:
        """4x4 camera-to-world pose (camera x right, y down, z forward; world z up)."""
        angle = self.start_angle + self.angular_speed * time_s
        yaw = angle + np.pi + _wave(self.yaw_sweep, time_s)
        pitch = self.pitch[0] + _wave(self.pitch[1:], time_s)
        position = np.array(
            [
                self.center_xy[0] + self.radii[0] * math.cos(angle),
                self.center_xy[1] + self.radii[1] * math.sin(angle),
                self.height_m + _wave(self.bob, time_s),
            ]
        )
        forward = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)])
        return camera_pose(position, forward, _wave(self.roll, time_s))


@dataclass(frozen=True)
class OrbitPath:
    """A camera circling a point of interest and looking at it: a hand-held or arm-mounted
    RGB-D camera over a tabletop.

    The camera stays ``distance_m`` (metres, with a ``distance_sweep`` sinusoid) from ``target``
    at ``elevation`` radians above the horizontal (with ``elevation_sweep``), running around it at
    ``angular_speed`` rad/s; the point it looks at wanders by up to ``aim_wander_m`` around the
    target and the camera rolls by the ``roll`` sinusoid. Sinusoids are (amplitude, frequency in
    Hz, phase).
    """

    target: tuple[float, float, float]
    distance_m: float
    distance_sweep: tuple[float, float, float]
    elevation: float
    elevation_sweep: tuple[float, float, float]
    start_angle: float
    angular_speed: float
    aim_wander_m: float
    roll: tuple[float, float, float]

    @property
    def period_s(self) -> float:
        """Seconds of one loop around the target."""
        return 2 * np.pi / abs(self.angular_speed)

    @property
    def lowest_height_m(self) -> float:
        """The lowest the camera gets."""
        nearest = self.distance_m - abs(self.distance_sweep[0])
        return self.target[2] + nearest * math.sin(self.elevation - abs(self.elevation_sweep[0]))

    def path_xy(self, samples: int = 96) -> np.ndarray:
        """Points along the loop at the mean distance and elevation."""
        angles = np.linspace(0.0, 2.0 * np.pi, samples, endpoint=False)
        reach = self.distance_m * math.cos(self.elevation)
        return np.stack([self.target[0] + reach * np.cos(angles), self.target[1] + reach * np.sin(angles)], 1)

    def pose(self, time_s: float) -> np.ndarray:
        """4x4 camera-to-world pose (camera x right, y down, z forward; world z up)."""
        angle = self.start_angle + self.angular_speed * time_s
        distance = self.distance_m + _wave(self.distance_sweep, time_s)
        elevation = self.elevation + _wave(self.elevation_sweep, time_s)
        target = np.asarray(self.target, np.float64)
        position = target + distance * np.array(
            [math.cos(elevation) * math.cos(angle), math.cos(elevation) * math.sin(angle), math.sin(elevation)]
        )
        wander = self.aim_wander_m * np.array([math.sin(0.37 * angle + 1.0), math.cos(0.29 * angle), 0.0])
        forward = target + wander - position
        return camera_pose(position, forward / np.linalg.norm(forward), _wave(self.roll, time_s))
