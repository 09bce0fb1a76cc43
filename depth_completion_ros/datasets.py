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
    optional ``camera-intrinsics.txt`` and ``frame-XXXXXX.pose.txt`` (4x4 camera-to-world):
    Microsoft 7-Scenes, 3DMatch and recordings saved by the same scripts.
``cleargrasp``
    ``N-transparent-depth-img.exr`` (raw, metres), ``N-transparent-rgb-img.jpg``,
    ``N-opaque-depth-img.exr`` (reference), ``N-mask.png`` (transparent objects),
    ``camera_intrinsics.yaml``.
``tum``
    TUM RGB-D / ORB-SLAM2: ``rgb/`` and ``depth/`` images named by timestamp, listed in
    ``rgb.txt`` and ``depth.txt`` (``timestamp path`` lines; without them the file names are the
    timestamps), paired by ``associations.txt`` (ORB-SLAM2's ``t_rgb rgb/.. t_depth depth/..``)
    or else by nearest timestamp within ``TUM_MAX_TIME_DIFFERENCE``; optional ``groundtruth.txt``
    (``timestamp tx ty tz qx qy qz qw``, camera-to-world) gives each depth frame the pose
    nearest in time. Depth is 1/5000 m as in TUM; RealSense recording scripts write
    millimetres (``depth_scale=1000``).
``color_depth``
    A ``color/`` (or ``rgb/``) and a ``depth/`` folder whose files share their names
    (``color/00012.jpg`` + ``depth/00012.png``), as users' own recording scripts write them.
    The units of such recordings are often undocumented: ``depth_scale`` (default millimetres).
``depth_folder``
    Any folder of depth images (``.png`` in ``depth_scale`` units, ``.exr``/``.npy`` metres).

``tum`` and ``color_depth`` take intrinsics from the first of ``INTRINSICS_FILES`` in the folder.
``fused``
    The output folder of :func:`depth_completion_ros.fusion.fuse_sequence` for a recording
    elsewhere: ``fusion.json`` names the source sequence; its frames are read from there, and
    only those with a fused reference are listed.

Fused references (ray-cast from a TSDF of a posed sequence, :mod:`depth_completion_ros.fusion`)
mirror Matterport's ``render_depth``: ``render_depth/<frame>.depth.png`` (millimetres, 0 = no
reference) and ``render_depth/<frame>.weight.png`` (how many fused observations support it).
Every layout with frame names picks them up as ``gt`` when they lie in the dataset folder
itself, so the ``gt`` evaluation protocol and the training datasets use them unchanged.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .depth_io import (
    COLOR_SUFFIXES,
    DEPTH_SCALES,
    DEPTH_SUFFIXES,
    DepthIOError,
    read_color,
    read_depth,
    read_depth_raw,
    read_mask,
)
from .geometry import CameraIntrinsics, read_intrinsics

#: Raw Matterport depth below this is resize-rim garbage, not a measurement (data/README.md).
MATTERPORT_MIN_DEPTH = 0.2
LAYOUTS = ("fused", "matterport", "frames", "tum", "color_depth", "cleargrasp", "depth_folder")
#: TUM's associate.py default: colour, depth and poses further apart in time are not paired.
TUM_MAX_TIME_DIFFERENCE = 0.02
#: Intrinsics files looked for in ``tum`` and ``color_depth`` folders (see geometry.read_intrinsics).
INTRINSICS_FILES = ("camera-intrinsics.txt", "camera_intrinsics.yaml", "camera_info.yaml", "intrinsics.yaml")
#: Folder of fused reference depth inside a dataset or fusion output folder (as Matterport's).
REFERENCE_DIR = "render_depth"
#: 16-bit units per metre of fused reference depth (millimetres, whatever the raw encoding).
REFERENCE_SCALE = 1000.0
#: The file that makes a fusion output folder a dataset of its own (layout ``fused``).
FUSION_MANIFEST = "fusion.json"


@dataclass(frozen=True)
class Frame:
    """Where one RGB-D frame's files are and how to decode them (nothing is read yet).

    ``gt_scale`` is the 16-bit encoding of ``gt`` when it differs from the raw depth's (fused
    references are millimetres); ``gt_weight`` is the fused observation count per reference
    pixel. The camera-to-world pose is either the frame's own ``pose_file`` (4x4 text matrix) or
    ``pose`` (row-major 4x4) from the layout's trajectory file; :func:`frame_pose` reads either.
    """

    name: str
    layout: str
    depth: Path
    color: Path | None = None
    gt: Path | None = None
    mask: Path | None = None
    intrinsics_file: Path | None = None
    depth_scale: float = 1000.0
    min_depth: float = 0.0
    gt_scale: float | None = None
    gt_weight: Path | None = None
    pose_file: Path | None = None
    pose: tuple[float, ...] | None = None


