"""Training configuration: typed, frozen dataclasses loaded from one YAML file.

A config file holds the sections of :class:`TrainingConfig` (``model``, ``init``, ``data``,
``val``, ``loss``, ``optim``, ``schedule``, ``train``). Every key is checked (a misspelt key
would silently train with a default, so it is an error naming the known keys) and every value
must have its field's type; a key that is not in the file takes the field's default.
Command-line overrides (``--set optim.lr=1e-3 data.batch_size=8``, values read as YAML) change
the file's mapping before that check, so they are validated exactly like the file.

The dataset specs of ``data`` and ``val`` stay mappings: their keys depend on the dataset kind
and a mixture nests specs, so they are checked against the schema the dataset builder reads
(:func:`training.datasets.check_dataset_spec`) rather than mirrored in a dataclass per kind.
:meth:`TrainingConfig.to_dict` gives the plain mapping that checkpoints store, in the file's
layout, so a stored config loads back through :meth:`TrainingConfig.from_mapping`.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from depth_completion_ros.config_keys import reject_unknown_keys
from training.datasets import check_dataset_spec
from training.losses import LossConfig
from training.schedules import ScheduleConfig

OPTIMIZERS = ("adam", "adamw")

SectionT = TypeVar("SectionT")


#: What ``val.select_by`` may name: validation metrics, lower is better.
SELECTION_METRICS = ("hole_rmse", "worst_part")


@dataclass(frozen=True)
class OptimConfig:
    """``name``: adam or adamw (weight decay skips biases and norm parameters); ``grad_clip``:
    the largest gradient norm (None or 0: no clipping)."""

    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.name!r} (use {' or '.join(OPTIMIZERS)})")
        if self.lr <= 0 or self.weight_decay < 0 or (self.grad_clip is not None and self.grad_clip < 0):
            raise ValueError(f"optim needs lr > 0, weight_decay >= 0 and grad_clip >= 0, got lr={self.lr}, "
                             f"weight_decay={self.weight_decay}, grad_clip={self.grad_clip}")


@dataclass(frozen=True)
class TrainSettings:
    """The ``train`` section: run length (``max_steps``, else ``epochs``), seed, mixed precision
    (CUDA only), checkpoint and log periods in steps, output folder, intra-op threads (None:
    PyTorch's choice) and, for a prior-anchored model, the ``working_scale`` range [min, max]
    of the factor each training crop is shrunk by to its working resolution."""

    epochs: int = 50
    max_steps: int | None = None
    seed: int = 0
    amp: bool = True
    checkpoint_every: int = 500
    log_every: int = 10
    out_dir: str = "runs/costdcnet"
    threads: int | None = None
    working_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        counts = {"epochs": self.epochs, "max_steps": self.max_steps, "checkpoint_every": self.checkpoint_every,
                  "log_every": self.log_every, "threads": self.threads}
        bad = {name: value for name, value in counts.items() if value is not None and value < 1}
        if bad:
            raise ValueError(f"train counts must be >= 1, got {bad}")
        if self.working_scale is not None and not 0 < self.working_scale[0] <= self.working_scale[1]:
            raise ValueError(f"working_scale must be [min, max] with 0 < min <= max, got {list(self.working_scale)}")


@dataclass(frozen=True)
class DataConfig:
    """The ``data`` section: a dataset spec (:func:`training.datasets.build_dataset`) plus how
    it is loaded (``batch_size``, ``num_workers``), written side by side in the file."""

    dataset: Mapping[str, Any]
    batch_size: int = 4
    num_workers: int = 1

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.num_workers < 0:
            raise ValueError(f"data needs batch_size >= 1 and num_workers >= 0, got {self.batch_size}, "
                             f"{self.num_workers}")

    @classmethod
    def from_mapping(cls, data: Any, where: str) -> DataConfig:
        return cls(**_split_dataset(data, where, {"batch_size": int, "num_workers": int}))

    def to_dict(self) -> dict[str, Any]:
        return {**_plain(self.dataset), "batch_size": self.batch_size, "num_workers": self.num_workers}


@dataclass(frozen=True)
class ValConfig:
    """The ``val`` section: a dataset spec, validated every ``every_steps`` (None: once per
    epoch) in batches of ``batch_size`` (None: the training batch size). ``select_by`` decides
    which weights become ``best.pt``: ``hole_rmse`` (the lowest over all validation frames) or
    ``worst_part`` (prior-anchored models on a mixture: the lowest hole RMSE change against the
    prior on the mixture part where it is worst, so no camera or scene kind is traded away)."""

    dataset: Mapping[str, Any]
    every_steps: int | None = None
    batch_size: int | None = None
    select_by: str = "hole_rmse"

    def __post_init__(self) -> None:
        if any(value is not None and value < 1 for value in (self.every_steps, self.batch_size)):
            raise ValueError(f"val needs every_steps and batch_size >= 1, got {self.every_steps}, {self.batch_size}")
        if self.select_by not in SELECTION_METRICS:
            raise ValueError(f"val.select_by must be one of {', '.join(SELECTION_METRICS)}, got {self.select_by!r}")

    @classmethod
    def from_mapping(cls, data: Any, where: str) -> ValConfig:
        return cls(**_split_dataset(data, where, {"every_steps": int | None, "batch_size": int | None,
                                                  "select_by": str}))

    def to_dict(self) -> dict[str, Any]:
        return {**_plain(self.dataset), "every_steps": self.every_steps, "batch_size": self.batch_size,
                "select_by": self.select_by}


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """One training run. ``model``: a packaged model config name or YAML path; ``init``: a
    checkpoint to fine-tune from (same architecture, fresh optimizer); ``val``: None for no
    validation."""

    model: str = "costdcnet_cpu"
    init: str | None = None
    data: DataConfig
    val: ValConfig | None = None
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainSettings = field(default_factory=TrainSettings)

    @classmethod
    def from_mapping(cls, data: Any, where: str = "") -> TrainingConfig:
        """From a YAML mapping or a checkpoint's stored ``training_config``."""
        return section_from_mapping(cls, data, where)

    def to_dict(self) -> dict[str, Any]:
        """The plain mapping, in the config file's layout (what checkpoints store)."""
        return section_to_dict(self)


def load_training_config(path: str | os.PathLike[str] | None, overrides: Sequence[str] = ()) -> TrainingConfig:
    """The YAML file (none: every section from ``overrides``) with the ``section.key=value``
    overrides applied, checked as a whole; errors name the file."""
    mapping: dict[str, Any] = {}
    source = "overrides"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such training config")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a training config must be a mapping")
        mapping, source = loaded, str(path)
    try:
        return TrainingConfig.from_mapping(apply_overrides(mapping, overrides))
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc


