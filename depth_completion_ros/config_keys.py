"""One check for configuration mappings (YAML/JSON) with keys the reader does not know.

A misspelt key that is silently ignored trains or runs with the default instead of the value
the user wrote, so every reader of a configuration mapping rejects unknown keys the same way.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def reject_unknown_keys(
    data: Mapping[str, Any], known: Iterable[str], what: str, error: type[Exception] = ValueError
) -> None:
    """Raise ``error`` naming the unknown keys of ``data`` and the known ones (``what``: whose keys)."""
    known = set(known)
    unknown = sorted(set(data) - known)
    if unknown:
        raise error(f"unknown {what} keys {unknown}; known keys: {sorted(known)}")