@dataclass
class Sample:
    """A loaded frame: depth and ground truth in float32 metres (0 = invalid), colour uint8 RGB."""

    name: str
    depth: np.ndarray
    rgb: np.ndarray | None = None
    gt: np.ndarray | None = None
    mask: np.ndarray | None = None
    intrinsics: CameraIntrinsics | None = None
    gt_weight: np.ndarray | None = None


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def reference_paths(root: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """(reference depth, weight) paths of frame ``name``'s fused reference under ``root``."""
    folder = Path(root) / REFERENCE_DIR
    return folder / f"{name}.depth.png", folder / f"{name}.weight.png"


def with_references(frames: list[Frame], root: str | os.PathLike[str]) -> list[Frame]:
    """``frames`` with the fused references under ``root`` as their ground truth, where one exists."""
    result = []
    for frame in frames:
        depth, weight = reference_paths(root, frame.name)
        if depth.is_file():
            frame = replace(frame, gt=depth, gt_scale=REFERENCE_SCALE, gt_weight=_existing(weight))
        result.append(frame)
    return result


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
                pose_file=_existing(root / f"{prefix}.pose.txt"),
            )
        )
    return with_references(frames, root)


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


def _intrinsics_file(root: Path) -> Path | None:
    return next((root / name for name in INTRINSICS_FILES if (root / name).is_file()), None)


def _timestamped(root: Path, kind: str) -> list[tuple[float, Path]]:
    """(timestamp, image) pairs of ``root/<kind>.txt``, or of the ``<kind>/`` images named by timestamp."""
    listing = root / f"{kind}.txt"
    if not listing.is_file():
        paths = sorted(p for p in (root / kind).glob("*") if p.suffix.lower() in DEPTH_SUFFIXES + COLOR_SUFFIXES)
        try:
            return sorted((float(p.stem), p) for p in paths)
        except ValueError as exc:
            raise ValueError(f"{root / kind}: without {listing.name}, name images by timestamp ({exc})") from exc
    entries = []
    for number, fields in _table_rows(listing, columns=2):
        try:
            entries.append((float(fields[0]), root / fields[1]))
        except ValueError:
            raise ValueError(f"{listing}:{number}: expected 'timestamp path', got {' '.join(fields)!r}") from None
    return sorted(entries)


def _table_rows(path: Path, columns: int) -> list[tuple[int, list[str]]]:
    """(line number, fields) of a TUM text table, without comments and blank lines."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < columns:
            raise ValueError(f"{path}:{number}: expected {columns} columns, got {len(fields)}")
        rows.append((number, fields))
    return rows


def _nearest(times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index into sorted ``times`` of the entry nearest each target, -1 beyond TUM_MAX_TIME_DIFFERENCE."""
    if len(times) == 0:
        return np.full(len(targets), -1)
    right = np.clip(np.searchsorted(times, targets), 1, max(len(times) - 1, 1))
    left = right - 1
    index = np.where(np.abs(times[left] - targets) <= np.abs(times[right] - targets), left, right)
    return np.where(np.abs(times[index] - targets) <= TUM_MAX_TIME_DIFFERENCE, index, -1)


def _associate(depth: list[tuple[float, Path]], color: list[tuple[float, Path]]) -> dict[Path, Path]:
    """Pair each depth image with the colour image nearest in time, one to one (as TUM's associate.py)."""
    depth_times = np.array([t for t, _ in depth])
    color_times = np.array([t for t, _ in color])
    candidates = []
    for i, target in enumerate(depth_times):
        nearby = np.flatnonzero(np.abs(color_times - target) <= TUM_MAX_TIME_DIFFERENCE)
        candidates += [(abs(color_times[j] - target), i, j) for j in nearby]
    pairs: dict[Path, Path] = {}
    used: set[int] = set()
    for _, i, j in sorted(candidates):
        if depth[i][1] not in pairs and j not in used:
            pairs[depth[i][1]] = color[j][1]
            used.add(int(j))
    return pairs


def _associations_file(root: Path, path: Path) -> tuple[list[tuple[float, Path]], dict[Path, Path]]:
    """Depth images and their colour partners from ORB-SLAM2's ``t_rgb rgb t_depth depth`` lines."""
    depth, pairs = [], {}
    for number, fields in _table_rows(path, columns=4):
        try:
            color_time, color_path, depth_time, depth_path = float(fields[0]), fields[1], float(fields[2]), fields[3]
        except ValueError:
            raise ValueError(f"{path}:{number}: expected 't_rgb rgb_path t_depth depth_path'") from None
        if Path(color_path).parts[:1] == ("depth",):  # written depth first
            color_time, color_path, depth_time, depth_path = depth_time, depth_path, color_time, color_path
        depth.append((depth_time, root / depth_path))
        pairs[root / depth_path] = root / color_path
    return sorted(depth), pairs