def apply_overrides(mapping: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``mapping`` with ``a.b.c=value`` strings applied; values are parsed as YAML
    (``1e-3``, ``[320, 256]``, ``null``, ``{kind: synthetic}``), missing sections are created.
    A number addresses a list item (``data.parts.0.repeat=3``, ``-1`` the last one) and
    ``~a.b`` removes a key or list item (``~data.parts.4``: an ablation without that part),
    as Hydra spells it."""
    config = copy.deepcopy(dict(mapping))
    for item in overrides:
        remove = item.startswith("~")
        key, sep, text = item[1:].partition("=") if remove else item.partition("=")
        if remove and sep:
            raise ValueError(f"override {item!r}: ~section.key removes a key and takes no value")
        if not key or not (sep or remove):
            raise ValueError(f"override {item!r} must look like section.key=value or ~section.key")
        parts = key.split(".")
        node: Any = config
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                node = node[_list_index(node, part, item, ".".join(parts[:depth]))]
                continue
            where = ".".join(parts[: depth + 1])
            child = node.get(part)
            if child is None:
                if remove:
                    raise ValueError(f"override {item!r}: there is no {where!r} to remove from")
                child = node[part] = {}
            elif not isinstance(child, (dict, list)):
                raise ValueError(f"override {item!r}: {part!r} is not a section")
            node = child
        last = parts[-1]
        if isinstance(node, list):
            index = _list_index(node, last, item, ".".join(parts[:-1]))
            if remove:
                del node[index]
            else:
                node[index] = parse_value(text)
        elif remove:
            if last not in node:
                raise ValueError(f"override {item!r}: there is no {key!r} to remove")
            del node[last]
        else:
            node[last] = parse_value(text)
    return config


def _list_index(items: list[Any], text: str, item: str, where: str) -> int:
    """``text`` as an index into ``items`` (the list at ``where``; negative counts from the end),
    or a clear error."""
    try:
        index = int(text)
    except ValueError:
        raise ValueError(f"override {item!r}: {where!r} is a list; address its items by number") from None
    if not -len(items) <= index < len(items):
        raise ValueError(f"override {item!r}: {where!r} has {len(items)} items, no item {index}")
    return index


def parse_value(text: str) -> Any:
    """A command-line value as YAML, with ``1e-3`` read as a number (YAML 1.1 wants ``1.0e-3``)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


# ----------------------------------------------------------------------------- typed mappings


def section_from_mapping(cls: type[SectionT], data: Any, where: str) -> SectionT:
    """An instance of the dataclass ``cls`` from a mapping: unknown keys are rejected, every
    value is checked against (and converted to) its field's type, absent keys take defaults.
    ``where``: the dotted path of the section in the config ("" for the whole config)."""
    label = where or "training config"
    if not isinstance(data, Mapping):
        raise ValueError(f"{label} must be a mapping, got {data!r}")
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a config dataclass")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    reject_unknown_keys(data, (f.name for f in fields), label)
    missing = [f.name for f in fields if f.name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{label} needs {', '.join(missing)}")
    values = {f.name: typed_value(data[f.name], hints[f.name], f"{where}.{f.name}" if where else f.name)
              for f in fields if f.name in data}
    return cls(**values)


def typed_value(value: Any, hint: Any, where: str) -> Any:
    """``value`` as the type ``hint`` (bool, int, float, str, X | None, tuple[...], a mapping or
    a config dataclass); ints are accepted for floats and integral floats (``1e3``) for ints."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = (arg for arg in args if arg is not type(None))
        return typed_value(value, inner, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ValueError(f"{where} must be a list of {len(args)} values, got {value!r}")
        items = zip(value, args, strict=True)
        return tuple(typed_value(item, arg, f"{where}[{i}]") for i, (item, arg) in enumerate(items))
    if origin is Mapping or hint is Mapping:
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a mapping, got {value!r}")
        return copy.deepcopy(dict(value))
    if isinstance(hint, type) and hasattr(hint, "from_mapping"):
        return hint.from_mapping(value, where)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return section_from_mapping(hint, value, where)
    if isinstance(value, bool) and hint is not bool:
        raise ValueError(f"{where} must be {_type_name(hint)}, got {value!r}")
    if hint is float and isinstance(value, (int, float)):
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    raise ValueError(f"{where} must be {_type_name(hint)}, got {value!r}")


def section_to_dict(section: Any) -> dict[str, Any]:
    """A config dataclass as a plain mapping (lists for tuples), the inverse of :func:`section_from_mapping`."""
    return {f.name: _plain(getattr(section, f.name)) for f in dataclasses.fields(section)}


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return section_to_dict(value)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _split_dataset(data: Any, where: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The typed loader ``fields`` of a data/val section, and the rest as its checked ``dataset`` spec."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a mapping, got {data!r}")
    values = {name: typed_value(data[name], hint, f"{where}.{name}") for name, hint in fields.items() if name in data}
    dataset = {key: value for key, value in data.items() if key not in fields}
    try:
        check_dataset_spec(dataset)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    return {"dataset": copy.deepcopy(dataset), **values}


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint)
