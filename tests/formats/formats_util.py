"""Shared test helpers: run the real `clcm-data` CLI and read what it wrote."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from clcm.cli.common import run_app
from clcm.cli.data import app
from clcm.schemas import CAPTION_SCHEMA, PAIR_SCHEMA, REJECT_SCHEMA, read_manifest, read_table


def cli(*argv: str | Path) -> int:
    """Run `clcm-data ARGV...` in-process; return its exit code."""
    return run_app(app, [str(a) for a in argv])


def rows(out: Path, table: str) -> list[dict[str, Any]]:
    schema = {"captions": CAPTION_SCHEMA, "pairs": PAIR_SCHEMA, "rejects": REJECT_SCHEMA}[table]
    return read_table(out, schema, prefix=f"{table}-").to_pylist()


def counts(out: Path) -> dict[str, Any]:
    """Manifest counts, after checking read == kept + rejected and that they match the written tables."""
    c = read_manifest(out).counts
    assert c["read"] == c["kept"] + sum(c["rejected"].values())
    rejects = rows(out, "rejects")
    assert len(rejects) == sum(c["rejected"].values()) == c["rows"]["rejects"]
    assert {r["reason"] for r in rejects} == set(c["rejected"])
    return c


def reasons_by_line(out: Path) -> dict[tuple[str, int], str]:
    """(file name, line) -> reject reason."""
    return {(Path(r["source"]).name, r["line"]): r["reason"] for r in rows(out, "rejects")}


def write_gz(path: Path, data: bytes) -> Path:
    with gzip.open(path, "wb") as fh:
        fh.write(data)
    return path


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
