"""Shared fixtures: datasets the project generates itself, and where the real RGB-D data lives.

The ``generated_*`` datasets (one per layout, rendered by :mod:`depth_completion_ros.synthetic`
once per session) carry the tests of behaviour; the real-data fixtures serve the extra layer of
accuracy checks on real cameras and skip with a reason when ``../shared/data`` is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from generated_datasets import (
    KITCHEN_SENTINEL_FRAMES,
    cleargrasp_samples,
    cup_samples,
    kitchen_samples,
    matterport_scenes,
    repeat_frames,
    tabletop_samples,
    write_cleargrasp,
    write_color_depth,
    write_depth_folder,
    write_frame_sequence,
    write_matterport,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """``$DC_SHARED_DATA`` or ``../shared/data`` beside the checkout (never copied into it)."""
    return Path(os.environ.get("DC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _dataset(name: str) -> Path:
    path = shared_data_root() / name
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set DC_SHARED_DATA to the shared data folder)")
    return path


@pytest.fixture(scope="session")
def matterport_root() -> Path:
    return _dataset("matterport3d")


@pytest.fixture(scope="session")
def redkitchen_root() -> Path:
    return _dataset("7scenes_redkitchen")


@pytest.fixture(scope="session")
def cleargrasp_root() -> Path:
    return _dataset("cleargrasp_d435")


@pytest.fixture(scope="session")
def generated_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generated")


@pytest.fixture(scope="session")
def generated_kitchen(generated_root) -> Path:
    """7-Scenes layout: a Kinect-like walk through a room, 640x480 millimetres, poses, intrinsics."""
    return write_frame_sequence(generated_root / "kitchen", kitchen_samples(), KITCHEN_SENTINEL_FRAMES)


@pytest.fixture(scope="session")
def generated_matterport(generated_root) -> Path:
    """Matterport3D benchmark layout: 2 scenes, 3 frames of 320x256 with dense render_depth."""
    return write_matterport(generated_root / "matterport", matterport_scenes())


@pytest.fixture(scope="session")
def generated_cleargrasp(generated_root) -> Path:
    """ClearGrasp layout: RealSense-like tabletops with glass, EXR metres, masks, opaque references."""
    return write_cleargrasp(generated_root / "cleargrasp", cleargrasp_samples())


@pytest.fixture(scope="session")
def generated_tabletop(generated_root) -> Path:
    """Frame layout from a RealSense-like camera over a table (colour registered to depth)."""
    return write_frame_sequence(generated_root / "tabletop", tabletop_samples(), color_suffix=".png")


@pytest.fixture(scope="session")
def generated_color_depth(generated_root) -> Path:
    """``color/`` + ``depth/`` folders with matching numbers, no intrinsics (a user's own recording
    of a tabletop at 640x360)."""
    return write_color_depth(generated_root / "color_depth", cup_samples())


@pytest.fixture(scope="session")
def generated_depth_folder(generated_root) -> Path:
    """A plain folder of millimetre depth PNGs."""
    return write_depth_folder(generated_root / "depth_folder", kitchen_samples()[:3])


@pytest.fixture(scope="session")
def generated_shared_data(generated_root, generated_matterport, generated_kitchen, generated_cleargrasp) -> Path:
    """The generated datasets under the folder names of ``../shared/data`` (a 300-frame kitchen, as
    7-Scenes has), for code that takes the shared data folder itself."""
    root = generated_root / "shared_data"
    root.mkdir()
    (root / "matterport3d").symlink_to(generated_matterport)
    (root / "cleargrasp_d435").symlink_to(generated_cleargrasp)
    repeat_frames(generated_kitchen, root / "7scenes_redkitchen", 300)
    return root


@pytest.fixture(scope="module")
def one_torch_thread():
    """Two torch threads on a loaded two-core machine spend most of their time spinning."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
