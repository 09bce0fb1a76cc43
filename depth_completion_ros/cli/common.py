"""Helpers shared by the command groups: number types, the completer options, dataset selection,
output folders and signals."""
from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from ..datasets import LAYOUTS, Frame, discover_frames
from ..depth_io import stale_partials
from ..evaluation import PROTOCOLS
from ..options import CompleterOptions, OptionField, option_fields
from ..pipeline import DepthCompleter

LOG = logging.getLogger("depth_completion")

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
    add_layout_arguments(parser, "INPUT")
    parser.add_argument("--limit", type=positive_int, default=None, help="use only the first N frames")


def add_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    """``--protocol``, ``--seed`` and ``--draws``: how an evaluation scores frames
    (:func:`evaluation.scored_frames`), the same in every tool that scores a protocol."""
    parser.add_argument("--protocol", choices=PROTOCOLS, default="auto",
                        help="gt: compare with the dataset's reference depth; hidden: hide extra regions of the raw "
                             "depth and score them; auto: gt when every frame has a reference")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hidden-region protocol")
    parser.add_argument("--draws", type=positive_int, default=1,
                        help="hidden-region protocol: score every frame under this many draws of hidden regions "
                             "(seeds SEED, SEED+1, ...); a set of a few frames needs several for a comparison to hold")


def add_layout_arguments(parser: argparse.ArgumentParser, source: str) -> None:
    """``--layout`` and ``--depth-scale``: how the frames of the dataset folder ``source`` are read
    (the arguments of :func:`datasets.discover_frames`)."""
    parser.add_argument("--layout", choices=("auto", *LAYOUTS), default="auto", help=f"dataset layout of {source}")
    add_depth_scale_argument(parser)


def add_depth_scale_argument(parser: argparse.ArgumentParser) -> None:
    """``--depth-scale``, for recordings whose 16-bit depth units the layout cannot tell."""
    parser.add_argument("--depth-scale", type=positive_float, default=None,
                        help="16-bit depth units per metre (default: the layout's: 1000 mm, 4000 Matterport, "
                             "5000 TUM)")


def add_intrinsics_argument(parser: argparse.ArgumentParser) -> None:
    """``--intrinsics FILE``, for recordings that ship without their camera's intrinsics."""
    parser.add_argument("--intrinsics", type=Path, default=None,
                        help="intrinsics file (3x3 matrix text, YAML fx/fy/cx/cy, ROS camera_info YAML); "
                             "default: the dataset's camera-intrinsics.txt / camera_intrinsics.yaml")


class _DepthRangeAction(argparse.Action):
    """``MIN MAX`` in metres with 0 <= MIN < MAX, checked while parsing."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        low, high = values
        if not (0.0 <= low < high and math.isfinite(high)):
            parser.error(f"{option_string} needs 0 <= MIN < MAX in metres, got {low:g} {high:g}")
        setattr(namespace, self.dest, (low, high))


def add_color_range_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """``--color-range MIN MAX``: a fixed depth colour scale; ``default`` says what applies without it."""
    parser.add_argument("--color-range", nargs=2, type=_number(float), action=_DepthRangeAction, default=None,
                        metavar=("MIN", "MAX"),
                        help=f"fixed depth colour scale of the pictures, in metres (default: {default})")


def dataset_frames(args: argparse.Namespace) -> list[Frame]:
    """The frames that ``input`` and :func:`add_dataset_arguments`' options select."""
    frames = discover_frames(args.input, layout=args.layout, depth_scale=args.depth_scale)
    return frames[: args.limit]


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


class OutputFolderError(ValueError):
    """An output folder cannot be used: a file is in its place, it cannot be created or written,
    or it leads out of the folder it belongs to."""


def prepare_output_folder(folder: Path, *, inside: Path | None = None) -> Path:
    """Create ``folder`` if needed and check that files can be written in it, before any work starts.

    ``inside``: the folder ``folder`` must stay in (a ``panels`` symlink in the output folder
    could otherwise send writes anywhere). Partial files that a killed run left here (see
    :func:`depth_io.stale_partials`) are removed, each named in a warning: they are temporary
    names of files that were never finished, and the finished files are never touched. A killed
    bag tool's staging folder stays: ``bag repair`` may recover a recording from it.
    """
    if inside is not None and not folder.resolve().is_relative_to(inside.resolve()):
        raise OutputFolderError(f"{folder}: leads out of {inside} (to {folder.resolve()}); "
                                "refusing to write there - remove the link or choose another output folder")
    existing = next(path for path in (folder, *folder.absolute().parents) if path.exists())
    if not existing.is_dir():
        where = "exists and is not a folder" if existing == folder else f"cannot be created: {existing} is a file"
        raise OutputFolderError(f"{folder}: {where}; choose a folder for the output")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputFolderError(f"{folder}: cannot write output here ({exc.strerror or exc})") from exc
    for partial in stale_partials(folder):
        if partial.is_dir():
            continue
        LOG.warning("removing %s: a partial file left by an earlier run that was killed mid-write", partial)
        partial.unlink(missing_ok=True)
    return folder


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM stops the command the way Ctrl-C does (``KeyboardInterrupt``).

    ``kill``, ``timeout`` and service managers send SIGTERM; without this, Python dies on the
    spot and skips every ``finally`` that removes partial outputs. Only the first SIGTERM
    interrupts; later ones are ignored, then and while the interrupted process winds down, so
    they cannot cut the clean-up short (SIGKILL still ends it at once). Without an interrupt the
    previous handler comes back on exit.
    """
    interrupted = False

    def interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN if interrupted else previous)


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system error: what went wrong and on which path(s)."""
    paths = " -> ".join(os.fsdecode(name) for name in (exc.filename, exc.filename2) if name is not None)
    reason = exc.strerror or str(exc)
    return f"{paths}: {reason}" if paths else reason
