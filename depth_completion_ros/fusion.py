"""Fused reference depth for posed RGB-D sequences: TSDF fusion, then ray casting at every pose.

Real recordings have no ground truth inside the sensor's own holes (dark, shiny, grazing, far
surfaces), yet a posed sequence sees most surfaces from several viewpoints. Integrating the raw
depth of every ``stride``-th frame into a truncated signed distance field (Open3D's voxel block
grid) and ray-casting it at each frame's pose gives a reference depth for most hole pixels — how
the Matterport3D benchmark made its ``render_depth`` — for any posed recording.

The references are written the way :mod:`depth_completion_ros.datasets` reads them
(``render_depth/<frame>.depth.png`` + ``.weight.png``), so the ``gt`` evaluation protocol and
the training datasets use them unchanged. A consistency report says, per frame, how many raw
holes got a reference and how well the reference agrees with the raw depth where both exist;
frames whose reference disagrees with their own raw depth (a bad pose) are rejected.

Open3D is the optional ``fusion`` extra; it is imported only when fusing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from tqdm import tqdm

from .datasets import (
    FUSION_MANIFEST,
    REFERENCE_DIR,
    REFERENCE_SCALE,
    Frame,
    discover_frames,
    frame_pose,
    load_frame,
    parse_frame_range,
    reference_paths,
)
from .depth_io import atomic_output, write_depth
from .geometry import CameraIntrinsics, read_intrinsics

LOG = logging.getLogger(__name__)

POSE_SOURCES = ("dataset", "odometry")
REPORT_JSON = "consistency.json"
REPORT_MARKDOWN = "consistency.md"
#: Issue 11's targets for a usable reference, shown beside the figures in the report.
TARGET_HOLE_COVERAGE = 0.8
TARGET_MEDIAN_M = 0.015
_BLOCK_RESOLUTION = 16


class FusionError(ValueError):
    """A sequence cannot be fused as asked (missing poses or intrinsics, inconsistent sizes)."""


def import_open3d() -> ModuleType:
    """Open3D, or a one-line error saying how to install it (it is an optional extra)."""
    try:
        import open3d
    except ImportError as exc:
        raise FusionError(
            f"fusion needs Open3D ({exc}); install it with: pip install depth_completion_ros[fusion]"
            " (on Debian/Ubuntu it also needs libusb-1.0-0)"
        ) from exc
    return open3d


@dataclass(frozen=True)
class FusionOptions:
    """How a sequence is fused; lengths in metres.

    ``stride``: integrate every Nth frame of the range (every frame gets a reference).
    ``truncation``: TSDF truncation distance. ``depth_min``/``depth_max``: raw depth outside this
    range is not integrated (far Kinect depth is noisy) and no reference lies outside it.
    ``min_weight``: fused observations every voxel around a surface needs before it is extracted.
    ``max_disagreement``: reference pixels farther than this from a raw measurement are dropped
    (edges, thin structures, multipath: unreliable either way). ``reject_median``: a frame whose
    median disagreement with its own raw depth exceeds this gets no reference (a bad pose).
    ``poses``: ``dataset`` (the recording's own poses) or ``odometry`` (frame-to-frame RGB-D
    odometry from the first frame; drifts).
    """

    voxel_size: float = 0.01
    stride: int = 2
    truncation: float = 0.08
    depth_min: float = 0.1
    depth_max: float = 4.0
    min_weight: int = 1
    max_disagreement: float = 0.05
    reject_median: float = 0.03
    poses: str = "dataset"

    def __post_init__(self) -> None:
        positive = ("voxel_size", "truncation", "depth_max", "max_disagreement", "reject_median")
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"fusion option {name} must be positive, got {value}")
        if self.stride < 1 or self.min_weight < 1:
            raise ValueError(
                f"fusion options stride and min_weight must be >= 1, got {self.stride} and {self.min_weight}"
            )
        if not 0 <= self.depth_min < self.depth_max:
            raise ValueError(f"fusion needs 0 <= depth_min < depth_max, got {self.depth_min} and {self.depth_max}")
        if self.truncation < self.voxel_size:
            raise ValueError(f"truncation ({self.truncation} m) must be at least one voxel ({self.voxel_size} m)")
        if self.poses not in POSE_SOURCES:
            raise ValueError(f"poses must be one of {', '.join(POSE_SOURCES)}, got {self.poses!r}")


@dataclass
class FrameConsistency:
    """How one frame's reference relates to its raw depth.

    ``holes``: raw-hole pixels (raw == 0); ``hole_coverage``: the share of them with a
    reference. ``overlap``: pixels with both raw depth and a ray-cast surface; ``median_m`` and
    ``rmse_m``: |reference - raw| over them, before any pixel is dropped; ``dropped``: the share
    of them beyond ``max_disagreement`` (left without reference). ``rejected``: why the frame
    got no reference at all, else ``None``.
    """

    name: str
    integrated: bool
    holes: int = 0
    hole_coverage: float = float("nan")
    overlap: int = 0
    median_m: float = float("nan")
    rmse_m: float = float("nan")
    dropped: float = float("nan")
    rejected: str | None = None


@dataclass
class ConsistencyReport:
    """Per-frame consistency of a fusion run and its pooled summary."""

    sequence: str
    output: str
    options: FusionOptions
    frames: list[FrameConsistency] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Pooled figures over the frames that got a reference."""
        kept = [f for f in self.frames if f.rejected is None]
        holes = sum(f.holes for f in kept)
        covered = sum(f.hole_coverage * f.holes for f in kept if f.holes)
        overlap = sum(f.overlap for f in kept)
        squared = sum(f.rmse_m**2 * f.overlap for f in kept if f.overlap)
        medians = [f.median_m for f in kept if f.overlap]
        return {
            "frames": len(self.frames),
            "with_reference": len(kept),
            "rejected": len(self.frames) - len(kept),
            "integrated": sum(f.integrated for f in self.frames),
            "hole_coverage": covered / holes if holes else float("nan"),
            "median_of_frame_medians_m": float(np.median(medians)) if medians else float("nan"),
            "rmse_m": math.sqrt(squared / overlap) if overlap else float("nan"),
            "frames_meeting_targets": sum(
                f.hole_coverage >= TARGET_HOLE_COVERAGE and f.median_m <= TARGET_MEDIAN_M for f in kept
            ),
            "seconds": self.seconds,
        }

    def summary_markdown(self) -> str:
        """A few lines for the terminal: the pooled figures against the targets, and rejections."""
        s = self.summary()
        lines = [
            f"fused {s['frames']} frames of {self.sequence} ({s['integrated']} integrated) in {s['seconds']:.1f} s",
            f"- reference for {100 * s['hole_coverage']:.1f} % of raw-hole pixels"
            f" (target >= {100 * TARGET_HOLE_COVERAGE:.0f} %)",
            f"- agreement with raw depth: median of frame medians {1000 * s['median_of_frame_medians_m']:.1f} mm"
            f" (target <= {1000 * TARGET_MEDIAN_M:.0f} mm), RMSE {1000 * s['rmse_m']:.1f} mm",
            f"- {s['frames_meeting_targets']} of {s['with_reference']} frames meet both targets;"
            f" {s['rejected']} rejected",
        ]
        lines += [f"  - {f.name}: {f.rejected}" for f in self.frames if f.rejected]
        return "\n".join(lines)

    def markdown(self) -> str:
        """The summary and one table row per frame."""
        rows = [
            "| frame | integrated | raw holes | hole coverage | overlap | median (mm) | RMSE (mm) | dropped "
            "| rejected |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for f in self.frames:
            rows.append(
                f"| {f.name} | {'yes' if f.integrated else 'no'} | {f.holes} | {100 * f.hole_coverage:.1f} % "
                f"| {f.overlap} | {1000 * f.median_m:.1f} | {1000 * f.rmse_m:.1f} | {100 * f.dropped:.1f} % "
                f"| {f.rejected or ''} |"
            )
        options = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(self.options).items())
        return "\n".join(
            ["# Fusion consistency", "", self.summary_markdown(), "", f"Options: {options}", "", *rows, ""]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "output": self.output,
            "options": dataclasses.asdict(self.options),
            "summary": self.summary(),
            "frames": [dataclasses.asdict(f) for f in self.frames],
        }


