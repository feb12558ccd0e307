"""Deterministic Parquet shard sinks: shard by key hash, sort rows by key, write atomically, never by position."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from clcm.pipelines.cache import write_bytes
from clcm.schemas import shard_name, table_from_rows


def shard_of(key: str, num_shards: int) -> int:
    """Stable shard index of a row key (sha256-based: the same on every worker, run and Python version)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % num_shards


def table_bytes(table: pa.Table, schema: pa.Schema) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(schema.metadata), buf, compression="zstd")
    return buf.getvalue()


class _WriteShardDoFn(beam.DoFn):
    def __init__(self, out_dir: str, prefix: str, schema: pa.Schema, num_shards: int, sort_key: Callable) -> None:
        self._out = out_dir
        self._prefix = prefix
        self._schema = schema
        self._n = num_shards
        self._sort_key = sort_key

    def process(self, element: tuple[int, dict[str, list]]) -> Iterator[str]:
        index, groups = element
        rows = sorted(groups["rows"], key=self._sort_key)
        table = table_from_rows(rows, self._schema)  # validates against the schema
        path = FileSystems.join(self._out, shard_name(self._prefix, index, self._n))
        write_bytes(path, table_bytes(table, self._schema))
        yield path


class WriteShards(beam.PTransform):
    """Write dict rows as ``{prefix}-NNNNN-of-MMMMM.parquet`` shards (every shard, even empty ones).

    Args:
        out_dir: output directory (local path or FileSystems URL).
        prefix: shard name prefix (``pairs``, ``rejects``).
        schema: the table schema; rows are validated against it.
        num_shards: number of shards.
        key: row -> string key; decides the shard (by hash) and the order within it.
    """

    def __init__(
        self, out_dir: str, prefix: str, schema: pa.Schema, num_shards: int, key: Callable[[dict[str, Any]], str]
    ) -> None:
        super().__init__()
        self._args = (out_dir, prefix, schema, num_shards)
        self._key = key

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        out_dir, prefix, schema, n = self._args
        key = self._key
        keyed = rows | "KeyByShard" >> beam.Map(lambda r: (shard_of(key(r), n), r))
        ids = rows.pipeline | "ShardIds" >> beam.Create([(i, None) for i in range(n)])
        return (
            {"rows": keyed, "ids": ids}
            | "GroupByShard" >> beam.CoGroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShardDoFn(out_dir, prefix, schema, n, key))
        )
