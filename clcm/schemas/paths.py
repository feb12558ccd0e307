"""Output paths from names that come from data or flags: validated names, and paths that stay inside ``-o``.

Every writer that builds a file name from something it did not choose itself (a ``dataset`` column, a ``split``,
a language, ``--collection``, a model revision) checks the name with :func:`name_problem` / :func:`safe_name` and
joins it with :func:`inside`, which refuses any path that would resolve outside the output directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from clcm.errors import ClcmError, OutputError, UsageError

MAX_NAME = 100
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def name_problem(value: object) -> str | None:
    """Why ``value`` cannot be used as (part of) a file name, or None when it can.

    Allowed: ASCII letters, digits, ``.``, ``_``, ``+``, ``-``, starting with a letter or digit (so no ``.``/``..``,
    no hidden files, no separators), at most ``MAX_NAME`` characters.
    """
    if not isinstance(value, str) or not value:
        return "is empty" if value == "" else f"is not a string ({type(value).__name__})"
    if len(value) > MAX_NAME:
        return f"is longer than {MAX_NAME} characters"
    if not _SAFE.fullmatch(value):
        return "may only hold letters, digits, '.', '_', '+', '-' and must start with a letter or digit"
    return None


def safe_name(value: object, what: str, error: type[ClcmError] = UsageError) -> str:
    """``value`` if it is a safe file name (see :func:`name_problem`), else raise ``error`` naming ``what``."""
    problem = name_problem(value)
    if problem is not None:
        raise error(f"{what} {value!r} cannot be part of a file name: it {problem}")
    return value  # type: ignore[return-value]


def inside(root: str | os.PathLike, *parts: str) -> Path | str:
    """``root / parts...``, refusing (OutputError) a result that resolves outside ``root`` (``..``, absolute parts,
    symlinks pointing out). For an object-store URL ``root`` a string; its parts must not be empty, ``.``/``..``
    or start with ``/``."""
    if "://" in os.fspath(root):
        pieces = [s for part in parts for s in part.split("/")]
        if not pieces or any(s in ("", ".", "..") for s in pieces):
            raise OutputError(f"refusing to write {'/'.join(parts)}: it is not inside the output directory {root}")
        return "/".join([os.fspath(root).rstrip("/"), *pieces])
    base = Path(root).resolve()
    path = Path(root).joinpath(*parts)
    resolved = path.resolve()
    if resolved == base or base not in resolved.parents:
        raise OutputError(f"refusing to write {path}: it is not inside the output directory {root}")
    return path
