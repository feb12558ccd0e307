"""Deterministic Parquet shard sinks: shard by key hash, sort rows by key, write atomically, never by position.

The writer knows each shard's manifest record (rows, sha256 and size of the bytes it wrote): with ``records=True``
it leaves it beside the shard in a small hidden sidecar (``OUT/<kind>/.<shard>.record.json``) that the driver reads
with :func:`shard_records` after the job, so no output shard is read back (works on every runner: nothing is
collected into the driver).

Memory: rows travel to the shard grouping as ``(key, encoded row)`` pairs, one ``bytes`` object per row (its values
in schema order, encoded with Beam's primitives coder), packed into one element per input batch and shard, not as
dicts or tuples of Python objects: a local runner holds every grouped element in memory and the writer receives its
whole shard, and an encoded row is several times smaller than the objects it decodes to. The writer sorts those,
then decodes, converts and writes :data:`ROW_GROUP_ROWS` rows at a time (one Parquet row group each), so no decoded
shard or whole Arrow table of it is ever alive.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, islice
from operator import itemgetter
from typing import Any

import apache_beam as beam
import pyarrow as pa

from clcm import storage
from clcm.pipelines.runs import write_run
from clcm.schemas import SchemaError, layout, validate_table
from clcm.schemas.io import ROW_GROUP_ROWS, parquet_bytes, shard_record
from clcm.storage import write_bytes

_ROW_CODER = beam.coders.FastPrimitivesCoder()  # deterministic and exact for str/int/float/bool/None tuples


def encode_row(values: tuple) -> bytes:
    """A row's values (schema order) as one compact bytes object, for grouping."""
    return _ROW_CODER.encode(values)


def decode_row(data: bytes) -> tuple:
    return _ROW_CODER.decode(data)


def row_groups(rows: Iterable[tuple[str, bytes]], schema: pa.Schema, size: int | None = None) -> Iterator[pa.Table]:
    """Sorted ``(key, encoded row)`` pairs as validated tables of at most ``size`` rows, decoded group by group."""
    rows, size = iter(rows), size or ROW_GROUP_ROWS
    while True:
        group = [decode_row(data) for _, data in islice(rows, size)]
        if not group:
            return
        table = table_from_tuples(group, schema)
        del group  # one group's decoded rows alive at a time, not two
        yield table


def run_path(out_dir: str, kind: str, index: int, num_shards: int) -> str:
    """Where a round's sorted run of shard ``index`` goes (see ``WriteShards(runs=True)``)."""
    return layout.shard_path(out_dir, kind, index, num_shards).removesuffix(".parquet") + ".arrow"


def pair_key(row: dict[str, Any]) -> str:
    """Shard and sort key of a pair row (pairs and scored pairs)."""
    return row["pair_id"]


