"""Depth and colour files, and the one place where raw sensor values become metres.

Every depth map inside the library is float32 metres with 0 meaning "no measurement".
Sensors and datasets disagree on everything else (millimetres, 1/4000 m, 1/5000 m, NaN,
65535 sentinels, tiny fake depths on resized hole borders), so all inputs pass through
:func:`sanitize_depth` once, at the edge.
"""
from __future__ import annotations

import contextlib
import glob
import math
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

# OpenCV reads OpenEXR only when this is set before cv2 is imported.
os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
import cv2

DepthT = TypeVar("DepthT", np.ndarray, torch.Tensor)

#: Depths beyond this (metres) are holes unless a caller raises the limit. Indoor RGB-D
#: cameras are specified to 3-10 m (docs/inference.md lists them); 20 m keeps every real
#: reading of those and of the indoor datasets (Matterport3D's 16-bit PNGs end at 16.4 m)
#: while dropping the 1e6 m and 3e38 m values some float drivers publish for "no return".
DEFAULT_MAX_DEPTH = 20.0
#: Units per metre of common 16-bit depth encodings.
DEPTH_SCALES = {"mm": 1000.0, "matterport": 4000.0, "tum": 5000.0}
#: Largest value a 16-bit depth image can hold; many drivers use it as "invalid".
UINT16_SENTINEL = 65535

DEPTH_SUFFIXES = (".png", ".exr", ".npy", ".tif", ".tiff")
COLOR_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class DepthIOError(ValueError):
    """A depth or colour file is missing, unreadable or holds something unexpected."""


def sanitize_depth(
    depth: DepthT,
    scale: float | None = None,
    min_depth: float = 0.0,
    max_depth: float = DEFAULT_MAX_DEPTH,
) -> DepthT:
    """Convert raw depth to float32 metres with 0 for every invalid pixel.

    Integer input is in ``scale`` units per metre (required) and 65535 is treated as a
    sentinel; float input is already metres. NaN, inf, negative values and values outside
    ``[min_depth, max_depth]`` become 0, so later code needs one validity test: ``depth > 0``.
    The default ``max_depth`` (:data:`DEFAULT_MAX_DEPTH`) turns absurd values (1e6 m, 3e38 m
    from float drivers) into holes instead of letting fills spread them; pass ``math.inf`` to
    keep every finite positive value. numpy arrays and torch tensors are both accepted and come
    back as the same kind; tensors stay on their device, so GPU frames never visit the host.
    """
    if not max_depth > min_depth:
        raise ValueError(f"max_depth ({max_depth}) must be greater than min_depth ({min_depth})")
    if isinstance(depth, torch.Tensor):
        return _sanitize_tensor(depth, scale, min_depth, max_depth)
    depth = np.asarray(depth)
    if depth.size == 0:
        raise DepthIOError("depth image is empty")
    if np.issubdtype(depth.dtype, np.integer):
        metres_per_unit = 1.0 / _units_per_metre(depth.dtype, scale)
        valid = (depth > 0) & (depth != UINT16_SENTINEL)
        metres = depth.astype(np.float32) * np.float32(metres_per_unit)
    elif np.issubdtype(depth.dtype, np.floating):
        metres = depth.astype(np.float32, copy=True)
        valid = np.isfinite(metres) & (metres > 0)
    else:
        raise DepthIOError(f"unsupported depth dtype {depth.dtype}")
    valid = _within_range(valid, metres, min_depth, max_depth)
    metres[~valid] = 0.0
    return metres


def _sanitize_tensor(depth: torch.Tensor, scale: float | None, min_depth: float, max_depth: float) -> torch.Tensor:
    """:func:`sanitize_depth` for a tensor, with torch ops on the tensor's own device."""
    if depth.numel() == 0:
        raise DepthIOError("depth image is empty")
    if depth.is_floating_point():
        metres = depth.to(torch.float32)
        valid = torch.isfinite(metres) & (metres > 0)
    elif not depth.is_complex() and depth.dtype != torch.bool:
        metres_per_unit = 1.0 / _units_per_metre(depth.dtype, scale)
        units = depth.to(torch.int64)  # torch has few kernels for uint16 itself
        valid = (units > 0) & (units != UINT16_SENTINEL)
        metres = units.to(torch.float32) * metres_per_unit
    else:
        raise DepthIOError(f"unsupported depth dtype {depth.dtype}")
    valid = _within_range(valid, metres, min_depth, max_depth)
    return torch.where(valid, metres, 0.0)


