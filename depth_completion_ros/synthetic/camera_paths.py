"""Camera paths through a scene: smooth, closed, sampled at any time (30 Hz sequences, single frames)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: World up (z).
UP = np.array([0.0, 0.0, 1.0])


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
        right = np.cross(forward, UP)
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        right, down = math.cos(roll) * right + math.sin(roll) * down, math.cos(roll) * down - math.sin(roll) * right
        pose = np.eye(4)
        pose[:3, :3] = np.stack([right, down, forward], axis=1)
        pose[:3, 3] = position
        return pose
