"""Model-file lookup: the file the user names (``.engine``, ``.onnx``, ``.pt``) or the shipped default."""
from __future__ import annotations

import os
from pathlib import Path

from ..resources import ModelNotFoundError, default_model_path
from .base import ModelFileError

#: Suffixes of the forms a model can take, in the order the backends prefer them.
MODEL_SUFFIXES = (".engine", ".onnx", ".pt")


def model_files(model_path: str | os.PathLike[str] | None) -> dict[str, Path]:
    """The files a backend may load, by suffix: exactly the given file, or the shipped model's forms.

    A given path is the only file used: a same-named ``.pt`` or ``.onnx`` beside it may be an
    older or unrelated model, and silently running that instead would be wrong. ``None`` means
    the shipped CPU model, whose ONNX export and checkpoint ship together as one model.
    """
    if model_path is None:
        return _shipped_model()
    path = Path(model_path)
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"{path}: unknown model file type {path.suffix!r}; expected one of {list(MODEL_SUFFIXES)}")
    return {path.suffix: existing_file(path, "model")}


def _shipped_model() -> dict[str, Path]:
    """The shipped CPU model's forms that are installed (its ONNX export and its checkpoint)."""
    files, problems = {}, []
    for kind in ("onnx", "pt"):
        try:
            files["." + kind] = default_model_path(kind=kind)
        except ModelNotFoundError as exc:
            problems.append(str(exc))
    if not files:
        raise ModelFileError("no model path given and no shipped model: " + " ".join(problems))
    return files


def existing_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path; ModelFileError when it is missing or empty (``what``: which kind of file)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: {what} file not found")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: {what} file is empty")
    return path