def read_tum_trajectory(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps, 4x4 camera-to-world poses) of a TUM ``timestamp tx ty tz qx qy qz qw`` file, sorted."""
    times, poses = [], []
    for number, fields in _table_rows(path, columns=8):
        try:
            t, x, y, z, qx, qy, qz, qw = (float(v) for v in fields[:8])
        except ValueError:
            raise ValueError(f"{path}:{number}: expected 'timestamp tx ty tz qx qy qz qw'") from None
        norm = np.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
        if not norm > 0:
            raise ValueError(f"{path}:{number}: the quaternion is zero")
        qx, qy, qz, qw = qx / norm, qy / norm, qz / norm, qw / norm
        pose = np.eye(4)
        pose[:3, :3] = [
            [1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)],
            [2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)],
            [2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)],
        ]
        pose[:3, 3] = (x, y, z)
        times.append(t)
        poses.append(pose)
    order = np.argsort(times)
    return np.asarray(times)[order], np.asarray(poses).reshape(-1, 4, 4)[order]


def _tum(root: Path, depth_scale: float | None) -> list[Frame]:
    associations = root / "associations.txt"
    if associations.is_file():
        depth, pairs = _associations_file(root, associations)
    else:
        depth = _timestamped(root, "depth")
        pairs = _associate(depth, _timestamped(root, "rgb"))
    poses: list[tuple[float, ...] | None] = [None] * len(depth)
    if (root / "groundtruth.txt").is_file():
        times, trajectory = read_tum_trajectory(root / "groundtruth.txt")
        nearest = _nearest(times, np.array([t for t, _ in depth]))
        poses = [tuple(trajectory[i].reshape(-1)) if i >= 0 else None for i in nearest]
    intrinsics = _intrinsics_file(root)
    frames = [
        Frame(
            name=path.stem,
            layout="tum",
            depth=path,
            color=pairs.get(path),
            intrinsics_file=intrinsics,
            depth_scale=depth_scale or DEPTH_SCALES["tum"],
            pose=pose,
        )
        for (_, path), pose in zip(depth, poses, strict=True)
    ]
    return with_references(frames, root)


def _color_folder(root: Path) -> Path | None:
    return next((root / name for name in ("color", "rgb") if (root / name).is_dir()), None)


def _shares_names(depth_folder: Path, color_folder: Path) -> bool:
    """Whether paired folders match by name (``color_depth``) rather than by timestamp (TUM)."""
    depth_names = {p.stem for p in depth_folder.iterdir()}
    return not depth_names or any(p.stem in depth_names for p in color_folder.iterdir())


def _color_depth(root: Path, depth_scale: float | None) -> list[Frame]:
    colors = {p.stem: p for p in sorted((_color_folder(root) or root).iterdir()) if p.suffix.lower() in COLOR_SUFFIXES}
    intrinsics = _intrinsics_file(root)
    frames = [
        Frame(
            name=path.stem,
            layout="color_depth",
            depth=path,
            color=colors.get(path.stem),
            intrinsics_file=intrinsics,
            depth_scale=depth_scale or DEPTH_SCALES["mm"],
        )
        for path in sorted((root / "depth").iterdir())
        if path.suffix.lower() in DEPTH_SUFFIXES and not path.name.startswith(".")
    ]
    return with_references(frames, root)


def _depth_folder(root: Path, depth_scale: float | None) -> list[Frame]:
    paths = sorted(p for p in root.iterdir() if p.suffix.lower() in DEPTH_SUFFIXES and not p.name.startswith("."))
    return [
        Frame(name=p.stem, layout="depth_folder", depth=p, depth_scale=depth_scale or DEPTH_SCALES["mm"]) for p in paths
    ]


def read_fusion_manifest(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``fusion.json`` of a fusion output folder for a sequence elsewhere, else ``None``.

    A sequence fused in place has its references in its own ``render_depth/``, which its own
    layout picks up; its manifest only records how they were made.
    """
    path = Path(root) / FUSION_MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
        source = Path(manifest["source"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a fusion manifest ({exc})") from exc
    return None if source.resolve() == Path(root).resolve() else manifest


def _fused(root: Path, depth_scale: float | None) -> list[Frame]:
    manifest = read_fusion_manifest(root)
    if manifest is None:
        raise ValueError(f"{root}: no {FUSION_MANIFEST} naming a fused sequence elsewhere")
    source = Path(manifest["source"])
    if not source.is_dir():
        raise FileNotFoundError(f"{root / FUSION_MANIFEST}: its source sequence {source} does not exist (moved?)")
    frames = discover_frames(source, layout=manifest["layout"], depth_scale=depth_scale or manifest.get("depth_scale"))
    intrinsics = Path(manifest["intrinsics"]) if manifest.get("intrinsics") else None
    fused = []
    for frame in frames:
        depth, weight = reference_paths(root, frame.name)
        if depth.is_file():
            fused.append(replace(
                frame, layout="fused", gt=depth, gt_scale=REFERENCE_SCALE, gt_weight=_existing(weight),
                intrinsics_file=intrinsics or frame.intrinsics_file,
            ))
    return fused


_FINDERS: dict[str, Callable[[Path, float | None], list[Frame]]] = {
    "fused": _fused,
    "matterport": _matterport,
    "frames": _frame_sequence,
    "tum": _tum,
    "color_depth": _color_depth,
    "cleargrasp": _cleargrasp,
    "depth_folder": _depth_folder,
}


def detect_layout(root: str | os.PathLike[str]) -> str:
    """Name the layout of ``root`` by the files it holds (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such dataset folder")
    if read_fusion_manifest(root) is not None:
        return "fused"
    if next(root.glob("**/undistorted_depth_images/*.png"), None) is not None:
        return "matterport"
    if next(root.glob("frame-*.depth.png"), None) is not None:
        return "frames"
    if any((root / name).is_file() for name in ("associations.txt", "depth.txt", "rgb.txt")):
        return "tum"
    color_folder = _color_folder(root)
    if (root / "depth").is_dir() and color_folder is not None:
        return "color_depth" if _shares_names(root / "depth", color_folder) else "tum"
    if next(root.glob("*-transparent-depth-img.exr"), None) is not None:
        return "cleargrasp"
    if any(p.suffix.lower() in DEPTH_SUFFIXES for p in root.iterdir()):
        return "depth_folder"
    raise ValueError(
        f"{root}: no known RGB-D layout (expected Matterport3D undistorted_depth_images/, "
        "frame-XXXXXX.depth.png, TUM rgb.txt/depth.txt, color/ + depth/ folders, "
        "ClearGrasp *-transparent-depth-img.exr or depth images)"
    )


def discover_frames(
    root: str | os.PathLike[str], layout: str = "auto", depth_scale: float | None = None
) -> list[Frame]:
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
    gt = read_depth(frame.gt, scale=frame.gt_scale or frame.depth_scale) if frame.gt is not None else None
    if gt is not None and gt.shape != depth.shape:
        raise DepthIOError(f"{frame.gt}: ground truth is {gt.shape[::-1]} but depth is {depth.shape[::-1]}")
    gt_weight = read_depth_raw(frame.gt_weight).astype(np.float32) if frame.gt_weight is not None else None
    if gt_weight is not None and gt_weight.shape != depth.shape:
        raise DepthIOError(f"{frame.gt_weight}: weights are {gt_weight.shape[::-1]} but depth is {depth.shape[::-1]}")
    mask = read_mask(frame.mask) if frame.mask is not None else None
    intrinsics = read_intrinsics(frame.intrinsics_file, width, height) if frame.intrinsics_file else None
    if intrinsics is not None and (intrinsics.width, intrinsics.height) != (width, height):
        intrinsics = intrinsics.scaled(width, height)
    return Sample(name=frame.name, depth=depth, rgb=rgb, gt=gt, mask=mask, intrinsics=intrinsics, gt_weight=gt_weight)


def frame_pose(frame: Frame) -> np.ndarray | None:
    """The frame's 4x4 camera-to-world pose (float64), or ``None`` where its layout has none.

    Returned as stored: a lost-tracking pose full of ``inf``/``nan`` (as some 7-Scenes
    sequences have) is the caller's to judge.
    """
    if frame.pose is not None:
        return np.asarray(frame.pose, dtype=np.float64).reshape(4, 4)
    if frame.pose_file is None:
        return None
    try:
        values = np.loadtxt(frame.pose_file, dtype=np.float64).reshape(-1)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{frame.pose_file}: not a 4x4 matrix of numbers ({exc})") from exc
    if values.size != 16:
        raise ValueError(f"{frame.pose_file}: expected a 4x4 camera-to-world matrix, got {values.size} numbers")
    return values.reshape(4, 4)


def parse_frame_range(spec: str | None, count: int) -> range:
    """Indices of a Python-style ``start:stop`` range over ``count`` frames (``None`` = all).

    Keeps training and evaluation frames disjoint, e.g. ``0:200`` and ``220:300`` of a
    300-frame sequence (fused references for evaluation are fused from their own range only).
    """
    if spec is None or str(spec).strip() in ("", ":"):
        return range(count)
    parts = str(spec).split(":")
    if len(parts) != 2:
        raise ValueError(f"frame range {spec!r} must look like START:STOP (e.g. 0:200)")
    try:
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError as exc:
        raise ValueError(f"frame range {spec!r} must hold integers") from exc
    selected = range(count)[slice(start, stop)]
    if len(selected) == 0:
        raise ValueError(f"frame range {spec!r} selects no frames out of {count}")
    return selected
