"""Parquet reading and writing against the explicit schemas, with atomic (temp + rename) writes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from clcm import storage
from clcm.errors import InputError, OutputError
from clcm.schemas.layout import KINDS, input_files, shard_name
from clcm.schemas.paths import inside
from clcm.schemas.tables import SCHEMA_VERSION

ROW_GROUP_ROWS = 4096  # rows per Parquet row group of every stage output (readers decode a group's dictionary whole)


class SchemaError(ValueError):
    """A table does not match the schema it claims or is required to have."""


def validate_table(table: pa.Table, schema: pa.Schema) -> None:
    """Raise SchemaError unless ``table`` has exactly ``schema``'s columns, types, and no nulls in non-null fields."""
    if table.schema.names != schema.names:
        missing = [n for n in schema.names if n not in table.schema.names]
        extra = [n for n in table.schema.names if n not in schema.names]
        raise SchemaError(f"columns differ from schema: missing {missing}, unexpected {extra}")
    for field in schema:
        col = table.column(field.name)
        if col.type != field.type:
            raise SchemaError(f"column {field.name!r} has type {col.type}, schema says {field.type}")
        if not field.nullable and col.null_count:
            raise SchemaError(f"column {field.name!r} has {col.null_count} nulls but is not nullable")


def table_from_rows(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Build a table from dict rows with ``schema`` (missing nullable keys become null); validates the result."""
    columns = {f.name: [r.get(f.name) for r in rows] for f in schema}
    try:
        table = pa.Table.from_pydict(columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(f"rows do not fit schema {schema.metadata.get(b'table', b'?').decode()}: {exc}") from exc
    validate_table(table, schema)
    return table


def write_parquet(table: pa.Table, where: str | os.PathLike | Any, schema: pa.Schema) -> None:
    """Write ``table`` with ``schema``'s metadata (zstd, row groups of :data:`ROW_GROUP_ROWS`) to a path or file
    object. Bounded row groups keep readers' memory bounded: to read any row of a group, Parquet decodes the group's
    dictionary pages whole (a 29k-row group of pairs costs a scoring round ~20 MB more than a 4,096-row one).

    An empty table is written without any row group: a 0-row row group makes readers such as Hugging Face
    ``datasets`` fail ("BatchSize must be greater than 0"), while pyarrow, pandas and duckdb read both the same.
    """
    table = table.replace_schema_metadata(schema.metadata)
    if table.num_rows:
        pq.write_table(table, where, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    else:
        pq.ParquetWriter(where, table.schema, compression="zstd").close()


def check_writable_dir(path: str | os.PathLike, what: str) -> None:
    """Create local directory ``path`` if needed and prove it writable (a temp file made and removed), so a
    read-only or full location fails before any work instead of after it. Object-store URLs are not probed.

    Raises:
        OutputError: naming ``what`` (e.g. ``--cache-dir``), the path and the system's reason (exit 4).
    """
    if storage.is_url(path):
        return
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".clcm-write-check.", dir=path)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise OutputError(f"{what} {path} is not writable: {exc.strerror or exc}") from None


def table_bytes(table: pa.Table, schema: pa.Schema) -> bytes:
    """The Parquet file of ``table`` (see :func:`write_parquet`) as bytes."""
    buf = pa.BufferOutputStream()
    write_parquet(table, buf, schema)
    return buf.getvalue().to_pybytes()


def write_row_groups(tables: Iterable[pa.Table], where: str | Any, schema: pa.Schema) -> None:
    """Write a stream of tables, one row group each, as one Parquet file (zstd, ``schema``'s metadata) to a local
    path or file object: only one table of the stream is alive at a time. No table (or only empty ones): a file
    without row groups, as :func:`write_parquet` writes an empty table."""
    with pq.ParquetWriter(where, schema, compression="zstd") as writer:
        for table in tables:
            if table.num_rows:
                writer.write_table(table.replace_schema_metadata(schema.metadata))


def parquet_bytes(tables: Iterable[pa.Table], schema: pa.Schema) -> bytes:
    """:func:`write_row_groups` into memory: the file's bytes."""
    buf = pa.BufferOutputStream()
    write_row_groups(tables, buf, schema)
    return buf.getvalue().to_pybytes()


def shard_record(path: str | os.PathLike, data: bytes, rows: int) -> dict[str, Any]:
    """The manifest record of a shard just written from ``data``: hashed from the bytes in hand, never re-read."""
    return {"name": storage.basename(path), "rows": rows, "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data)}  # fmt: skip


def write_table(table: pa.Table, path: str | os.PathLike, schema: pa.Schema) -> dict[str, Any]:
    """Write ``table`` (validated against ``schema``) to ``path`` (local or URL) atomically.

    Returns the shard record for a manifest: ``{"name", "rows", "sha256", "bytes"}``.
    """
    validate_table(table, schema)
    data = table_bytes(table, schema)
    storage.write_bytes(path, data)
    return shard_record(path, data, table.num_rows)


def write_rows(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, schema: pa.Schema) -> dict[str, Any]:
    """``write_table`` for a list of dict rows."""
    return write_table(table_from_rows(rows, schema), path, schema)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write a file atomically (see :func:`clcm.storage.write_bytes`): the one writer of every output."""
    storage.write_bytes(path, data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a small text file atomically (see :func:`clcm.storage.write_bytes`)."""
    storage.write_bytes(path, text.encode("utf-8"))


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    return storage.sha256(path, chunk)


def parquet_files(path: str | os.PathLike, prefix: str = "") -> list[str]:
    """The Parquet files of ``path`` (local or URL), sorted: the file itself, or what
    :func:`clcm.schemas.layout.input_files` (the one place that decides which files of a directory are a table)
    takes from a directory for the kind ``prefix`` names (``"rejects-"``, ``"scored"``: its ``rejects/``
    directory, else flat ``rejects-*`` shards), or for the first kind the directory holds (no prefix). A directory
    holding none gives ``[]``; hidden files (temp files of unfinished writes) are never returned.
    """
    path = os.fspath(path)
    kind = prefix.rstrip("-")
    groups = ((kind,),) if kind in KINDS else tuple((k,) for k in KINDS)
    if storage.is_file(path):
        return [path]
    if not storage.is_dir(path):
        raise FileNotFoundError(f"no such file or directory: {path}")
    try:
        return input_files(path, groups)
    except InputError:  # a directory without such shards
        return []


def parquet_file(path: str | os.PathLike) -> pq.ParquetFile:
    """A ParquetFile over a local path (memory-mapped by pyarrow) or a URL (Beam's seekable reader)."""
    path = os.fspath(path)
    return pq.ParquetFile(storage.open_read(path) if storage.is_url(path) else path)


def check_schema_version(schema: pa.Schema, source: str | os.PathLike) -> None:
    """Raise SchemaError if a file's schema was written by an incompatible clcm schema version."""
    meta = schema.metadata or {}
    version = meta.get(b"schema_version", b"").decode()
    if version != SCHEMA_VERSION:
        raise SchemaError(f"{source}: schema_version {version or 'missing'!r}, this clcm reads {SCHEMA_VERSION!r}")


def read_table(path: str | os.PathLike, schema: pa.Schema | None = None, prefix: str = "") -> pa.Table:
    """Read a Parquet file or a directory of shards; check the schema version and (if given) the schema.

    An empty directory gives an empty table of ``schema`` (or raises if no schema is given).
    """
    files = parquet_files(path, prefix)
    if not files:
        if schema is None:
            raise FileNotFoundError(f"no Parquet shards in {path}")
        return schema.empty_table()
    tables = []
    for f in files:
        t = parquet_file(f).read()
        check_schema_version(t.schema, f)
        if schema is not None:
            t = t.select(schema.names) if set(schema.names) <= set(t.schema.names) else t
            validate_table(t, schema)
        tables.append(t)
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def iter_batches(
    path: str | os.PathLike, columns: Sequence[str] | None = None, batch_size: int = 8192, prefix: str = ""
) -> Iterator[pa.RecordBatch]:
    """Stream record batches over a file or shard directory without loading it whole."""
    for f in parquet_files(path, prefix):
        pf = parquet_file(f)
        check_schema_version(pf.schema_arrow, f)
        yield from pf.iter_batches(batch_size=batch_size, columns=list(columns) if columns else None)


def shard_count(requested: int | None, rows: int, rows_per_shard: int) -> int:
    """Output shards for ``rows`` rows: ``requested`` (0/None = one per ``rows_per_shard``), never more than one
    per row, so a large ``--shards`` on a small corpus does not write thousands of empty files."""
    auto = max(1, -(-rows // rows_per_shard))
    return min(requested, max(1, rows)) if requested else auto


def write_sharded(
    rows: Iterable[Mapping[str, Any]], out_dir: str | os.PathLike, prefix: str, schema: pa.Schema, rows_per_shard: int
) -> list[dict[str, Any]]:
    """Write dict rows into ``{prefix}-NNNNN-of-MMMMM.parquet`` shards of at most ``rows_per_shard`` rows.

    Always writes at least one shard (possibly empty) so readers find the table. Returns the shard records.
    """
    rows = list(rows)
    chunks = [rows[i : i + rows_per_shard] for i in range(0, len(rows), rows_per_shard)] or [[]]
    paths = [inside(out_dir, shard_name(prefix, i, len(chunks))) for i in range(len(chunks))]
    return [write_rows(chunk, path, schema) for chunk, path in zip(chunks, paths, strict=True)]
