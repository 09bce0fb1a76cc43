"""``depth-completion``: the command-line face of the library (never imported by it).

One module per command group; each defines ``register(subparsers)``, which adds its
sub-command(s) and sets ``func`` (parsed args -> exit code) on each. A new group is one module
here plus its name in :data:`COMMAND_MODULES`. Shared argument helpers live in ``common.py``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ..backends import BackendError
from ..depth_io import DepthIOError
from .common import describe_os_error, sigterm_as_keyboard_interrupt

#: Command-group modules of this package, in the order ``--help`` lists them.
COMMAND_MODULES = ("complete", "evaluate", "bag", "demo", "fuse", "synthetic", "export")

DESCRIPTION = ("Depth completion tools: complete and score frame folders, convert and play bags, run the demo, "
               "export models to ONNX and TensorRT.")


def build_parser() -> argparse.ArgumentParser:
    """The ``depth-completion`` parser with every command group of :data:`COMMAND_MODULES`."""
    parser = argparse.ArgumentParser(prog="depth-completion", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user mistakes and file-system errors end in one ``error:`` line and exit
    code 2, Ctrl-C and SIGTERM in 130."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        with sigterm_as_keyboard_interrupt():
            return int(args.func(args))
    except (DepthIOError, ValueError, BackendError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
