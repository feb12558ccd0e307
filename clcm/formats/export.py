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
as rejected in the export manifest, never dropped silently; so are rows that cannot be written in this format: text
with a line break (``line_break``), a media id with whitespace or ``#`` (``invalid_media_id``), a split or language
that cannot be part of a file name (``unsafe_name``). ``--collection`` and the rows' ``dataset`` must be safe file
names too (:mod:`clcm.schemas.paths`), and every file is written inside ``--out``.
Lines keep the input order (shards in name order, rows in file order).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from clcm import storage
from clcm.configs import check_config
from clcm.errors import InputError, OutputError, UsageError
from clcm.formats import nrccr
from clcm.schemas import (
    CAPTION_SCHEMA,
    PAIR_SCHEMA,
    Manifest,
    iter_batches,
    layout,
    write_manifest,
)
from clcm.schemas import reasons as R
from clcm.schemas.io import SchemaError, parquet_file, shard_record, write_bytes_atomic
from clcm.schemas.paths import inside, name_problem, safe_name

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("nrccr", "jsonl")
_MT_CAPTION_TAG = re.compile(r"^[^#]*#(?P<src>[a-z]{2})2en#\d+$")
_BAD_MEDIA = re.compile(r"[\s#]")


@dataclass(frozen=True)
class ExportConfig:
    """Settings of one export.

    Args:
        format: nrccr or jsonl.
        input: a stage directory (import, translate, score or filter output: its ``captions/`` and its ``pairs/``,
            ``kept/`` or ``scored/`` shards) or a directory of caption or pair shards; a local path or URL.
        out: output directory (a local path or URL).
        collection: NRCCR collection name used in file names (default: the rows' single ``dataset`` value).
    """

    format: str
    input: str
    out: str
    collection: str | None = None

    def __post_init__(self) -> None:
        check_config(self)
        if self.collection is not None:
            safe_name(self.collection, "--collection")


def _write_file(out: str, name: str, lines: list[str]) -> dict[str, Any]:
    """Write one text file inside ``out`` (local or URL); its manifest shard record (like the Parquet writers':
    name, rows, sha256, bytes), hashed from the bytes written."""
    path = inside(out, name)
    data = "".join(lines).encode("utf-8")
    write_bytes_atomic(path, data)
    return shard_record(path, data, len(lines))


@dataclass
class ExportResult:
    out: str
    files: dict[str, int]  # file name -> lines
    counts: dict[str, Any]


def _rows(files: list[str], schema: Any) -> Iterator[dict[str, Any]]:
    for f in files:
        try:
            for batch in iter_batches(f, columns=schema.names):
                yield from batch.to_pylist()
        except (SchemaError, OSError, ValueError) as exc:
            raise InputError(f"cannot read {f}: {exc}") from exc


def _table_of(path: str) -> str | None:
    """``captions`` or ``pairs`` (scored pairs are pairs) by the file's schema; None for anything else."""
    try:
        schema = parquet_file(path).schema_arrow
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    if all(n in schema.names for n in CAPTION_SCHEMA.names):
        return "captions"
    return "pairs" if all(n in schema.names for n in PAIR_SCHEMA.names) else None


def _tables(path: str) -> dict[str, list[str]]:
    """The caption and pair shards of ``path`` (local or URL; a folder of users' own shards is sorted by schema)."""
    if not storage.is_dir(path):
        raise InputError(f"export input must be a directory of shards: {path}")
    found = {}
    for name, groups in (("captions", layout.CAPTION_INPUTS), ("pairs", layout.PAIR_INPUTS)):
        try:
            files = layout.input_files(path, groups)
        except InputError:
            continue
        if files := [f for f in files if _table_of(f) == name]:
            found[name] = files
    if not found:
        raise InputError(f"no caption or pair shards in {path} (captions/, pairs/, kept/ or scored/)")
    return found


class _NrccrWriter:
    """Accumulates lines per file, de-duplicating identical lines and refusing conflicting ones."""

    def __init__(self, collection: str | None) -> None:
        self.collection = collection
        self.files: dict[tuple[str, str, bool], list[str]] = {}  # (split, tag, mt) -> lines
        self._seen: dict[tuple[str, str, bool, str], str] = {}
        self.datasets: set[str | None] = set()

    @staticmethod
    def problem(row: dict[str, Any], lines: list[tuple[str, bool, str]]) -> str | None:
        """The reject reason of a row whose lines (tag, mt, text) cannot be written in NRCCR files, else None."""
        if _BAD_MEDIA.search(row["media_id"]):  # whitespace or '#' cannot be held by a caption id
            return R.INVALID_MEDIA_ID
        if any(name_problem(v) for v in (row["split"], *(tag for tag, _, _ in lines))):
            return R.UNSAFE_NAME  # split or language that cannot be part of a file name
        if any("\n" in text or "\r" in text for _, _, text in lines):
            return R.LINE_BREAK  # one caption per line
        return None

    def add(self, row: dict[str, Any], tag: str, mt: bool, text: str, ident: str) -> None:
        key = (row["split"], tag, mt)
        cap_id = f"{row['media_id']}#{tag}#{row['caption_index']}"
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
        name = names.pop()
        if problem := name_problem(name):
            msg = f"the rows' dataset {name!r} cannot be part of a file name: it {problem}"
            raise InputError(f"{msg}; pass --collection NAME")
        return name


