"""Small RGB-D datasets written from the project's own synthetic renderer, one per supported layout.

The tests of readers, the CLI, bags, training, evaluation, visualisation and the node run on
these, so a fresh clone without ``../shared`` still exercises them on frames with real structure:
rooms and tabletops with glass, dark and shiny materials, projector shadows and range limits
(:mod:`depth_completion_ros.synthetic`). Each writer stores the frames exactly as the real
dataset of that layout stores them (file names, units, invalid-pixel markers, intrinsics files),
so the same code paths read them.
"""
from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml

from depth_completion_ros.depth_io import DEPTH_SCALES, UINT16_SENTINEL, depth_to_units, write_color, write_depth
from depth_completion_ros.geometry import CameraIntrinsics
from depth_completion_ros.synthetic import SyntheticSample, generate_sample, render_sequence

#: Kinect-like sequence (7-Scenes layout): frames of one camera path through a room.
KITCHEN_SIZE = (640, 480)
KITCHEN_FRAMES = 6
#: Frames of the kitchen sequence whose invalid pixels are stored as 65535 (as the Kinect
#: recordings of 7-Scenes do in places); the others store 0.
KITCHEN_SENTINEL_FRAMES = (4,)
#: Matterport3D benchmark layout: two scenes, three frames, at the benchmark's size.
MATTERPORT_SIZE = (320, 256)
#: ClearGrasp-like RealSense tabletops (EXR metres, transparent-object masks, opaque references).
CLEARGRASP_SIZE = (640, 360)


def _intrinsics_matrix(intrinsics: CameraIntrinsics) -> np.ndarray:
    return np.array([[intrinsics.fx, 0.0, intrinsics.cx], [0.0, intrinsics.fy, intrinsics.cy], [0.0, 0.0, 1.0]])


def _write_png16(path: Path, units: np.ndarray) -> None:
    """Stored units as they are (write_depth encodes metres and never writes the 65535 marker)."""
    if not cv2.imwrite(str(path), units):
        raise OSError(f"{path}: could not write the 16-bit PNG")


def write_frame_sequence(
    root: Path, samples: Iterable[SyntheticSample], sentinel_frames: Sequence[int] = (), color_suffix: str = ".jpg"
) -> Path:
    """``frame-XXXXXX.{color,depth,pose}`` + ``camera-intrinsics.txt`` (7-Scenes, RealSense tabletops).

    Depth is 16-bit millimetres with 0 for no return, except in ``sentinel_frames``, which mark
    no return with 65535 like Kinect recordings.
    """
    root.mkdir(parents=True, exist_ok=True)
    intrinsics = None
    for index, sample in enumerate(samples):
        prefix = root / f"frame-{index:06d}"
        units = depth_to_units(sample.raw, DEPTH_SCALES["mm"])
        if index in sentinel_frames:
            units[units == 0] = UINT16_SENTINEL
        _write_png16(prefix.with_name(prefix.name + ".depth.png"), units)
        write_color(prefix.with_name(prefix.name + f".color{color_suffix}"), sample.rgb)
        np.savetxt(prefix.with_name(prefix.name + ".pose.txt"), sample.pose, fmt="%.9f")
        intrinsics = sample.intrinsics
    if intrinsics is None:
        raise ValueError(f"{root}: no frames to write")
    np.savetxt(root / "camera-intrinsics.txt", _intrinsics_matrix(intrinsics), fmt="%.6f")
    return root


def write_matterport(root: Path, scenes: dict[str, Sequence[SyntheticSample]]) -> Path:
    """``<scene>/undistorted_{color,depth}_images`` + ``render_depth`` ground truth, 1/4000 m PNGs."""
    scale = DEPTH_SCALES["matterport"]
    for scene, samples in scenes.items():
        for index, sample in enumerate(samples):
            stem = f"resize_{scene.lower()}{index:02d}"
            write_color(root / scene / "undistorted_color_images" / f"{stem}_i1_{index}.jpg", sample.rgb)
            write_depth(root / scene / "undistorted_depth_images" / f"{stem}_d1_{index}.png", sample.raw, scale=scale)
            write_depth(root / scene / "render_depth" / f"{stem}_d1_{index}_mesh_depth.png", sample.gt, scale=scale)
    return root


