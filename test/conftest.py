"""Shared fixtures: where the real RGB-D data lives, skipping with a reason when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Two torch threads on a loaded two-core machine spend most of their time spinning."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
