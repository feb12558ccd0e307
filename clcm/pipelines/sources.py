"""Reading caption Parquet (local paths or object-store URLs) into a pipeline, and checking it up front."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from clcm import storage
from clcm.errors import InputError
from clcm.schemas import CAPTION_SCHEMA, layout, truncate_raw

SOURCE = "_source"  # extra keys carried with each row until it is written or rejected
LINE = "_line"


def caption_files(inputs: list[str]) -> list[str]:
    """Expand inputs (files, glob patterns, stage or shard directories) into sorted caption shard paths.

    Which files of a directory are captions is decided by :func:`clcm.schemas.layout.input_files`.

    Raises:
        InputError: an input matches nothing.
    """
    return layout.input_files(inputs, layout.CAPTION_INPUTS, what="caption Parquet files")


def _open_parquet(path: str) -> pq.ParquetFile:
    return pq.ParquetFile(io.BytesIO(storage.read_bytes(path)))


def check_caption_files(files: list[str]) -> int:
    """Check every file has the caption columns; return the total row count (from Parquet metadata).

    Raises:
        InputError: a file is not Parquet or lacks caption columns (e.g. a pairs table given as captions).
    """
    total = 0
    for path in files:
        try:
            pf = _open_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid/OSError for non-Parquet input
            raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
        missing = [n for n in CAPTION_SCHEMA.names if n not in pf.schema_arrow.names]
        if missing:
            raise InputError(f"{path}: not a caption table (missing columns {missing}); run `clcm-data import` first")
        total += pf.metadata.num_rows
    return total


class ReadCaptionFile(beam.DoFn):
    """A caption Parquet path in; its rows out as dicts with ``_source`` and 1-based ``_line``.

    Args:
        partitioned: the files are :func:`partition_captions` partitions, whose rows carry their ``_source`` and
            ``_line`` (the caption file and line they came from).
    """

    def __init__(self, partitioned: bool = False) -> None:
        self._partitioned = partitioned

    def process(self, path: str) -> Iterator[dict[str, Any]]:
        pf = _open_parquet(path)
        if self._partitioned:
            for batch in pf.iter_batches(batch_size=8192, columns=PARTITION_SCHEMA.names):
                yield from batch.to_pylist()
            return
        line = 0
        for batch in pf.iter_batches(batch_size=8192, columns=CAPTION_SCHEMA.names):
            for row in batch.to_pylist():
                line += 1
                row[SOURCE] = path
                row[LINE] = line
                yield row


# A partition of the captions for bounded rounds: the caption columns plus where each row came from.
PARTITION_SCHEMA = pa.schema(
    [f.with_nullable(True) for f in CAPTION_SCHEMA] + [pa.field(SOURCE, pa.string()), pa.field(LINE, pa.int64())]
)


def partition_captions(files: list[str], parts: int, out_dir: str) -> list[str]:
    """Split the caption files into ``parts`` local Parquet files by a hash of ``caption_id`` (so every copy of an
    id lands in one part and a round can dedup ids on its own), one record batch in memory at a time.

    Raises:
        InputError: a caption column has a type that does not convert to the caption schema's.
    """
    from clcm.pipelines.sinks import shard_of
    from clcm.schemas.io import parquet_file

    paths = [storage.join(out_dir, f"captions-{i:05d}.parquet") for i in range(parts)]
    writers = [pq.ParquetWriter(p, PARTITION_SCHEMA, compression="zstd") for p in paths]
    try:
        for path in files:
            line = 0
            for batch in parquet_file(path).iter_batches(batch_size=8192, columns=CAPTION_SCHEMA.names):
                n = batch.num_rows
                columns = [_column(batch, f, path) for f in CAPTION_SCHEMA]
                columns += [pa.array([path] * n, pa.string()), pa.array(range(line + 1, line + n + 1), pa.int64())]
                line += n
                table = pa.Table.from_arrays(columns, schema=PARTITION_SCHEMA)
                part = np.array([shard_of(str(i), parts) for i in batch.column("caption_id").to_pylist()])
                for i in np.unique(part):
                    writers[i].write_table(table.filter(pa.array(part == i)))
    finally:
        for w in writers:
            w.close()
    return paths


def _column(batch: pa.RecordBatch, field: pa.Field, path: str) -> pa.Array:
    try:
        return batch.column(field.name).cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(f"{path}: column {field.name!r} is not {field.type}: {exc}") from exc


def reject_row(row: dict[str, Any], reason: str, detail: str | None = None) -> dict[str, Any]:
    """A REJECT_SCHEMA row (stage ``translate``) for a caption row."""
    raw = {k: v for k, v in row.items() if not k.startswith("_")}
    return {
        "source": row.get(SOURCE, "?"),
        "line": row.get(LINE),
        "caption_id": row.get("caption_id"),
        "raw": truncate_raw(json.dumps(raw, ensure_ascii=False, default=str)),
        "reason": reason,
        "detail": detail,
        "stage": "translate",
    }