def write_cleargrasp(root: Path, samples: Sequence[SyntheticSample]) -> Path:
    """``N-transparent-{depth-img.exr,rgb-img.jpg}``, ``N-opaque-depth-img.exr``, ``N-mask.png`` and
    ``camera_intrinsics.yaml``: raw RealSense depth, its reference and the transparent objects."""
    root.mkdir(parents=True, exist_ok=True)
    for index, sample in enumerate(samples):
        prefix = f"{index:09d}"
        # As ClearGrasp stores it: three identical float channels, NaN where the camera saw nothing.
        raw = np.where(sample.raw > 0, sample.raw, np.nan).astype(np.float32)
        if not cv2.imwrite(str(root / f"{prefix}-transparent-depth-img.exr"), np.dstack([raw] * 3)):
            raise OSError(f"{root}: could not write the EXR depth of frame {prefix}")
        write_depth(root / f"{prefix}-opaque-depth-img.exr", sample.gt)
        write_color(root / f"{prefix}-transparent-rgb-img.jpg", sample.rgb)
        write_color(root / f"{prefix}-mask.png", sample.transparent.astype(np.uint8) * 255)
    intrinsics = samples[0].intrinsics
    (root / "camera_intrinsics.yaml").write_text(yaml.safe_dump({
        "fx": intrinsics.fx, "fy": intrinsics.fy, "cx": intrinsics.cx, "cy": intrinsics.cy,
        "xres": intrinsics.width, "yres": intrinsics.height,
    }))
    return root


def write_color_depth(root: Path, samples: Iterable[SyntheticSample]) -> Path:
    """``color/NNNNN.jpg`` + ``depth/NNNNN.png`` (millimetres): a user's own recording script."""
    for index, sample in enumerate(samples):
        write_color(root / "color" / f"{index:05d}.jpg", sample.rgb)
        write_depth(root / "depth" / f"{index:05d}.png", sample.raw)
    return root


def write_depth_folder(root: Path, samples: Iterable[SyntheticSample]) -> Path:
    """A plain folder of millimetre depth PNGs, no colour."""
    for index, sample in enumerate(samples):
        write_depth(root / f"{index:04d}.png", sample.raw)
    return root


@functools.cache
def kitchen_samples() -> tuple[SyntheticSample, ...]:
    """The Kinect-like room sequence (a camera walking at 6 Hz, so consecutive frames differ)."""
    width, height = KITCHEN_SIZE
    return tuple(render_sequence(seed=17, num_frames=KITCHEN_FRAMES, width=width, height=height, fps=6.0))


@functools.cache
def cup_samples() -> tuple[SyntheticSample, ...]:
    """A RealSense-like camera circling a table at 640x360 (like ../shared's cup_sequence)."""
    return tuple(render_sequence(seed=5, num_frames=4, width=640, height=360, fps=10.0, kind="tabletop"))


def repeat_frames(sequence: Path, folder: Path, count: int) -> Path:
    """A ``count``-frame recording in the 7-Scenes layout made by cycling through ``sequence``'s frames
    (for runs long enough to interrupt, or a sequence as long as a real one); files are hard links."""
    sources = sorted(sequence.glob("frame-*.depth.png"))
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        source = sources[index % len(sources)].name[: -len(".depth.png")]
        for kind in (".depth.png", ".color.jpg", ".pose.txt"):
            os.link(sequence / (source + kind), folder / f"frame-{index:06d}{kind}")
    shutil.copy(sequence / "camera-intrinsics.txt", folder)
    return folder


def matterport_scenes() -> dict[str, list[SyntheticSample]]:
    width, height = MATTERPORT_SIZE
    return {
        "GenScene0001": [generate_sample(seed, width, height) for seed in (26, 36)],
        "GenScene0002": [generate_sample(49, width, height)],
    }


def cleargrasp_samples() -> list[SyntheticSample]:
    width, height = CLEARGRASP_SIZE
    return [generate_sample(seed, width, height, kind="tabletop") for seed in (30, 44)]


def tabletop_samples() -> list[SyntheticSample]:
    """Three RealSense-like 640x480 tabletop frames."""
    return [generate_sample(seed, 640, 480, kind="tabletop") for seed in (40, 41, 44)]
