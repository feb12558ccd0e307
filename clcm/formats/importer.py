"""`clcm-data import`: read one input format, validate every record, write caption/pair/reject shards + manifest.

Output directory layout (see :mod:`clcm.schemas.layout`)::

    captions/captions-NNNNN-of-MMMMM.parquet   CAPTION_SCHEMA (when any caption was kept)
    pairs/pairs-NNNNN-of-MMMMM.parquet         PAIR_SCHEMA (when the input held translations)
    rejects/rejects-NNNNN-of-MMMMM.parquet     REJECT_SCHEMA, stage "import" (always; possibly empty)
    _manifest.json                             counts (read, kept, rejected per reason, rows per table), inputs
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clcm import storage
from clcm.configs import check_config, option
from clcm.errors import OutputError, UsageError
from clcm.formats.multi30k import import_multi30k
from clcm.formats.nrccr import import_nrccr
from clcm.formats.records import ImportSink, expand_inputs, unique_paths
from clcm.formats.tabular import import_tabular
from clcm.schemas import (
    CAPTION_SCHEMA,
    MANIFEST_NAME,
    PAIR_SCHEMA,
    REJECT_SCHEMA,
    Manifest,
    check_lang,
    input_record,
    write_manifest,
    write_sharded,
)
from clcm.schemas.layout import kind_dir, shard_record_name

FORMATS = ("multi30k", "nrccr", "jsonl", "tsv", "parquet")
TABLES = (("captions", CAPTION_SCHEMA), ("pairs", PAIR_SCHEMA), ("rejects", REJECT_SCHEMA))


@dataclass(frozen=True)
class ImportConfig:
    """Settings of one import.

    Args:
        format: one of FORMATS.
        inputs: input files or directories (multi30k: directories; nrccr: files or TextData directories); local
            paths or object-store URLs, and glob patterns (``s3://bucket/in/*.jsonl``) for files.
        out: output directory (a local path or URL).
        langs: multi30k only: languages to import (default: all present); with as_pairs the source is added.
        splits: multi30k only: splits to import, as in the file names (default: all present).
        source_lang: multi30k only: the language of the source captions.
        as_pairs: multi30k only: import non-source languages as reference translations (pair rows).
        dataset: dataset name for rows that do not carry one (nrccr default: the collection in the file name).
        rows_per_shard: maximum rows per Parquet shard.
        overwrite: replace the outputs of an earlier import in ``out``.
    """

    format: str
    inputs: tuple[str, ...]
    out: str
    langs: tuple[str, ...] | None = None
    splits: tuple[str, ...] | None = None
    source_lang: str = "en"  # Multi30K, NRCCR and the CCR protocol all translate from English
    as_pairs: bool = False  # captions by default: human target captions are the evaluation queries
    dataset: str | None = None
    rows_per_shard: int = option(100_000, ge=1)  # ~5 MB shards for captions; Multi30K train: one per language
    overwrite: bool = False

    def __post_init__(self) -> None:
        check_config(self)

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise UsageError(f"unknown format {self.format!r}; choose one of {', '.join(FORMATS)}")
        if not self.inputs:
            raise UsageError("no input given")
        try:
            for lang in (self.source_lang, *(self.langs or ())):
                check_lang(lang)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        multi30k_only = {"langs": self.langs, "splits": self.splits, "as_pairs": self.as_pairs}
        used = [k for k, v in multi30k_only.items() if v]
        if self.format != "multi30k" and used:
            raise UsageError(f"--{used[0].replace('_', '-')} applies to --format multi30k only")


@dataclass
class ImportResult:
    out: str
    counts: dict[str, Any]
    manifest: Path | str


def _own_outputs(out: str) -> list[str]:
    """Shards and manifest of an earlier import (also the flat ``<table>-*.parquet`` of earlier versions)."""
    names = [f"{d}{name}-*.parquet" for name, _ in TABLES for d in ("", f"{name}/")]
    return sorted({p for pattern in [*names, MANIFEST_NAME] for p in storage.match(storage.join(out, pattern))})


def prepare_out(out: str, overwrite: bool) -> None:
    """Create ``out`` (local or URL); refuse to mix with an earlier import's shards unless ``overwrite`` (which
    removes them)."""
    if not storage.is_url(out) and os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f"--out {out} exists and is not a directory")
    old = _own_outputs(out)
    if old and not overwrite:
        name = storage.basename(old[0])
        raise OutputError(f"{out} already holds import outputs ({name}, ...); pass --overwrite to replace")
    try:
        storage.makedirs(out)
        storage.delete(old)
        if not storage.is_url(out):  # a table this import does not write must not linger as an empty directory
            for name, _ in TABLES:
                table_dir = os.path.join(out, name)
                if os.path.isdir(table_dir) and not os.listdir(table_dir):
                    os.rmdir(table_dir)
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc}") from exc


def read_inputs(config: ImportConfig, sink: ImportSink) -> tuple[list[str], dict[str, Any]]:
    """Dispatch to the format's reader. Returns the files read and format-specific manifest extras."""
    inputs = unique_paths(expand_inputs(config.inputs))
    if config.format == "multi30k":
        files = import_multi30k(inputs, sink, config.langs, config.splits, config.source_lang, config.as_pairs)
        return files, {}
    if config.format == "nrccr":
        return import_nrccr(inputs, sink, config.dataset), {}
    files, ignored = import_tabular(config.format, inputs, sink, config.dataset)
    return files, {"ignored_columns": ignored}


def run_import(config: ImportConfig) -> ImportResult:
    """Run one import (see the module docstring for the outputs). Raises ClcmError subclasses for user mistakes."""
    config.validate()
    out = config.out
    t0 = time.perf_counter()
    sink = ImportSink()
    files, extra = read_inputs(config, sink)  # input errors surface before anything is written
    t_read = time.perf_counter() - t0
    prepare_out(out, config.overwrite)
    shards = []
    for name, schema in TABLES:
        rows = getattr(sink, name)
        if rows or name == "rejects":
            for rec in write_sharded(rows, kind_dir(out, name), name, schema, config.rows_per_shard):
                shards.append({**rec, "name": shard_record_name(name, rec["name"]), "table": name})
    manifest = Manifest(
        command="import",
        config=asdict(config),
        counts=sink.counts(),
        inputs=[input_record(f) for f in files],
        shards=shards,
        timings={"read": round(t_read, 3), "total": round(time.perf_counter() - t0, 3)},
        extra=extra,
    )
    path = write_manifest(out, manifest, example=_example_reject(sink))
    return ImportResult(out, manifest.counts, path)


def _example_reject(sink: ImportSink) -> str:
    """Where and why the most common reject happened (quoted when every record was rejected)."""
    if not sink.rejects:
        return ""
    reason, _ = sink.rejected.most_common(1)[0]
    first = next(r for r in sink.rejects if r["reason"] == reason)
    where = f"{first['source']}:{first['line']}" if first["line"] is not None else first["source"]
    return f"{where}: {first['detail']}"
