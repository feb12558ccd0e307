"""The one rule for a command's output directory (``-o``), the same for import, translate, score, filter, export.

- A missing or empty directory is used.
- A directory holding an earlier output of the *same* command (its ``_manifest.json`` names it, or, after an
  interrupted run, only files of clcm's output layout) is used: the command replaces its own outputs (re-runs
  and resumes need no flag).
- Anything else is refused (exit 4) unless ``--overwrite``: another command's output (writing translate pairs
  into an import folder mixes schemas) or files clcm did not write. With ``--overwrite`` the command replaces
  its own kinds of files there and leaves other files alone.
- A directory inside a run directory that a running ``clcm-data run`` holds (its lock) is always refused.

``clcm-data run`` gives every stage its own directory, which it clears itself; it does not go through here.
Object-store URLs are not checked (nothing to list cheaply; the stage's own writes decide), and a run directory on
an object store has no lock (no advisory locks there): only local run directories are protected from two runs.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

from clcm.errors import OutputError
from clcm.schemas.layout import KINDS, MODELS, is_url
from clcm.schemas.manifest import MANIFEST_NAME

RUN_LOCK_NAME = ".lock"  # RUN_DIR/.lock, held (flock) by a running `clcm-data run`
# what clcm writes into an output directory besides the shard directories of KINDS
_OWN_FILES = (MANIFEST_NAME, MODELS, "report.json", "_stage.json")
_OWN_SUFFIXES = (".png", ".txt", ".jsonl", ".caption.txt")


def run_holding(path: Path) -> Path | None:
    """The run directory (``path`` or its parent) whose lock a running ``clcm-data run`` holds now, else None."""
    for candidate in (path, path.parent):
        lock = candidate / RUN_LOCK_NAME
        if not lock.is_file():
            continue
        try:
            with open(lock, "a+") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fh, fcntl.LOCK_UN)
        except BlockingIOError:
            return candidate
        except OSError:
            continue
    return None


def _written_by(out: Path) -> str | None:
    try:
        return str(json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8")).get("command") or "") or None
    except (OSError, ValueError, AttributeError):
        return None


def _foreign(out: Path) -> list[str]:
    """Entries of ``out`` that are not part of clcm's output layout."""
    names = []
    for entry in sorted(out.iterdir()):
        name = entry.name
        own = name.startswith(".") or name in KINDS or name in _OWN_FILES or name.endswith(_OWN_SUFFIXES)
        legacy = entry.is_file() and name.endswith(".parquet") and name.split("-", 1)[0] in KINDS
        if not (own or legacy):
            names.append(name)
    return names


def claim_output_dir(out: str, command: str, *, overwrite: bool = False) -> None:
    """Apply the output-directory rule (module docstring) for ``command`` writing into ``out``.

    Raises:
        OutputError: ``out`` is a file, is held by a running run, or holds other output and ``overwrite`` is off.
    """
    if is_url(out):
        return
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise OutputError(f"--out {out} exists and is not a directory")
    if (held := run_holding(path)) is not None:
        raise OutputError(f"{out} is in run directory {held}, which a running `clcm-data run` holds; "
                          "wait for it to finish or write elsewhere")  # fmt: skip
    if not path.is_dir() or overwrite:
        return
    writer = _written_by(path)
    if writer is not None and writer != command:
        raise OutputError(f"{out} holds the output of `clcm-data {writer}`; choose another --out "
                          f"(or pass --overwrite to write {command} outputs beside it)")  # fmt: skip
    if foreign := _foreign(path):
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputError(f"{out} holds files clcm did not write ({shown}); choose an empty or new --out, "
                          "or pass --overwrite")  # fmt: skip
