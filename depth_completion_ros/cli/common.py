"""Argument helpers shared by the command groups: number types, the completer options, dataset selection."""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from ..datasets import LAYOUTS, Frame, discover_frames
from ..options import CompleterOptions, OptionField, option_fields
from ..pipeline import DepthCompleter

#: Where the command line differs from the library: the offline tools default to the method that
#: needs no model and no GPU.
OFFLINE_DEFAULTS = {"method": "classical"}


def positive_int(text: str) -> int:
    """argparse type for counts: 0 or a negative number would silently mean something else."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type for rates and durations: finite and above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _bounded_float(low: float, high: float) -> Callable[[str], float]:
    """argparse type for a float option with limits, so a bad value is a usage error at once."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a number in [{low:g}, {high:g}], got {text!r}")
        return value

    return parse


def _number(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None

    return parse


def _add_option(parser: argparse._ActionsContainer, option: OptionField, default: Any) -> None:
    """One ``--flag`` for a field of an options dataclass: its type, choices, limits and help."""
    flags = option.spec.cli_flags or ("--" + option.name.replace("_", "-"),)
    kwargs: dict[str, Any] = {"dest": option.name, "default": default, "help": option.spec.description}
    if option.type is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif option.spec.choices:
        kwargs["choices"] = option.spec.choices
    elif option.spec.limits is not None:
        kwargs["type"] = _bounded_float(*option.spec.limits) if option.type is float else _number(option.type)
    elif option.type is not str:
        kwargs["type"] = _number(option.type)
    parser.add_argument(*flags, **kwargs)


def add_completer_arguments(parser: argparse.ArgumentParser) -> None:
    """One argument per :class:`CompleterOptions` field; read back with :func:`completer_options`."""
    group = parser.add_argument_group("completion options")
    for option in option_fields(CompleterOptions):
        _add_option(group, option, OFFLINE_DEFAULTS.get(option.name, option.default))


def completer_options(args: argparse.Namespace) -> CompleterOptions:
    """The :class:`CompleterOptions` that :func:`add_completer_arguments`' arguments describe."""
    return CompleterOptions(**{option.name: getattr(args, option.name) for option in option_fields(CompleterOptions)})


def build_completer(args: argparse.Namespace) -> DepthCompleter:
    """The DepthCompleter the parsed completion options describe."""
    return DepthCompleter(completer_options(args))


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that find the frames of INPUT; read back with :func:`dataset_frames`."""
    parser.add_argument("--layout", choices=("auto", *LAYOUTS), default="auto", help="dataset layout of INPUT")
    parser.add_argument("--depth-scale", type=float, default=None,
                        help="16-bit depth units per metre (default: the layout's: 1000 mm, 4000 Matterport)")
    parser.add_argument("--limit", type=positive_int, default=None, help="use only the first N frames")


def dataset_frames(args: argparse.Namespace) -> list[Frame]:
    """The frames that ``input`` and :func:`add_dataset_arguments`' options select."""
    frames = discover_frames(args.input, layout=args.layout, depth_scale=args.depth_scale)
    return frames[: args.limit]


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