def _within_range(valid: DepthT, metres: DepthT, min_depth: float, max_depth: float) -> DepthT:
    """``valid`` narrowed to depths in ``[min_depth, max_depth]``: one range rule for arrays and tensors."""
    if min_depth > 0:
        valid &= metres >= min_depth
    if math.isfinite(max_depth):
        valid &= metres <= max_depth
    return valid


def _units_per_metre(dtype: object, scale: float | None) -> float:
    """``scale`` checked for integer depth: a positive number of units per metre."""
    if scale is None or not scale > 0:
        raise DepthIOError(f"integer depth ({dtype}) needs a positive scale (units per metre), got {scale}")
    return scale


def depth_to_units(depth_m: np.ndarray, scale: float = 1000.0) -> np.ndarray:
    """Encode metres as uint16 in ``scale`` units per metre (0 stays invalid).

    Depths that do not fit into 16 bits become 0 rather than wrapping around, so an
    encoded image never reports a wrong distance.
    """
    depth_m = np.asarray(depth_m, dtype=np.float32)
    # One scaled buffer, rounded and cleared in place: this runs on every published frame.
    with np.errstate(over="ignore"):  # a depth too far for float32 becomes inf, and inf becomes 0 below
        units: np.ndarray = np.multiply(depth_m, np.float32(scale))
    np.rint(units, out=units)
    # NaN fails both comparisons and inf the upper bound, so holes of every kind become 0.
    unrepresentable = ~(units >= 0)
    unrepresentable |= units >= UINT16_SENTINEL
    units[unrepresentable] = 0
    return units.astype(np.uint16)


#: Marks the temporary names of :func:`atomic_output` (``.<name>.<pid>.<random>.partial<suffix>``)
#: and of the staging folders of ``bags.storage.atomic_directory`` (``.<name>.<pid>.<random>.partial``).
PARTIAL_MARK = ".partial"
_PARTIAL_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[0-9A-Za-z_]+\.partial(\.[^.]*)?$")


def partial_path(path: str | os.PathLike[str]) -> Path:
    """A fresh hidden name beside ``path`` for writing it in steps.

    The name carries the writer's pid (so :func:`stale_partials` can tell a live writer's file
    from one a killed run left behind) and keeps ``path``'s suffix (writers such as OpenCV,
    imageio and matplotlib pick the format from it).
    """
    path = Path(path)
    return path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}{PARTIAL_MARK}{path.suffix}"


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_partials(folder: str | os.PathLike[str], target: str | None = None) -> list[Path]:
    """Partial outputs in ``folder`` whose writer is gone: left by a run killed mid-write (SIGKILL, power loss).

    Files and staging folders alike (see :data:`PARTIAL_MARK`); what to do with them is the
    caller's choice. ``target``: only the partials of the output with that name, not those of
    names that extend it (``bag.v2`` for ``bag``). A live writer's partial names its pid and is
    not listed, so two runs side by side never report (or remove) each other's outputs.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    prefix = "." if target is None else f".{glob.escape(target)}."
    stale = []
    for candidate in sorted(folder.glob(prefix + "*" + PARTIAL_MARK + "*")):
        match = _PARTIAL_NAME.match(candidate.name)
        if match and (target is None or match["target"] == target) and not process_alive(int(match["pid"])):
            stale.append(candidate)
    return stale


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    Readers never see a half-written file, and a failure or an interrupt (Ctrl-C, and SIGTERM
    where the CLI turns it into one) removes the temporary file and leaves any previous file
    untouched. Only a hard kill can leave it behind, under a name :func:`stale_partials` finds.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name, not a mkstemp file: the writer creates it with the umask's permissions
    # (mkstemp's 0600 would survive the rename).
    tmp = partial_path(path)
    try:
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError as exc:  # name the output, not the temporary file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise DepthIOError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DepthIOError(f"{path}: file is empty")


def read_depth_raw(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a depth file as stored (uint16 units or float metres), single channel."""
    path = Path(path)
    _check_readable(path)
    suffix = path.suffix.lower()
    data: np.ndarray
    if suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DepthIOError(f"{path}: not a readable .npy array ({exc})") from exc
    elif suffix in DEPTH_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            hint = " (OpenCV was built without OpenEXR?)" if suffix == ".exr" else ""
            raise DepthIOError(f"{path}: cannot decode image{hint}")
        data = image
    else:
        raise DepthIOError(f"{path}: unsupported depth format {suffix!r} (use one of {DEPTH_SUFFIXES})")
    repeated = data.ndim == 3 and all(
        np.array_equal(data[..., 0], data[..., c], equal_nan=data.dtype.kind == "f") for c in range(1, data.shape[2])
    )
    if repeated:
        # EXR depth from some tools (ClearGrasp) repeats the value in every channel.
        data = data[..., 0]
    if data.ndim != 2:
        raise DepthIOError(f"{path}: expected a single-channel depth image, got shape {data.shape}")
    if not (data.dtype == np.uint16 or np.issubdtype(data.dtype, np.floating)):
        raise DepthIOError(f"{path}: depth must be 16-bit or float, got {data.dtype}")
    return data