class TsdfFusion:
    """A TSDF of posed depth frames that renders reference depth at any of their poses.

    Construction checks what can be checked before any work (poses, intrinsics, pose source);
    :meth:`integrate` fuses every ``stride``-th frame; :meth:`render` ray-casts one frame.
    """

    def __init__(self, frames: Sequence[Frame], intrinsics: CameraIntrinsics, options: FusionOptions) -> None:
        if not frames:
            raise FusionError("no frames to fuse")
        self.o3d = import_open3d()
        self.frames = list(frames)
        self.intrinsics = intrinsics
        self.options = options
        self.poses: list[np.ndarray | None] = (
            [] if options.poses == "odometry" else [self._dataset_pose(f) for f in frames]
        )
        core = self.o3d.core
        self._device = core.Device("CPU:0")
        self._K = core.Tensor(intrinsics.K.astype(np.float64))
        self._grid = self.o3d.t.geometry.VoxelBlockGrid(
            attr_names=("tsdf", "weight"),
            attr_dtypes=(core.float32, core.float32),
            attr_channels=((1), (1)),
            voxel_size=options.voxel_size,
            block_resolution=_BLOCK_RESOLUTION,
            block_count=10000,  # the initial capacity; the CPU hash map grows as needed
            device=self._device,
        )

    @staticmethod
    def _dataset_pose(frame: Frame) -> np.ndarray | None:
        pose = frame_pose(frame)
        if pose is None:
            raise FusionError(
                f"{frame.depth}: no camera pose for this frame (frame-XXXXXX.pose.txt or a groundtruth.txt entry);"
                " estimate poses with --poses odometry instead"
            )
        if not np.isfinite(pose).all():
            return None  # tracking was lost here: the frame is reported, not fused
        return pose

    @property
    def _trunc_voxels(self) -> float:
        return self.options.truncation / self.options.voxel_size

    def load_depth(self, frame: Frame) -> np.ndarray:
        """The frame's raw depth in metres (0 = hole), size-checked against the intrinsics."""
        depth = load_frame(frame, with_rgb=False).depth
        if depth.shape != (self.intrinsics.height, self.intrinsics.width):
            raise FusionError(
                f"{frame.depth}: depth is {depth.shape[1]}x{depth.shape[0]} but the sequence's intrinsics are for "
                f"{self.intrinsics.width}x{self.intrinsics.height}; every frame must have one size"
            )
        return depth

    def _image(self, depth: np.ndarray) -> Any:
        """An Open3D depth image of the raw depth within the fusion's depth range."""
        in_range = (depth >= self.options.depth_min) & (depth <= self.options.depth_max)
        return self.o3d.t.geometry.Image(self.o3d.core.Tensor(np.where(in_range, depth, np.float32(0.0))))

    def _extrinsic(self, pose: np.ndarray) -> Any:
        return self.o3d.core.Tensor(np.linalg.inv(pose))

    def estimate_poses(self, progress: bool = True) -> None:
        """Chain frame-to-frame point-to-plane ICP odometry from the first frame (which is the origin).

        Odometry drifts (typically centimetres per metre walked), so frames far along a long
        sequence disagree with the fused surface; the consistency report shows where.
        """
        LOG.warning(
            "poses from RGB-D odometry drift with distance travelled; prefer a SLAM system's poses for long sequences"
        )
        odometry = self.o3d.t.pipelines.odometry
        self.poses = [np.eye(4)]
        previous = self._rgbd(self.load_depth(self.frames[0]))
        for frame in tqdm(self.frames[1:], desc="odometry", unit="frame", disable=not progress):
            current = self._rgbd(self.load_depth(frame))
            result = odometry.rgbd_odometry_multi_scale(
                current,
                previous,
                self._K,
                self.o3d.core.Tensor(np.eye(4)),
                1.0,
                self.options.depth_max,
                [odometry.OdometryConvergenceCriteria(n) for n in (60, 40, 20)],  # fewer stop short of convergence
                odometry.Method.PointToPlane,
            )
            self.poses.append(self.poses[-1] @ result.transformation.numpy())
            previous = current

    def _rgbd(self, depth: np.ndarray) -> Any:
        # Point-to-plane odometry reads only depth; the colour slot must still hold an image.
        image = self._image(depth)
        return self.o3d.t.geometry.RGBDImage(image, image)

    def integrate(self, progress: bool = True) -> list[bool]:
        """Fuse every ``stride``-th frame that has a usable pose; returns which frames were fused."""
        if not self.poses:
            self.estimate_poses(progress)
        integrated = [False] * len(self.frames)
        chosen = range(0, len(self.frames), self.options.stride)
        for index in tqdm(chosen, desc="integrating", unit="frame", disable=not progress):
            pose = self.poses[index]
            if pose is None:
                continue
            depth = self._image(self.load_depth(self.frames[index]))
            extrinsic = self._extrinsic(pose)
            blocks = self._grid.compute_unique_block_coordinates(
                depth, self._K, extrinsic, 1.0, self.options.depth_max, self._trunc_voxels
            )
            self._grid.integrate(blocks, depth, self._K, extrinsic, 1.0, self.options.depth_max, self._trunc_voxels)
            integrated[index] = True
        if not any(integrated):
            raise FusionError("no frame of the sequence has a finite pose; nothing was fused")
        self._build_surface()
        return integrated

    def _build_surface(self) -> None:
        """Extract the fused surface as a mesh, with each vertex's observation count, for ray casting.

        Rendering the marching-cubes mesh with Embree (as Matterport's ``render_depth`` renders
        its mesh) rather than ray marching the voxel grid: Open3D 0.20's grid ray cast hangs now
        and then on CPU (isl-org/Open3D#6821), and the mesh is faster to cast against.
        """
        # Open3D keeps voxels whose weight (an observation count) is strictly above the threshold.
        mesh = self._grid.extract_triangle_mesh(weight_threshold=self.options.min_weight - 0.5)
        positions = mesh.vertex.positions.numpy()
        self._vertex_weights = self._voxel_weights(positions)
        self._triangles = mesh.triangle.indices.numpy().astype(np.int64)
        self._scene = self.o3d.t.geometry.RaycastingScene()
        if len(self._triangles):
            # Integration samples each voxel at its centre, marching cubes reports vertices in voxel
            # index units: half a voxel apart (unshifted, references of the synthetic test scene
            # lie 5-8 mm behind the true surface; shifted, within 0.1 mm in the median).
            centred = positions + np.float32(0.5 * self.options.voxel_size)
            core = self.o3d.core
            self._scene.add_triangles(core.Tensor(centred), core.Tensor(self._triangles.astype(np.uint32)))

    def _voxel_weights(self, points: np.ndarray) -> np.ndarray:
        """Observation count at mesh vertices: the mean weight of the two voxels whose edge holds each.

        A marching-cubes vertex lies on a voxel edge: on two axes its coordinate is a voxel
        index, on the third it lies between ``floor`` and ``ceil``.
        """
        scaled = points.astype(np.float64) / self.options.voxel_size
        lower = np.floor(scaled + 1e-3).astype(np.int64)
        upper = np.ceil(scaled - 1e-3).astype(np.int64)
        weights = self._grid.attribute("weight").numpy().reshape(-1, *(3 * (_BLOCK_RESOLUTION,)))
        total = np.zeros(len(points), np.float32)
        for voxels in (lower, upper):
            blocks = np.floor_divide(voxels, _BLOCK_RESOLUTION)
            local = voxels - blocks * _BLOCK_RESOLUTION
            buffers, found = self._grid.hashmap().find(self.o3d.core.Tensor(blocks.astype(np.int32)))
            buffers, found = buffers.numpy().astype(np.int64), found.numpy()
            total += np.where(found, weights[buffers, local[:, 2], local[:, 1], local[:, 0]], 0.0)
        return total / 2

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(reference depth m, weight) at frame ``index``'s pose (0 = no surface), or ``None`` without a pose."""
        pose = self.poses[index]
        if pose is None:
            return None
        k = self.intrinsics
        # Rays with a unit z component in the camera frame: the hit distance *is* the z-depth.
        u, v = np.meshgrid((np.arange(k.width) - k.cx) / k.fx, (np.arange(k.height) - k.cy) / k.fy)
        directions = np.stack([u, v, np.ones_like(u)], -1) @ pose[:3, :3].T
        origins = np.broadcast_to(pose[:3, 3], directions.shape)
        rays = self.o3d.core.Tensor(np.concatenate([origins, directions], -1).astype(np.float32))
        hits = self._scene.cast_rays(rays)
        depth = hits["t_hit"].numpy().astype(np.float32)
        depth[~np.isfinite(depth) | (depth < self.options.depth_min) | (depth > self.options.depth_max)] = 0.0
        hit = depth > 0
        corners = self._vertex_weights[self._triangles[hits["primitive_ids"].numpy()[hit].astype(np.int64)]]
        uv = hits["primitive_uvs"].numpy()[hit]
        weight = np.zeros_like(depth)
        weight[hit] = corners[:, 0] * (1 - uv[:, 0] - uv[:, 1]) + corners[:, 1] * uv[:, 0] + corners[:, 2] * uv[:, 1]
        return depth, weight


