"""The one contract for configuring depth completion: :class:`CompleterOptions`.

Every adapter reads its settings from a dataclass like this one instead of spelling them again:
the CLI generates its arguments from the fields (``cli/common.py``), the ROS node declares one
parameter per field (``node.py``), ``config/params.yaml`` is checked against the fields by a
test, and :class:`~depth_completion_ros.pipeline.DepthCompleter` is built from an instance.
Each field carries an :class:`OptionSpec` (description, choices, limits, whether it can change
while running), and :func:`option_problems` is the one validation of a set of values.

The field types are the ones ROS parameters can hold (bool, int, float, str), so an empty string
stands for "not set" where a library call would say None (``model_path``, ``device``).
"""
from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .backends import BACKEND_KINDS
from .depth_io import DEFAULT_MAX_DEPTH

METHODS = ("model", "classical", "interp")
FITS = ("crop", "resize", "full")
LOW_CONFIDENCE = ("hole", "classical")
BACKENDS = ("auto", *BACKEND_KINDS)
#: Field metadata key of an :class:`OptionSpec`.
SPEC_KEY = "option"


@dataclass(frozen=True)
class OptionSpec:
    """What an adapter needs to expose one option: its documentation and the values it accepts."""

    description: str
    choices: tuple[str, ...] = ()
    #: Inclusive (low, high) bounds of a number.
    limits: tuple[float, float] | None = None
    #: Changeable while a node runs (``ros2 param set``); the others are read-only parameters.
    live: bool = True
    #: Command-line spellings when they differ from ``--field-name`` (kept for existing scripts).
    cli_flags: tuple[str, ...] = ()


def option(
    default: bool | int | float | str,
    description: str,
    *,
    choices: tuple[str, ...] = (),
    limits: tuple[float, float] | None = None,
    live: bool = True,
    cli_flags: tuple[str, ...] = (),
) -> Any:
    """A dataclass field carrying its :class:`OptionSpec` (typed ``Any`` like ``dataclasses.field``)."""
    spec = OptionSpec(description, choices, limits, live, cli_flags)
    return field(default=default, metadata={SPEC_KEY: spec})


@dataclass(frozen=True)
class OptionField:
    """One option of an options dataclass, as adapters see it."""

    name: str
    type: type
    default: Any
    spec: OptionSpec


def option_fields(options_type: type) -> tuple[OptionField, ...]:
    """The options of a dataclass made with :func:`option` fields, in declaration order."""
    hints = typing.get_type_hints(options_type)
    return tuple(
        OptionField(f.name, hints[f.name], f.default, f.metadata[SPEC_KEY])
        for f in dataclasses.fields(options_type)
        if SPEC_KEY in f.metadata
    )


def option_problems(options_type: type, values: Mapping[str, Any]) -> list[str]:
    """Every reason ``values`` do not fit the fields of ``options_type`` (type, choices, limits)."""
    problems = []
    for option_field in option_fields(options_type):
        if option_field.name not in values:
            continue
        value, spec = values[option_field.name], option_field.spec
        if not _has_type(value, option_field.type):
            problems.append(f"{option_field.name} must be a {option_field.type.__name__}, got {value!r}")
        elif spec.choices and value not in spec.choices:
            problems.append(f"unknown {option_field.name} {value!r}; expected one of {list(spec.choices)}")
        elif spec.limits is not None and not spec.limits[0] <= value <= spec.limits[1]:
            low, high = spec.limits
            problems.append(f"{option_field.name} must be in [{low:g}, {high:g}], got {value!r}")
    unknown = set(values) - {f.name for f in option_fields(options_type)}
    if unknown:
        problems.append(f"unknown option(s) {', '.join(sorted(unknown))} for {options_type.__name__}")
    return problems


def check_options(options: Any) -> None:
    """The ``__post_init__`` of an options dataclass: ints become floats where a float is expected,
    then one ValueError naming every field's problem (relations between fields are checked after)."""
    for option_field in option_fields(type(options)):
        value = getattr(options, option_field.name)
        if option_field.type is float and _has_type(value, float):
            object.__setattr__(options, option_field.name, float(value))
    problems = option_problems(type(options), dataclasses.asdict(options))
    if problems:
        raise ValueError("; ".join(problems))


def _has_type(value: Any, expected: type) -> bool:
    """ROS parameter typing: bool is not a number, an int is accepted where a float is expected."""
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


@dataclass(frozen=True)
class CompleterOptions:
    """How a :class:`~depth_completion_ros.pipeline.DepthCompleter` completes depth.

    Invalid values raise one ValueError naming every problem. ``model_path`` and ``device``
    also accept a path / ``torch.device`` / None and keep them as strings ("" = default).
    """

    method: str = option("classical", "Completion method: classical hole filling (the default: it measured best "
                         "on real data, models/MODEL_CARD.md), the CostDCNet model refining it, or interpolation "
                         "only. The node falls back to classical when the model cannot be loaded.",
                         choices=METHODS)
    backend: str = option("auto", "Inference backend for the model; auto picks the fastest that runs here "
                          "(TensorRT, ONNX Runtime CUDA, ONNX Runtime CPU, PyTorch).", choices=BACKENDS, live=False)
    model_path: str = option("", "Model file (.onnx, .pt checkpoint or TensorRT .engine); empty uses the "
                             "shipped model.", live=False, cli_flags=("--model",))
    device: str = option("", "Device of the model: cpu or cuda[:N]; empty picks cuda when available.", live=False)
    fit: str = option("crop", "How a frame is fitted to the model's input: centre crop to its aspect ratio "
                      "(outside the crop is classical-filled), resize the whole frame, or full resolution.",
                      choices=FITS)
    interpolate: bool = option(True, "Run the fast midpoint interpolation pass before the method.",
                               cli_flags=("--interp",))
    confidence_threshold: float = option(0.0, "Model fills whose confidence is below this are replaced as "
                                         "low_confidence says (0 keeps every fill).", limits=(0.0, 1.0))
    low_confidence: str = option("hole", "What replaces fills below confidence_threshold: leave a hole, or the "
                                 "classical fill.", choices=LOW_CONFIDENCE)
    min_depth: float = option(0.0, "Input depth below this many metres is treated as invalid.", limits=(0.0, 10.0))
    max_depth: float = option(DEFAULT_MAX_DEPTH, "Input depth above this many metres is treated as invalid "
                              "(a sensor's absurd values; inf: no upper bound).")

    def __post_init__(self) -> None:
        for name in ("model_path", "device"):
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, "")
            elif not isinstance(value, str) and (isinstance(value, os.PathLike) or name == "device"):
                object.__setattr__(self, name, os.fspath(value) if isinstance(value, os.PathLike) else str(value))
        check_options(self)
        if not self.min_depth < self.max_depth:
            raise ValueError(f"min_depth ({self.min_depth}) must be below max_depth ({self.max_depth})")

    def backend_key(self) -> tuple[str, str, str]:
        """The options a loaded backend depends on: while they stay the same it can be reused."""
        return self.backend, self.model_path, self.device
