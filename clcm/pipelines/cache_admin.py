"""Translation-cache maintenance: compaction, statistics and verification (`clcm-data cache ...`).

Everything here is safe while translate runs use the cache: compaction writes the merged part before deleting the
parts it merged, verification only reads (and, asked to, deletes parts that fail verification).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from clcm import storage
from clcm.pipelines.cache import (
    CACHE_SCHEMA,
    SETTINGS_NAME,
    CorruptPart,
    list_parts,
    read_buckets,
    read_part,
    translations,
    warn_corrupt,
    write_entries,
    write_part,
)


@dataclass
class BucketReport:
    """What compaction or verification found in one bucket."""

    parts: int = 0
    entries: int = 0
    bytes: int = 0
    corrupt: tuple[str, ...] = ()
    written: str | None = None


def compact_bucket(directory: str, bucket: int, *, min_parts: int = 2) -> BucketReport:
    """Merge a bucket's verified parts into one file (when it has at least ``min_parts``); corrupt parts stay.

    The merged file is written before any part is deleted, and only parts that were merged are deleted, so a
    crash or a concurrent compaction loses nothing (at worst rows are held twice until the next compaction).
    """
    paths = list_parts(directory, bucket)
    report = BucketReport(parts=len(paths))
    if len(paths) < min_parts:
        return report
    tables, merged, bad = [], [], []
    for path in paths:
        try:
            tables.append(read_part(path))
            merged.append(path)
        except CorruptPart as exc:
            bad.append(path)
            warn_corrupt(path, exc)
        except FileNotFoundError:
            continue  # compacted concurrently: its rows are in another part
    report.corrupt = tuple(bad)
    if len(merged) < 2:
        return report
    table = pa.concat_tables(tables)
    # one row per text (concurrent writers may have stored a text twice; identical settings give one answer)
    table = table.take(pa.array(_first_indices(table.column("src_text").to_pylist()), type=pa.int64()))
    report.entries = table.num_rows
    report.written = write_part(directory, bucket, table)
    storage.delete([p for p in merged if p != report.written])
    return report


def _first_indices(values: list[str]) -> list[int]:
    seen: dict[str, int] = {}
    for i, v in enumerate(values):
        seen.setdefault(v, i)
    return list(seen.values())


def verify_bucket(directory: str, bucket: int, *, remove: bool = False) -> BucketReport:
    """Read and verify every part of a bucket; ``remove`` deletes the corrupt ones."""
    report = BucketReport()
    for path in list_parts(directory, bucket):
        report.parts += 1
        try:
            table = read_part(path)
        except CorruptPart as exc:
            report.corrupt += (f"{path}: {exc}",)
            if remove:
                storage.delete([path])
            continue
        except FileNotFoundError:
            continue
        report.entries += table.num_rows
    return report


def settings_dirs(cache_root: str) -> list[str]:
    """Every settings directory under a cache root (those with a ``settings.json``)."""
    return [p.rsplit("/", 1)[0] for p in storage.match(storage.join(cache_root, "*", "*", SETTINGS_NAME))]


def used_buckets(directory: str) -> list[int]:
    """Buckets that hold at least one part (one listing of the directory's parts)."""
    parts = storage.match(storage.join(directory, "buckets", "*", "part-*.parquet"))
    return sorted({int(p.rsplit("/", 2)[-2]) for p in parts})


def legacy_parts(directory: str) -> list[str]:
    """Parts of the pre-bucket layout (``{key}/part-*.parquet``), which lookups no longer read."""
    return storage.match(storage.join(directory, "part-*.parquet"))


def migrate_legacy(directory: str) -> int:
    """Move pre-bucket parts into buckets (readable ones; unreadable ones are reported and left); returns rows."""
    paths = legacy_parts(directory)
    if not paths:
        return 0
    settings = json.loads(storage.read_bytes(storage.join(directory, SETTINGS_NAME)))
    rows = 0
    for path in paths:
        try:
            table = pq.read_table(io.BytesIO(storage.read_bytes(path)))
            items = list(translations(table.select(CACHE_SCHEMA.names)).items())
        except Exception as exc:  # noqa: BLE001 - a corrupt legacy part: leave it, name it
            warn_corrupt(path, CorruptPart(str(exc)))
            continue
        write_entries(directory, items, settings)
        storage.delete([path])
        rows += len(items)
    return rows


@dataclass
class DirectoryReport:
    """One settings directory's totals (``clcm-data cache stats|compact|verify``)."""

    directory: str
    settings: dict[str, Any]
    buckets: int
    used_buckets: int = 0
    parts: int = 0
    entries: int = 0
    bytes: int = 0
    legacy_parts: int = 0
    compacted_buckets: int = 0
    corrupt: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _report(directory: str) -> DirectoryReport:
    try:
        settings = json.loads(storage.read_bytes(storage.join(directory, SETTINGS_NAME)))
    except Exception:  # noqa: BLE001 - settings.json is informational
        settings = {}
    return DirectoryReport(directory, settings, read_buckets(directory), legacy_parts=len(legacy_parts(directory)))


def stats(cache_root: str) -> list[DirectoryReport]:
    """Parts, entries (from Parquet footers, no verification) and bytes per settings directory."""
    reports = []
    for directory in settings_dirs(cache_root):
        r = _report(directory)
        parts = storage.match(storage.join(directory, "buckets", "*", "part-*.parquet"))
        r.parts, r.used_buckets = len(parts), len({p.rsplit("/", 2)[-2] for p in parts})
        for path in parts:
            data = storage.read_bytes(path)
            r.bytes += len(data)
            try:
                r.entries += pq.read_metadata(io.BytesIO(data)).num_rows
            except Exception:  # noqa: BLE001 - unreadable: counted as corrupt, `verify` says why
                r.corrupt.append(path)
        reports.append(r)
    return reports


def compact(cache_root: str) -> list[DirectoryReport]:
    """Migrate pre-bucket parts, then merge every bucket with several parts into one file."""
    reports = []
    for directory in settings_dirs(cache_root):
        migrate_legacy(directory)
        r = _report(directory)
        for bucket in used_buckets(directory):
            b = compact_bucket(directory, bucket)
            r.used_buckets += 1
            r.compacted_buckets += b.written is not None
            r.corrupt += b.corrupt
        reports.append(r)
    return reports


def verify(cache_root: str, *, remove: bool = False) -> list[DirectoryReport]:
    """Read and verify every part; corrupt parts are listed (and deleted with ``remove``)."""
    reports = []
    for directory in settings_dirs(cache_root):
        r = _report(directory)
        for bucket in used_buckets(directory):
            b = verify_bucket(directory, bucket, remove=remove)
            r.used_buckets += 1
            r.parts += b.parts
            r.entries += b.entries
            r.corrupt += b.corrupt
        reports.append(r)
    return reports
