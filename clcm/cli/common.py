"""Shared CLI plumbing: logging, pass-through Beam flags, and running a typer app so that every user-fixable
failure is one ``error: ...`` line and its exit code (README, "Exit codes")."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from clcm.errors import EXIT_INTERRUPTED, ClcmError, NotBuiltError, exception_chain, interrupted, output_error_of

# Libraries whose INFO lines are noise in normal output (Beam logs every stage and worker); `-v` shows them.
NOISY_LOGGERS = ("apache_beam", "urllib3", "filelock", "httpx", "huggingface_hub")


OVERWRITE_HELP = "Write into an --out that holds other output or files (own earlier output is always replaced)."
Overwrite = Annotated[bool, typer.Option("--overwrite", help=OVERWRITE_HELP)]


def claim_out(out: object, command: str, overwrite: bool) -> None:
    """The one output-directory rule of every command (clcm.schemas.outdir)."""
    from clcm.schemas.outdir import claim_output_dir

    claim_output_dir(str(out), command, overwrite=overwrite)


def not_built(command: str, issue: str) -> None:
    """Raise the one-line 'not built yet' error of a planned command."""
    raise NotBuiltError(f"`{command}` is planned but not built yet ({issue})")


def setup_logging(verbose: bool = False) -> None:
    """INFO for clcm and WARNING for chatty libraries; ``verbose`` = DEBUG for everything."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s", force=True
    )
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_not_interrupt)
        if not verbose:
            handler.addFilter(_beam_root_notes)
            handler.addFilter(_not_reported_by_cli)
            handler.addFilter(_not_beam_io_retry)


def _not_beam_io_retry(record: logging.LogRecord) -> bool:
    """Drop the tracebacks Beam's object-store clients log before raising (a missing bucket, no permission): the
    exception reaches ``clcm.storage``, which reports it as one line; `-v` keeps them."""
    from_io = f"{os.sep}apache_beam{os.sep}io{os.sep}" in record.pathname
    return not (from_io and (record.exc_info or "Traceback" in record.getMessage()))


def _beam_root_notes(record: logging.LogRecord) -> bool:
    """Drop the notes Beam logs to the root logger when imported (e.g. 'apitools not found'); errors still show."""
    from_beam = record.name == "root" and f"{os.sep}apache_beam{os.sep}" in record.pathname
    return not from_beam or record.levelno >= logging.ERROR


def _not_interrupt(record: logging.LogRecord) -> bool:
    """Drop the error records Beam logs for a Ctrl-C inside a worker (the CLI prints one line instead)."""
    exc = record.exc_info[1] if record.exc_info else None
    return not (exc is not None and interrupted(exc)) and "KeyboardInterrupt" not in record.getMessage()


def _not_reported_by_cli(record: logging.LogRecord) -> bool:
    """Drop Beam's traceback records of a worker error that the CLI reports as one line (a ClcmError, a full or
    read-only disk); `-v` keeps them."""
    exc = record.exc_info[1] if record.exc_info else None
    if exc is None or not record.name.startswith("apache_beam"):
        return True
    return not (any(isinstance(e, ClcmError) for e in exception_chain(exc)) or output_error_of(exc) is not None)


def beam_args(ctx: typer.Context) -> list[str]:
    """The command's unknown flags, which go to Beam; a flag Beam does not know either is a usage error that names
    the close matches among the command's own flags and Beam's (``--modle`` -> ``--model``).

    Object-store flags among them (``--s3_endpoint_url``, ``--s3_region_name``, ...) configure the driver's own file
    operations too (:func:`clcm.storage.configure`), not only the workers'.
    """
    from clcm import storage
    from clcm.pipelines.options import check_beam_args

    own = [opt for p in ctx.command.params for opt in (*p.opts, *p.secondary_opts) if opt.startswith("--")]
    check_beam_args(ctx.args, own)
    if ctx.args:
        storage.configure(ctx.args)
    return list(ctx.args)


def _interrupted() -> int:
    print("interrupted; finished outputs are kept, run the same command again to resume", file=sys.stderr)
    return EXIT_INTERRUPTED


def exit_with(code: int) -> None:
    """End the process with ``code`` (the entry points' last step). After Ctrl-C the process ends at once: Beam's
    runner threads and worker processes would otherwise print their own tracebacks while Python shuts down."""
    if code == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


def run_app(app: typer.Typer, argv: list[str] | None = None) -> int:
    """Invoke ``app``; ClcmError becomes ``error: <message>`` on stderr and its exit code, a disk-full or permission
    failure anywhere exit 4, Ctrl-C exit 130 with one line."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        rv = app(args=argv, standalone_mode=False)
        if rv == EXIT_INTERRUPTED:  # typer returns 130 for a KeyboardInterrupt in the command's own code
            return _interrupted()
    except KeyboardInterrupt:
        return _interrupted()
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
        if type(exc).__name__ == "Abort" or interrupted(exc):  # Ctrl-C inside a Beam worker is re-raised wrapped
            return _interrupted()
        if (mapped := output_error_of(exc)) is not None:
            print(f"error: {mapped}", file=sys.stderr)
            return mapped.exit_code
        raise
    return rv if isinstance(rv, int) else 0
