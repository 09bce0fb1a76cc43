"""Enumerate and load RGB-D frames from the dataset layouts our users have.

Layouts (``discover_frames(root, layout="auto")``):

``matterport``
    The indoor depth-completion benchmark (Zhang & Funkhouser 2018):
    ``<scene>/undistorted_color_images/resize_<pano>_i1_<k>.jpg``,
    ``<scene>/undistorted_depth_images/resize_<pano>_d1_<k>.png`` (1/4000 m) and
    ``<scene>/render_depth/resize_<pano>_d1_<k>_mesh_depth.png`` (dense ground truth).
    The frames were resized with interpolation, so raw depth below ``MATTERPORT_MIN_DEPTH``
    is treated as invalid (the fake rim around holes).
``frames``
    ``frame-XXXXXX.color.{jpg,png}`` + ``frame-XXXXXX.depth.png`` (millimetres, 65535 invalid),
    optional ``camera-intrinsics.txt``: Microsoft 7-Scenes and the seed's data0929 recordings.
``cleargrasp``
    ``N-transparent-depth-img.exr`` (raw, metres), ``N-transparent-rgb-img.jpg``,
    ``N-opaque-depth-img.exr`` (reference), ``N-mask.png`` (transparent objects),
    ``camera_intrinsics.yaml``.
``depth_folder``
    Any folder of depth images (``.png`` in ``depth_scale`` units, ``.exr``/``.npy`` metres).
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .depth_io import DEPTH_SCALES, DEPTH_SUFFIXES, DepthIOError, read_color, read_depth, read_mask
from .geometry import CameraIntrinsics, read_intrinsics

#: Raw Matterport depth below this is resize-rim garbage, not a measurement (data/README.md).
MATTERPORT_MIN_DEPTH = 0.2
LAYOUTS = ("matterport", "frames", "cleargrasp", "depth_folder")


@dataclass(frozen=True)
class Frame:
    """Where one RGB-D frame's files are and how to decode them (nothing is read yet)."""

    name: str
    layout: str
    depth: Path
    color: Path | None = None
    gt: Path | None = None
    mask: Path | None = None
    intrinsics_file: Path | None = None
    depth_scale: float = 1000.0
    min_depth: float = 0.0


@dataclass
class Sample:
    """A loaded frame: depth and ground truth in float32 metres (0 = invalid), colour uint8 RGB."""

    name: str
    depth: np.ndarray
    rgb: np.ndarray | None = None
    gt: np.ndarray | None = None
    mask: np.ndarray | None = None
    intrinsics: CameraIntrinsics | None = None


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def _matterport(root: Path, depth_scale: float | None) -> list[Frame]:
    frames = []
    for depth in sorted(root.glob("**/undistorted_depth_images/*.png")):
        scene_dir = depth.parent.parent
        stem = depth.stem  # resize_<pano>_d1_<k>
        color_stem = re.sub(r"_d(\d)_(\d+)$", r"_i\1_\2", stem)
        color = next((p for p in (scene_dir / "undistorted_color_images").glob(color_stem + ".*")), None)
        frames.append(
            Frame(
                name=f"{scene_dir.name}/{stem}",
                layout="matterport",
                depth=depth,
                color=color,
                gt=_existing(scene_dir / "render_depth" / f"{stem}_mesh_depth.png"),
                depth_scale=depth_scale or DEPTH_SCALES["matterport"],
                min_depth=MATTERPORT_MIN_DEPTH,
            )
        )
    return frames


def _frame_sequence(root: Path, depth_scale: float | None) -> list[Frame]:
    intrinsics = root / "camera-intrinsics.txt"
    frames = []
    for depth in sorted(root.glob("frame-*.depth.png")):
        prefix = depth.name[: -len(".depth.png")]
        color = _existing(root / f"{prefix}.color.jpg") or _existing(root / f"{prefix}.color.png")
        frames.append(
            Frame(
                name=prefix,
                layout="frames",
                depth=depth,
                color=color,
                intrinsics_file=_existing(intrinsics),
                depth_scale=depth_scale or DEPTH_SCALES["mm"],
            )
        )
    return frames


