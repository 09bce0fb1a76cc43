"""Where the package's shipped assets (models, parameter files) live in each kind of install.

The same code runs from a source checkout (``pip install -e .`` or plain ``PYTHONPATH``), from a
colcon workspace (assets under ``install/<pkg>/share/depth_completion_ros``, found through the
ament index) and from a plain ``pip install`` (assets under ``sys.prefix/share``). Callers ask
for a folder by name and never hard-code one layout.
"""
from __future__ import annotations

import sys
from collections.abc import MutableMapping
from pathlib import Path

PACKAGE = "depth_completion_ros"
#: Folder that holds the package directory; in a source checkout it also holds package.xml.
_SOURCE_ROOT = Path(__file__).resolve().parents[1]
#: File suffix of each shipped model kind.
MODEL_SUFFIXES = {"onnx": ".onnx", "pt": ".pt"}


class ModelNotFoundError(FileNotFoundError):
    """A shipped model or asset folder is not where any kind of install would put it."""


def source_root() -> Path | None:
    """The source checkout this package runs from (it holds ``training/``), or None when installed."""
    return _SOURCE_ROOT if (_SOURCE_ROOT / "package.xml").is_file() else None


def share_dirs() -> list[Path]:
    """Existing asset roots, most specific first: source checkout, ament share, ``sys.prefix``.

    A source checkout wins so that a developer's freshly exported model is used rather than a
    stale copy installed earlier.
    """
    candidates = []
    checkout = source_root()
    if checkout is not None:
        candidates.append(checkout)
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE)))
    except (ImportError, LookupError, OSError):
        # No ROS environment sourced, or the package is not in the ament index.
        pass
    candidates.append(Path(sys.prefix) / "share" / PACKAGE)
    unique: list[Path] = []
    for path in candidates:
        if path.is_dir() and path.resolve() not in {p.resolve() for p in unique}:
            unique.append(path)
    return unique


def asset_dirs(name: str) -> list[Path]:
    """Every existing ``<root>/<name>`` folder (e.g. ``models``, ``config``), in search order."""
    return [root / name for root in share_dirs() if (root / name).is_dir()]


def models_dir() -> Path:
    """The folder that holds the shipped models (the first of :func:`asset_dirs`)."""
    found = asset_dirs("models")
    if not found:
        raise ModelNotFoundError(f"no 'models' folder found; looked in: {_describe_roots()}")
    return found[0]


def default_model_path(config_name: str = "costdcnet_prior_cpu", kind: str = "onnx") -> Path:
    """Path of the shipped model ``<config_name>.<onnx|pt>``, searched in every asset root.

    The default is the prior-refining CPU model: on real data it stays within a few per cent of
    the classical fill where the previous absolute-plane model was up to 86 % worse (MODEL_CARD).
    """
    if kind not in MODEL_SUFFIXES:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(MODEL_SUFFIXES)}")
    filename = config_name + MODEL_SUFFIXES[kind]
    looked = [root / "models" / filename for root in share_dirs()]
    for path in looked:
        if path.is_file():
            return path
    where = ", ".join(str(p) for p in looked) or _describe_roots()
    raise ModelNotFoundError(
        f"shipped model {filename!r} not found; looked in: {where}. Export one with "
        f"depth-completion export-onnx or pass an explicit model path."
    )


def _describe_roots() -> str:
    return (
        f"{_SOURCE_ROOT} (source checkout), the ament index share of {PACKAGE!r}, "
        f"{Path(sys.prefix) / 'share' / PACKAGE}"
    )


#: Fast DDS profile with a shared-memory segment large enough for camera frames (see the file).
FASTDDS_PROFILE = "fastdds_large_frames.xml"
FASTDDS_PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"
#: Fast DDS 2's name, still honoured (with a deprecation warning): a profile set there is respected too.
LEGACY_FASTDDS_PROFILE_VARIABLE = "FASTRTPS_DEFAULT_PROFILES_FILE"


def fastdds_profile_path() -> Path:
    """The shipped Fast DDS profile for large images (``config/fastdds_large_frames.xml``)."""
    for folder in asset_dirs("config"):
        if (folder / FASTDDS_PROFILE).is_file():
            return folder / FASTDDS_PROFILE
    raise FileNotFoundError(f"{FASTDDS_PROFILE} not found; looked in: {_describe_roots()}")


def use_large_frame_transport(environ: MutableMapping[str, str]) -> str:
    """Point Fast DDS at the large-frame profile in ``environ`` (before any ROS context starts), unless
    the user already chose a profile; returns the profile in effect (processes started later inherit it)."""
    chosen = environ.get(FASTDDS_PROFILE_VARIABLE) or environ.get(LEGACY_FASTDDS_PROFILE_VARIABLE)
    if not chosen:
        chosen = environ[FASTDDS_PROFILE_VARIABLE] = str(fastdds_profile_path())
    return chosen
