"""User-facing errors and the exit codes the CLIs map them to (documented in the README)."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: unexpected exception (traceback printed)
EXIT_USAGE = 2  # bad flags, bad or unknown config keys (typer uses 2 for usage errors too)
EXIT_INPUT = 3  # input missing, unreadable or not in the declared format
EXIT_OUTPUT = 4  # output location not writable
EXIT_MODEL = 5  # a model that does not load, or a device that is not there
EXIT_EMPTY = 6  # nothing left to write (every record rejected or filtered out) when that is an error
EXIT_NOT_BUILT = 10  # a planned command that is not implemented yet
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class ClcmError(Exception):
    """An error the user can fix; the CLI prints its message (no traceback) and exits with ``exit_code``."""

    exit_code = EXIT_INTERNAL


class UsageError(ClcmError):
    exit_code = EXIT_USAGE


class InputError(ClcmError):
    exit_code = EXIT_INPUT


class OutputError(ClcmError):
    exit_code = EXIT_OUTPUT


class ModelError(ClcmError):
    exit_code = EXIT_MODEL


class EmptyResultError(ClcmError):
    exit_code = EXIT_EMPTY


class NotBuiltError(ClcmError):
    exit_code = EXIT_NOT_BUILT


# Write failures the user fixes (free space, permissions, a read-only mount): exit 4, wherever they happen.
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
_ERRNO_TEXT = re.compile(r"\[Errno (\d+)\][^:']*(?:: '([^']+)')?")


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes/contexts (Beam re-raises a worker's error as a new exception chained to it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is (or was caused by) Ctrl-C."""
    return any(isinstance(e, KeyboardInterrupt) for e in exception_chain(exc))


def output_error_of(exc: BaseException) -> OutputError | None:
    """The OutputError an unexpected exception stands for, or None: an OSError with an output errno anywhere in
    its chain (the text of a re-raised one keeps ``[Errno N]``)."""
    for current in exception_chain(exc):
        code = current.errno if isinstance(current, OSError) else None
        where = getattr(current, "filename", None)
        if code is None and (m := _ERRNO_TEXT.search(str(current))):
            code, where = int(m.group(1)), m.group(2)
        if code in OUTPUT_ERRNOS:
            return OutputError(f"{os.strerror(code)}: {where}" if where else f"cannot write: {os.strerror(code)}")
    return None
