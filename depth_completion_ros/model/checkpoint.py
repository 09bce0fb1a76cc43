"""Checkpoints that carry their own architecture: ``{"config", "state_dict", "meta"}``.

Storing the config mapping (not a pickled object) lets ``torch.load(weights_only=True)`` read
the file safely and lets any later code version rebuild the model without extra arguments.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..depth_io import atomic_output
from .config import ModelConfig, ModelConfigError
from .factory import DepthNetwork, build_model

CHECKPOINT_KEYS = ("config", "state_dict", "meta")


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, incomplete or does not match its stored config."""


def save_checkpoint(path: str | os.PathLike[str], model: DepthNetwork, **meta: Any) -> Path:
    """Write ``model`` (config, weights) and ``meta`` atomically; meta values must be plain data
    (numbers, strings, lists, dicts, tensors) so the file loads with ``weights_only=True``."""
    path = Path(path)
    for key, value in meta.items():
        _check_plain(value, f"meta[{key!r}]")
    payload = {"config": model.config.to_dict(), "state_dict": model.state_dict(), "meta": dict(meta)}
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return path


def _check_plain(value: Any, where: str) -> None:
    """Refuse values ``torch.load(weights_only=True)`` would reject, before writing the file."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a non-string key {key!r}; checkpoint meta keys must be strings")
            _check_plain(item, f"{where}[{key!r}]")
    else:
        raise TypeError(
            f"{where} is a {type(value).__module__}.{type(value).__name__}; checkpoint meta must be plain data "
            "(None, bool, int, float, str, list, tuple, dict, torch.Tensor) — convert it, e.g. float(x) or x.tolist()"
        )


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw checkpoint mapping, checked for the expected keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if not zipfile.is_zipfile(path):
        # torch.save writes a zip archive; anything else (a text file, a truncated download)
        # would reach the unpickler, which fails with whatever the stray bytes trigger.
        raise CheckpointError(f"not a model checkpoint: {path} (not the zip archive torch.save writes; "
                              "empty, truncated or another kind of file)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, KeyError,
            IndexError) as exc:
        raise CheckpointError(
            f"not a model checkpoint: {path} (corrupt, or not written by save_checkpoint; "
            f"torch.load raised {type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(payload, dict) or any(key not in payload for key in CHECKPOINT_KEYS):
        found = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: expected a mapping with keys {list(CHECKPOINT_KEYS)}, found {found}")
    return payload


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> tuple[DepthNetwork, dict[str, Any]]:
    """Rebuild the model from the stored config, load its weights; returns ``(model in eval mode, meta)``."""
    payload = read_checkpoint(path, map_location)
    try:
        config = ModelConfig.from_dict(payload["config"])
    except ModelConfigError as exc:
        raise CheckpointError(f"{path}: stored model config is invalid ({exc})") from exc
    model = build_model(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match the stored config {config.name!r} ({exc})") from exc
    return model.to(map_location).eval(), payload["meta"]


def with_config(model: DepthNetwork, config: ModelConfig, source: str = "the weights") -> DepthNetwork:
    """``model``'s weights in a fresh network built from ``config`` (eval mode).

    The weights must fit ``config``'s architecture; settings outside the weights (the frame
    path: working area, upsampling sigmas, the correction ramp) come from ``config``, so
    fine-tuning and releases can change them without retraining. ``source`` names the weights
    in the error.
    """
    adopted = build_model(config)
    try:
        adopted.load_state_dict(model.state_dict())
    except RuntimeError as exc:
        raise CheckpointError(f"{source} ({model.config.name}) do not fit the model config {config.name!r}: "
                              f"{exc}") from exc
    return adopted.to(next(model.parameters()).device).eval()