def read_depth(
    path: str | os.PathLike[str],
    scale: float = 1000.0,
    min_depth: float = 0.0,
    max_depth: float = DEFAULT_MAX_DEPTH,
) -> np.ndarray:
    """Read a depth file as float32 metres (0 = invalid); ``scale`` applies to 16-bit files."""
    return sanitize_depth(read_depth_raw(path), scale=scale, min_depth=min_depth, max_depth=max_depth)


def write_depth(path: str | os.PathLike[str], depth_m: np.ndarray, scale: float = 1000.0) -> Path:
    """Write metres atomically: ``.png`` as 16-bit ``scale`` units, ``.exr``/``.npy`` as float32 metres."""
    path = Path(path)
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2:
        raise DepthIOError(f"{path}: depth to write must be 2-D, got shape {depth_m.shape}")
    suffix = path.suffix.lower()
    with atomic_output(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as stream:
                np.save(stream, depth_m.astype(np.float32))
        elif suffix in (".png", ".tif", ".tiff"):
            _imwrite(tmp, depth_to_units(depth_m, scale))
        elif suffix == ".exr":
            _imwrite(tmp, np.nan_to_num(depth_m.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0))
        else:
            raise DepthIOError(f"{path}: unsupported depth format {suffix!r} (use .png, .exr or .npy)")
    return path


def read_color(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a colour image as uint8 RGB (H, W, 3); grey images are expanded to three channels."""
    path = Path(path)
    _check_readable(path)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DepthIOError(f"{path}: cannot decode colour image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a mask image (any bit depth) as a boolean array: True where the pixel is non-zero."""
    path = Path(path)
    _check_readable(path)
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise DepthIOError(f"{path}: cannot decode mask image")
    return (mask if mask.ndim == 2 else mask.max(axis=2)) > 0


def write_color(path: str | os.PathLike[str], rgb: np.ndarray) -> Path:
    """Write a uint8 RGB (or grey) image atomically; the format follows the suffix."""
    path = Path(path)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim not in (2, 3) or (rgb.ndim == 3 and rgb.shape[2] != 3):
        raise DepthIOError(f"{path}: expected uint8 RGB (H, W, 3) or grey (H, W), got {rgb.dtype} {rgb.shape}")
    with atomic_output(path) as tmp:
        _imwrite(tmp, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)
    return path


def _imwrite(path: Path, image: np.ndarray) -> None:
    """Encode in memory, then write: a folder problem surfaces as the OSError it is (permission
    denied, disk full), not as OpenCV's "could not write" for every cause."""
    encoded, buffer = cv2.imencode(path.suffix, image)
    if not encoded:
        raise DepthIOError(f"{path}: OpenCV could not encode a {image.dtype} {image.shape} image as {path.suffix}")
    path.write_bytes(buffer.tobytes())
