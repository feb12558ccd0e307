"""Shared CLI plumbing: run a typer app, turning ClcmError into one clear line and its exit code."""

from __future__ import annotations

import logging
import os
import sys

import typer

from clcm.errors import ClcmError, NotBuiltError


def not_built(command: str, issue: str) -> None:
    """Raise the one-line 'not built yet' error of a planned command."""
    raise NotBuiltError(f"`{command}` is planned but not built yet ({issue})")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s", force=True
    )


def run_app(app: typer.Typer, argv: list[str] | None = None) -> int:
    """Invoke ``app``; ClcmError becomes ``error: <message>`` on stderr and its exit code."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        rv = app(args=argv, standalone_mode=False)
    except ClcmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # typer/click exit paths (e.g. typer.Exit)
        return int(exc.code or 0)
    except Exception as exc:  # click usage errors come through here in non-standalone mode
        # typer vendors click (typer._click); recognise its exceptions by their interface, not their module.
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            print("aborted", file=sys.stderr)
            return 1
        raise
    return rv if isinstance(rv, int) else 0