def check_agreement(
    name: str, raw: np.ndarray, reference: np.ndarray, integrated: bool, options: FusionOptions
) -> tuple[FrameConsistency, np.ndarray]:
    """Score a reference against its frame's raw depth; returns the stats and the kept-pixel mask."""
    stats = FrameConsistency(name=name, integrated=integrated)
    surface = reference > 0
    holes = raw == 0
    stats.holes = int(holes.sum())
    stats.hole_coverage = float((surface & holes).sum() / stats.holes) if stats.holes else float("nan")
    both = surface & ~holes  # raw beyond the fusion's depth range counts too: a nearer reference there is wrong
    stats.overlap = int(both.sum())
    keep = surface.copy()
    if stats.overlap:
        difference = np.abs(reference[both] - raw[both])
        stats.median_m = float(np.median(difference))
        stats.rmse_m = float(np.sqrt(np.mean(np.square(difference, dtype=np.float64))))
        disagree = difference > options.max_disagreement
        stats.dropped = float(disagree.mean())
        keep[both] = ~disagree
        if stats.median_m > options.reject_median:
            stats.rejected = (
                f"median disagreement {1000 * stats.median_m:.0f} mm > {1000 * options.reject_median:.0f} mm"
            )
    else:
        stats.rejected = "no raw depth to check the reference against"
    return stats, keep


