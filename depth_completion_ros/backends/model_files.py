"""Model-file lookup: one model in its forms (``.engine``, ``.onnx``, ``.pt``) and the shipped default."""
from __future__ import annotations

import os
from pathlib import Path

from ..resources import ModelNotFoundError, default_model_path
from .base import ModelFileError

#: Suffixes of the forms a model can take, in the order the backends prefer them.
MODEL_SUFFIXES = (".engine", ".onnx", ".pt")


def model_files(model_path: str | os.PathLike | None) -> dict[str, Path]:
    """The forms of one model, by suffix: the given file plus same-stem siblings (.engine/.onnx/.pt).

    ``None`` means the shipped CPU model (its ONNX export, else its checkpoint).
    """
    path = _shipped_model() if model_path is None else Path(model_path)
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"{path}: unknown model file type {path.suffix!r}; expected one of {list(MODEL_SUFFIXES)}")
    path = existing_file(path, "model")
    files = {path.suffix: path}
    for suffix in (".onnx", ".pt"):
        sibling = path.with_suffix(suffix)
        if suffix not in files and sibling.is_file():
            files[suffix] = sibling
    return files


def _shipped_model() -> Path:
    """The shipped CPU model: its ONNX export where present, else its checkpoint."""
    problems = []
    for kind in ("onnx", "pt"):
        try:
            return default_model_path(kind=kind)
        except ModelNotFoundError as exc:
            problems.append(str(exc))
    raise ModelFileError("no model path given and no shipped model: " + " ".join(problems))


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path; ModelFileError when it is missing or empty (``what``: which kind of file)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: {what} file not found")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: {what} file is empty")
    return path

