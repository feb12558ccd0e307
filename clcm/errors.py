"""User-facing errors and the exit codes the CLIs map them to (documented in the README)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: unexpected exception (traceback printed)
EXIT_USAGE = 2  # bad flags, bad or unknown config keys (typer uses 2 for usage errors too)
EXIT_INPUT = 3  # input missing, unreadable or not in the declared format
EXIT_OUTPUT = 4  # output location not writable
EXIT_MODEL = 5  # a model that does not load, or a device that is not there
EXIT_EMPTY = 6  # nothing left to write (every record rejected or filtered out) when that is an error
EXIT_NOT_BUILT = 10  # a planned command that is not implemented yet


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