def sequence_intrinsics(
    frames: Sequence[Frame], source: Path, intrinsics_file: str | os.PathLike[str] | None
) -> CameraIntrinsics:
    """The one camera of the sequence, sized by its first depth image."""
    path = Path(intrinsics_file) if intrinsics_file is not None else frames[0].intrinsics_file
    if path is None:
        raise FusionError(
            f"{source}: no camera intrinsics (camera-intrinsics.txt); pass an intrinsics file (--intrinsics)"
        )
    height, width = load_frame(frames[0], with_rgb=False).depth.shape
    intrinsics = read_intrinsics(path, width, height)
    if (intrinsics.width, intrinsics.height) != (width, height):
        raise FusionError(
            f"{path}: intrinsics are for {intrinsics.width}x{intrinsics.height}"
            f" but {frames[0].depth} is {width}x{height}"
        )
    return intrinsics


def _replace_folder(staging: Path, target: Path) -> None:
    """Put ``staging`` where ``target`` is, so a reader sees the old or the new folder, never a mix."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old)
    else:
        os.replace(staging, target)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=True))


def fuse_sequence(
    sequence: str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: FusionOptions = FusionOptions(),
    frames: str | None = None,
    layout: str = "auto",
    depth_scale: float | None = None,
    intrinsics_file: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> ConsistencyReport:
    """Fuse ``sequence`` (frames ``START:STOP`` of it) and write references and reports to ``output``.

    ``output`` gets ``render_depth/`` (references of the frames that were not rejected),
    ``consistency.json``/``.md`` and ``fusion.json``, which lets :func:`datasets.discover_frames`
    read ``output`` as the ``fused`` layout: the raw frames from ``sequence``, the references as
    ground truth. With ``output`` = ``sequence`` the references sit beside the raw frames and the
    sequence's own layout picks them up. ``render_depth/`` is replaced as a whole at the end, so
    an interrupted run leaves the previous references untouched.
    """
    source = Path(sequence)
    output = Path(output)
    all_frames = discover_frames(source, layout=layout, depth_scale=depth_scale)
    selected = [all_frames[i] for i in parse_frame_range(frames, len(all_frames))]
    intrinsics = sequence_intrinsics(selected, source, intrinsics_file)
    start = time.perf_counter()
    fusion = TsdfFusion(selected, intrinsics, options)
    integrated = fusion.integrate(progress)
    report = ConsistencyReport(sequence=str(source), output=str(output), options=options)
    output.mkdir(parents=True, exist_ok=True)
    staging = output / f".fusion.partial-{uuid.uuid4().hex}"
    (staging / REFERENCE_DIR).mkdir(parents=True)
    try:
        for index, frame in enumerate(tqdm(selected, desc="ray casting", unit="frame", disable=not progress)):
            rendered = fusion.render(index)
            if rendered is None:
                report.frames.append(
                    FrameConsistency(frame.name, integrated[index], rejected="pose not finite (tracking lost)")
                )
                continue
            reference, weight = rendered
            stats, keep = check_agreement(frame.name, fusion.load_depth(frame), reference, integrated[index], options)
            report.frames.append(stats)
            if stats.rejected is None:
                depth_path, weight_path = reference_paths(staging, frame.name)
                write_depth(depth_path, np.where(keep, reference, np.float32(0.0)), scale=REFERENCE_SCALE)
                write_depth(weight_path, np.where(keep, np.minimum(np.rint(weight), 65534.0), 0.0), scale=1.0)
        report.seconds = time.perf_counter() - start
        _replace_folder(staging / REFERENCE_DIR, output / REFERENCE_DIR)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    _write_json(output / REPORT_JSON, report.to_dict())
    with atomic_output(output / REPORT_MARKDOWN) as tmp:
        tmp.write_text(report.markdown())
    frame_layout = selected[0].layout
    _write_json(
        output / FUSION_MANIFEST,
        {
            "source": str(source.resolve()),
            "layout": frame_layout,
            "depth_scale": selected[0].depth_scale,
            "intrinsics": str(Path(intrinsics_file).resolve()) if intrinsics_file is not None else None,
            "frames": frames,
            "options": dataclasses.asdict(options),
            "summary": report.summary(),
        },
    )
    return report