def _nrccr_lines(row: dict[str, Any], table: str, skipped: Counter[str]) -> list[tuple[str, bool, str]] | None:
    """The (tag, mt, text) lines of one caption or pair row, or None (counted in ``skipped``) when it has no place."""
    if row["split"] is None:
        skipped["no_split"] += 1
        return None
    if table == "captions":
        if row["origin"] == "human":
            return [("enc" if row["lang"] == "en" else row["lang"], False, row["text"])]
        if row["lang"] == "en" and (m := _MT_CAPTION_TAG.match(row["caption_id"])):
            return [(f"{m['src']}2enc", True, row["text"])]
        skipped["mt_caption_without_nrccr_tag"] += 1
        return None
    if row["src_lang"] != "en":
        skipped["source_not_english"] += 1
        return None
    xx = row["tgt_lang"]
    lines = [("enc", False, row["src_text"])]
    if row["tgt_origin"] == "human":
        return [*lines, (xx, False, row["tgt_text"])]
    lines.append((f"enc2{xx}", True, row["tgt_text"]))
    if row["bt_text"] is not None:
        lines.append((f"enc2{xx}2enc", True, row["bt_text"]))
    return lines


def _export_nrccr(
    tables: dict[str, list[str]], config: ExportConfig, skipped: Counter[str]
) -> tuple[int, int, list[dict[str, Any]]]:
    w = _NrccrWriter(config.collection)
    read = kept = 0
    for table, schema, ident in (("captions", CAPTION_SCHEMA, "caption_id"), ("pairs", PAIR_SCHEMA, "pair_id")):
        if table not in tables:
            continue
        for row in _rows(tables[table], schema):
            read += 1
            lines = _nrccr_lines(row, table, skipped)
            if lines is None:
                continue
            if reason := w.problem(row, lines):
                skipped[reason] += 1
                log.warning("export: %s %s not written (%s)", table[:-1], row[ident], reason)
                continue
            for tag, mt, text in lines:
                w.add(row, tag, mt, text, row[ident])
            kept += 1
    collection = w.resolve_collection() if w.files else (config.collection or "")
    named = {nrccr.file_name(collection, *key): lines for key, lines in w.files.items()}
    return read, kept, [_write_file(config.out, name, named[name]) for name in sorted(named)]


def _export_jsonl(tables: dict[str, list[str]], config: ExportConfig) -> tuple[int, int, list[dict[str, Any]]]:
    read = 0
    written = []
    for name, schema in (("captions", CAPTION_SCHEMA), ("pairs", PAIR_SCHEMA)):
        if name not in tables:
            continue
        lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in _rows(tables[name], schema)]
        written.append(_write_file(config.out, f"{name}.jsonl", lines))
        read += len(lines)
    return read, read, written


def run_export(config: ExportConfig) -> ExportResult:
    """Export the shards of ``config.input`` (see the module docstring). Writes ``_manifest.json`` next to them."""
    if config.format not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {config.format!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    tables = _tables(config.input)
    out = config.out
    if not storage.is_url(out) and os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f"--out {out} exists and is not a directory")
    try:
        storage.makedirs(out)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc}") from exc
    skipped: Counter[str] = Counter()
    if config.format == "nrccr":
        read, kept, written = _export_nrccr(tables, config, skipped)
    else:
        read, kept, written = _export_jsonl(tables, config)
    files = {r["name"]: r["rows"] for r in written}
    counts = {"read": read, "kept": kept, "rejected": dict(sorted(skipped.items()))}
    manifest = Manifest(
        command="export",
        config=asdict(config),
        counts=counts,
        inputs=[{"path": f} for files in tables.values() for f in files],
        shards=written,
        extra={"files": files},
    )
    write_manifest(out, manifest, empty_input_ok=True)  # empty input: e.g. a filter kept nothing (its warning)
    return ExportResult(out, files, counts)