def shard_of(key: str, num_shards: int) -> int:
    """Stable shard index of a row key (sha256-based: the same on every worker, run and Python version)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % num_shards


def table_from_tuples(rows: Sequence[tuple], schema: pa.Schema) -> pa.Table:
    """Build and validate a table from rows of values in ``schema`` order (like ``table_from_rows`` for dicts)."""
    arrays = []
    try:
        for i, f in enumerate(schema):  # one column at a time: one Python list alive, not a dict of all of them
            arrays.append(pa.array([r[i] for r in rows], type=f.type))
        table = pa.Table.from_arrays(arrays, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(f"rows do not fit schema {schema.metadata.get(b'table', b'?').decode()}: {exc}") from exc
    validate_table(table, schema)
    return table


def record_path(shard: str) -> str:
    """The hidden sidecar holding the manifest record of ``shard`` (hidden: never read as a shard)."""
    return storage.join(storage.parent(shard), f".{storage.basename(shard)}.record.json")


def shard_records(out_dir: str, kind: str, num_shards: int, table: str) -> list[dict]:
    """The manifest records the writer left for every shard of ``kind`` (``name`` relative to ``out_dir``, the
    manifest's ``table`` name), in shard order; the sidecars are removed once read."""
    sidecars = [record_path(layout.shard_path(out_dir, kind, i, num_shards)) for i in range(num_shards)]
    records = []
    for path in sidecars:
        rec = json.loads(storage.read_text(path))
        records.append(rec | {"name": layout.shard_record_name(kind, rec["name"]), "table": table})
    storage.delete(sidecars)
    return records


class _WriteShardDoFn(beam.DoFn):
    def __init__(
        self, out_dir: str, kind: str, schema: pa.Schema, num_shards: int, records: bool, runs: bool
    ) -> None:  # fmt: skip
        self._out = out_dir
        self._kind = kind
        self._schema = schema
        self._n = num_shards
        self._records = records
        self._runs = runs

    def process(self, element: tuple[int, dict[str, list]]) -> Iterator[str]:
        index, groups = element
        # (key, encoded row) pairs: the shard, each row still encoded; an element holds one batch's rows of the shard
        rows = sorted(chain.from_iterable(map(decode_row, groups["rows"])), key=itemgetter(0))
        if self._runs:
            path = run_path(self._out, self._kind, index, self._n)
            write_run(path, rows, self._schema)
            yield path
            return
        data = parquet_bytes(row_groups(rows, self._schema), self._schema)  # validated group by group
        n_rows = len(rows)
        del rows
        path = layout.shard_path(self._out, self._kind, index, self._n)
        write_bytes(path, data)
        if self._records:  # after the shard: a sidecar proves its shard complete
            storage.write_text(record_path(path), json.dumps(shard_record(path, data, n_rows)))
        yield path


class WriteShards(beam.PTransform):
    """Write dict rows as ``out_dir/{kind}/{kind}-NNNNN-of-MMMMM.parquet`` shards (every shard, even empty ones).

    Args:
        out_dir: the stage's output directory (local path or object-store URL); see :mod:`clcm.schemas.layout`.
        kind: the shard kind (``pairs``, ``rejects``, ``scored``).
        schema: the table schema; rows are validated against it.
        num_shards: number of shards.
        key: row -> string key; decides the shard (by hash) and the order within it.
        records: leave each shard's manifest record in a sidecar, for :func:`shard_records`.
        batched: the elements are lists of rows (e.g. one per scored batch), not rows: the grouping then holds one
            encoded element per batch and shard instead of one per row.
        runs: write each shard as a sorted run (local files: a round's output, merged into Parquet shards by
            :mod:`clcm.pipelines.rounds`) instead of Parquet.
    """

    def __init__(
        self, out_dir: str, kind: str, schema: pa.Schema, num_shards: int, key: Callable[[dict[str, Any]], str],
        *, records: bool = False, batched: bool = False, runs: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self._args = (out_dir, kind, schema, num_shards)
        self._key = key
        self._records = records
        self._batched = batched
        self._runs = runs

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        out_dir, kind, schema, n = self._args
        key, names = self._key, schema.names

        def by_shard(batch: Sequence[dict[str, Any]]) -> Iterator[tuple[int, bytes]]:
            parts: dict[int, list[tuple[str, bytes]]] = {}
            for r in batch:
                k = key(r)
                parts.setdefault(shard_of(k, n), []).append((k, encode_row(tuple(r.get(name) for name in names))))
            for index, part in parts.items():
                yield index, encode_row(tuple(part))

        batches = rows if self._batched else rows | "Batches" >> beam.Map(lambda r: (r,))
        keyed = batches | "KeyByShard" >> beam.FlatMap(by_shard)
        ids = rows.pipeline | "ShardIds" >> beam.Create([(i, None) for i in range(n)])
        return (
            {"rows": keyed, "ids": ids}
            | "GroupByShard" >> beam.CoGroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShardDoFn(out_dir, kind, schema, n, self._records, self._runs))
        )
