"""Sorted runs: one round's rows of one shard as a local Arrow IPC file, and their k-way merge into a Parquet shard.

A run holds its rows sorted by key as record batches of :data:`RUN_BATCH_ROWS` rows, with the key in a last column.
The merge compares keys only and builds each output row group from slices of the runs' batches: no row becomes
Python objects again, and memory holds about one batch per run plus one row group. The rows reach the Parquet
writer in the order, and in the row groups, of the one-pipeline shard writer (``clcm.pipelines.sinks``), so the
merged shard has its bytes; equal keys keep the order of the runs (a stable sort keeps arrival order).
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator, Sequence
from itertools import islice
from operator import itemgetter
from typing import Any

import pyarrow as pa

from clcm import storage
from clcm.schemas.io import write_row_groups

RUN_BATCH_ROWS = 512  # rows per record batch of a run: what the merge holds of each run at a time
KEY = "__key"


def run_schema(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field(KEY, pa.string(), nullable=False))


def write_run(path: str, rows: Sequence[tuple[str, bytes]], schema: pa.Schema) -> None:
    """Write sorted ``(key, encoded row)`` pairs (rows in ``schema`` order) to local file ``path`` as a run."""
    from clcm.pipelines.sinks import row_groups

    os.makedirs(os.path.dirname(path), exist_ok=True)
    full = run_schema(schema)
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, full) as writer:
        for start, table in zip(
            range(0, len(rows), RUN_BATCH_ROWS), row_groups(rows, schema, RUN_BATCH_ROWS), strict=True
        ):
            keys = pa.array([k for k, _ in rows[start : start + RUN_BATCH_ROWS]], pa.string())
            columns = [c.chunk(0) for c in table.combine_chunks().columns]  # a group is never empty: one chunk
            writer.write_batch(pa.RecordBatch.from_arrays([*columns, keys], schema=full))


def _refs(path: str, run: int) -> Iterator[tuple[str, int, int, int, pa.RecordBatch]]:
    """``(key, run, batch index, row, batch)`` of every row of a run, one batch read at a time."""
    with pa.OSFile(path, "rb") as source:
        reader = pa.ipc.open_file(source)
        for b in range(reader.num_record_batches):
            batch = reader.get_batch(b)
            for row, key in enumerate(batch.column(KEY).to_pylist()):
                yield key, run, b, row, batch


def _gather(refs: list[tuple[str, int, int, int, pa.RecordBatch]], schema: pa.Schema) -> pa.Table:
    """The rows ``refs`` name, in order, as one table of ``schema``: one ``take`` from the batches they lie in."""
    offsets: dict[tuple[int, int], int] = {}  # (run, batch index) -> its first row in the gathered batches
    batches, total = [], 0
    for _, run, b, _, batch in refs:
        if (run, b) not in offsets:
            offsets[(run, b)], total = total, total + batch.num_rows
            batches.append(batch)
    indices = pa.array([offsets[(run, b)] + row for _, run, b, row, _ in refs], pa.int64())
    table = pa.Table.from_batches(batches).drop_columns([KEY]).take(indices).combine_chunks()
    return table.replace_schema_metadata(schema.metadata)


def merge_shard(runs: Sequence[str], path: str, schema: pa.Schema, scratch: str) -> dict[str, Any]:
    """Merge sorted runs into Parquet shard ``path`` (local or URL); returns its manifest record. The shard is
    written to a file in ``scratch`` first and copied from there, so it is never whole in memory."""
    from clcm.pipelines.sinks import ROW_GROUP_ROWS

    merged = heapq.merge(*(_refs(p, i) for i, p in enumerate(runs)), key=itemgetter(0))
    rows, pool = [0], pa.default_memory_pool()

    def groups() -> Iterator[pa.Table]:
        while refs := list(islice(merged, ROW_GROUP_ROWS)):
            rows[0] += len(refs)
            yield _gather(refs, schema)
            del refs
            pool.release_unused()  # Arrow's allocator keeps each group's freed buffers otherwise

    local = os.path.join(scratch, "merged.parquet")
    write_row_groups(groups(), local, schema)
    sha256, size = storage.put_file(local, path)
    os.unlink(local)
    return {"name": storage.basename(path), "rows": rows[0], "sha256": sha256, "bytes": size}
