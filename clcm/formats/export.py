"""`clcm-data export`: caption/pair Parquet back to NRCCR TextData caption files, or to JSONL.

NRCCR output (what the reference code's TextData reader expects): UTF-8, ``\\n`` line ends, one caption per line,
``<media_id>#<tag>#<k><space><text>``, file names per methods.md §5 (e.g. ``multi30ktrain_enc.caption.txt``,
``multi30ktrain_google_enc2cs.caption.txt``, ``multi30kval_google_cs2enc.caption.txt``,
``multi30ktest_cs_2016.caption.txt``, German val/test with ``_task1``). What goes where:

- human captions: lang en -> ``enc``; lang xx -> ``xx``;
- MT captions (lang en, id ``{media}#xx2en#{k}``, as the nrccr importer writes them) -> ``xx2enc``;
- pairs (src_lang en): the source -> ``enc`` (once per caption, even if also in the captions table),
  MT pairs -> ``enc2xx`` (+ ``enc2xx2enc`` when bt_text is set), human-reference pairs -> ``xx``.

Rows that have no NRCCR place (no split, a non-English source, MT captions of unknown source language) are counted
as rejected in the export manifest, never dropped silently. Text with a line break, or a media id with whitespace
or ``#``, cannot be written in this format and is an InputError.
Lines keep the input order (shards in name order, rows in file order).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clcm.errors import InputError, OutputError, UsageError
from clcm.formats import nrccr
from clcm.schemas import (
    CAPTION_SCHEMA,
    PAIR_SCHEMA,
    Manifest,
    iter_batches,
    parquet_files,
    write_manifest,
    write_text_atomic,
)
from clcm.schemas.io import SchemaError

EXPORT_FORMATS = ("nrccr", "jsonl")
_MT_CAPTION_TAG = re.compile(r"^[^#]*#(?P<src>[a-z]{2})2en#\d+$")
_BAD_MEDIA = re.compile(r"[\s#]")


@dataclass(frozen=True)
class ExportConfig:
    """Settings of one export.

    Args:
        format: nrccr or jsonl.
        input: a directory of ``captions-*.parquet`` / ``pairs-*.parquet`` shards (an import or translate output).
        out: output directory.
        collection: NRCCR collection name used in file names (default: the rows' single ``dataset`` value).
    """

    format: str
    input: str
    out: str
    collection: str | None = None


@dataclass
class ExportResult:
    out: Path
    files: dict[str, int]  # file name -> lines
    counts: dict[str, Any]


def _rows(path: Path, prefix: str, schema: Any) -> Iterator[dict[str, Any]]:
    try:
        for batch in iter_batches(path, columns=schema.names, prefix=prefix):
            yield from batch.to_pylist()
    except (SchemaError, OSError, ValueError) as exc:
        raise InputError(f"cannot read {prefix} shards in {path}: {exc}") from exc


def _tables(path: Path) -> dict[str, Path]:
    if not path.is_dir():
        raise InputError(f"export input must be a directory of shards: {path}")
    found = {p: path for p in ("captions", "pairs") if parquet_files(path, f"{p}-")}
    if not found:
        raise InputError(f"no captions-*.parquet or pairs-*.parquet shards in {path}")
    return found


class _NrccrWriter:
    """Accumulates lines per file, de-duplicating identical lines and refusing conflicting ones."""

    def __init__(self, collection: str | None) -> None:
        self.collection = collection
        self.files: dict[tuple[str, str, bool], list[str]] = {}  # (split, tag, mt) -> lines
        self._seen: dict[tuple[str, str, bool, str], str] = {}
        self.datasets: set[str | None] = set()

    def add(self, row: dict[str, Any], tag: str, mt: bool, text: str, ident: str) -> None:
        media = row["media_id"]
        if _BAD_MEDIA.search(media):
            raise InputError(f"{ident}: media id {media!r} has whitespace or '#', which NRCCR caption ids cannot hold")
        if "\n" in text or "\r" in text:
            raise InputError(f"{ident}: text has a line break; NRCCR files hold one caption per line")
        key = (row["split"], tag, mt)
        cap_id = f"{media}#{tag}#{row['caption_index']}"
        prev = self._seen.get((*key, cap_id))
        if prev is not None:
            if prev != text:
                raise InputError(f"{ident}: {cap_id} has two different texts ({prev!r} vs {text!r})")
            return
        self._seen[(*key, cap_id)] = text
        self.datasets.add(row["dataset"])
        self.files.setdefault(key, []).append(f"{cap_id} {text}\n")

    def resolve_collection(self) -> str:
        if self.collection:
            return self.collection
        names = {d for d in self.datasets if d}
        if len(names) != 1 or None in self.datasets:
            raise UsageError(f"rows come from datasets {sorted(map(str, self.datasets))}; pass --collection NAME")
        return names.pop()


def _export_nrccr(tables: dict[str, Path], config: ExportConfig, skipped: Counter[str]) -> tuple[int, int, dict]:
    w = _NrccrWriter(config.collection)
    read = kept = 0
    if "captions" in tables:
        for row in _rows(tables["captions"], "captions-", CAPTION_SCHEMA):
            read += 1
            if row["split"] is None:
                skipped["no_split"] += 1
                continue
            if row["origin"] == "human":
                tag, mt = ("enc" if row["lang"] == "en" else row["lang"]), False
            elif row["lang"] == "en" and (m := _MT_CAPTION_TAG.match(row["caption_id"])):
                tag, mt = f"{m['src']}2enc", True
            else:
                skipped["mt_caption_without_nrccr_tag"] += 1
                continue
            w.add(row, tag, mt, row["text"], row["caption_id"])
            kept += 1
    if "pairs" in tables:
        for row in _rows(tables["pairs"], "pairs-", PAIR_SCHEMA):
            read += 1
            if row["split"] is None:
                skipped["no_split"] += 1
                continue
            if row["src_lang"] != "en":
                skipped["source_not_english"] += 1
                continue
            xx = row["tgt_lang"]
            w.add(row, "enc", False, row["src_text"], row["pair_id"])
            if row["tgt_origin"] == "human":
                w.add(row, xx, False, row["tgt_text"], row["pair_id"])
            else:
                w.add(row, f"enc2{xx}", True, row["tgt_text"], row["pair_id"])
                if row["bt_text"] is not None:
                    w.add(row, f"enc2{xx}2enc", True, row["bt_text"], row["pair_id"])
            kept += 1
    collection = w.resolve_collection() if w.files else (config.collection or "")
    out = Path(config.out)
    files = {}
    for (split, tag, mt), lines in w.files.items():
        name = nrccr.file_name(collection, split, tag, mt)
        write_text_atomic(out / name, "".join(lines))
        files[name] = len(lines)
    files = dict(sorted(files.items()))
    return read, kept, files


def _export_jsonl(tables: dict[str, Path], config: ExportConfig) -> tuple[int, int, dict]:
    out = Path(config.out)
    read = 0
    files = {}
    for name, schema in (("captions", CAPTION_SCHEMA), ("pairs", PAIR_SCHEMA)):
        if name not in tables:
            continue
        lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in _rows(tables[name], f"{name}-", schema)]
        write_text_atomic(out / f"{name}.jsonl", "".join(lines))
        files[f"{name}.jsonl"] = len(lines)
        read += len(lines)
    return read, read, files


def run_export(config: ExportConfig) -> ExportResult:
    """Export the shards of ``config.input`` (see the module docstring). Writes ``_manifest.json`` next to them."""
    if config.format not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {config.format!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    tables = _tables(Path(config.input))
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc}") from exc
    skipped: Counter[str] = Counter()
    if config.format == "nrccr":
        read, kept, files = _export_nrccr(tables, config, skipped)
    else:
        read, kept, files = _export_jsonl(tables, config)
    counts = {"read": read, "kept": kept, "rejected": dict(sorted(skipped.items()))}
    manifest = Manifest(
        command="export",
        config=asdict(config),
        counts=counts,
        inputs=[{"path": str(p)} for t, d in tables.items() for p in parquet_files(d, f"{t}-")],
        extra={"files": files},
    )
    write_manifest(out, manifest)
    return ExportResult(out, files, counts)