def _cleargrasp(root: Path, depth_scale: float | None) -> list[Frame]:
    intrinsics = root / "camera_intrinsics.yaml"
    frames = []
    for depth in sorted(root.glob("*-transparent-depth-img.exr")):
        prefix = depth.name.split("-", 1)[0]
        frames.append(
            Frame(
                name=prefix,
                layout="cleargrasp",
                depth=depth,
                color=_existing(root / f"{prefix}-transparent-rgb-img.jpg"),
                gt=_existing(root / f"{prefix}-opaque-depth-img.exr"),
                mask=_existing(root / f"{prefix}-mask.png"),
                intrinsics_file=_existing(intrinsics),
                depth_scale=depth_scale or 1.0,
            )
        )
    return frames


def _depth_folder(root: Path, depth_scale: float | None) -> list[Frame]:
    paths = sorted(p for p in root.iterdir() if p.suffix.lower() in DEPTH_SUFFIXES and not p.name.startswith("."))
    return [
        Frame(name=p.stem, layout="depth_folder", depth=p, depth_scale=depth_scale or DEPTH_SCALES["mm"]) for p in paths
    ]


_FINDERS: dict[str, Callable[[Path, float | None], list[Frame]]] = {
    "matterport": _matterport,
    "frames": _frame_sequence,
    "cleargrasp": _cleargrasp,
    "depth_folder": _depth_folder,
}


def detect_layout(root: str | os.PathLike) -> str:
    """Name the layout of ``root`` by the files it holds (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such dataset folder")
    if next(root.glob("**/undistorted_depth_images/*.png"), None) is not None:
        return "matterport"
    if next(root.glob("frame-*.depth.png"), None) is not None:
        return "frames"
    if next(root.glob("*-transparent-depth-img.exr"), None) is not None:
        return "cleargrasp"
    if any(p.suffix.lower() in DEPTH_SUFFIXES for p in root.iterdir()):
        return "depth_folder"
    raise ValueError(
        f"{root}: no known RGB-D layout (expected Matterport3D undistorted_depth_images/, "
        "frame-XXXXXX.depth.png, ClearGrasp *-transparent-depth-img.exr or depth images)"
    )


def discover_frames(root: str | os.PathLike, layout: str = "auto", depth_scale: float | None = None) -> list[Frame]:
    """List the frames under ``root`` in a stable (sorted) order.

    ``depth_scale`` overrides the layout's 16-bit units per metre (e.g. 5000 for TUM).
    """
    root = Path(root)
    if layout == "auto":
        layout = detect_layout(root)
    if layout not in _FINDERS:
        raise ValueError(f"unknown layout {layout!r} (use one of {', '.join(LAYOUTS)} or 'auto')")
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such dataset folder")
    frames = _FINDERS[layout](root, depth_scale)
    if not frames:
        raise ValueError(f"{root}: no frames found for layout {layout!r}")
    return frames


def load_frame(frame: Frame, with_rgb: bool = True) -> Sample:
    """Read one frame's files; colour and depth must have the same size."""
    depth = read_depth(frame.depth, scale=frame.depth_scale, min_depth=frame.min_depth)
    height, width = depth.shape
    rgb = read_color(frame.color) if (with_rgb and frame.color is not None) else None
    if rgb is not None and rgb.shape[:2] != depth.shape:
        raise DepthIOError(
            f"{frame.color}: colour is {rgb.shape[1]}x{rgb.shape[0]} but depth is {width}x{height}; "
            "register colour to depth first"
        )
    gt = read_depth(frame.gt, scale=frame.depth_scale) if frame.gt is not None else None
    if gt is not None and gt.shape != depth.shape:
        raise DepthIOError(f"{frame.gt}: ground truth is {gt.shape[::-1]} but depth is {depth.shape[::-1]}")
    mask = read_mask(frame.mask) if frame.mask is not None else None
    intrinsics = read_intrinsics(frame.intrinsics_file, width, height) if frame.intrinsics_file else None
    if intrinsics is not None and (intrinsics.width, intrinsics.height) != (width, height):
        intrinsics = intrinsics.scaled(width, height)
    return Sample(name=frame.name, depth=depth, rgb=rgb, gt=gt, mask=mask, intrinsics=intrinsics)
