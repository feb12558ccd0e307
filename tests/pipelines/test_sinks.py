"""The shard writer's memory bounds: rows are grouped as one encoded bytes object each and decoded, converted and
written one bounded row group at a time; the output equals writing the sorted rows at once."""

from __future__ import annotations

import math

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from clcm.pipelines import sinks
from clcm.schemas import PAIR_SCHEMA, layout

pytestmark = pytest.mark.timeout(120)


def _pair(i: int) -> dict:
    # logprobs exactly representable in their float32 columns
    return {
        "pair_id": f"img{i:04d}#en#0|cs", "caption_id": f"img{i:04d}#en#0", "media_id": f"img{i:04d}",
        "caption_index": 0, "split": "train", "dataset": "t", "src_lang": "en", "src_text": f"a dog {i} ünï",
        "tgt_lang": "cs", "tgt_text": f"pes {i}", "bt_text": None if i % 7 == 0 else f"a dog {i}",
        "mt_model": "m@1", "bt_model": "m@1", "mt_logprob": -0.5 * i if i % 5 else None,
        "bt_logprob": i / 4, "tgt_origin": "mt",
    }  # fmt: skip


def test_encoded_rows_round_trip_exactly() -> None:
    values = ("ünï\x01", 3, -0.1 / 3, None, True, "", 2**40, float("inf"))
    encoded = sinks.encode_row(values)
    assert isinstance(encoded, bytes)
    assert sinks.decode_row(encoded) == values


def test_row_groups_never_decode_more_than_their_size(monkeypatch) -> None:
    decoded: list[int] = []
    real = sinks.table_from_tuples
    monkeypatch.setattr(
        sinks, "table_from_tuples", lambda rows, schema: decoded.append(len(rows)) or real(rows, schema)
    )
    rows = sorted(
        (r["pair_id"], sinks.encode_row(tuple(r.get(n) for n in PAIR_SCHEMA.names))) for r in map(_pair, range(23))
    )
    tables = list(sinks.row_groups(rows, PAIR_SCHEMA, size=5))
    assert decoded == [5, 5, 5, 5, 3]
    assert pa.concat_tables(tables).column("pair_id").to_pylist() == [k for k, _ in rows]


def test_shards_are_written_in_bounded_row_groups_sorted_and_complete(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sinks, "ROW_GROUP_ROWS", 8)
    rows = [_pair(i) for i in reversed(range(50))]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        _ = (
            p
            | beam.Create(rows)
            | sinks.WriteShards(str(tmp_path), "pairs", PAIR_SCHEMA, 3, key=lambda r: r["pair_id"], records=True)
        )
    records = sinks.shard_records(str(tmp_path), "pairs", 3, "pairs")
    seen = []
    for i, rec in enumerate(records):
        pf = pq.ParquetFile(layout.shard_path(str(tmp_path), "pairs", i, 3))
        assert pf.metadata.num_rows == rec["rows"]
        assert pf.num_row_groups == math.ceil(rec["rows"] / 8)
        assert all(pf.metadata.row_group(g).num_rows <= 8 for g in range(pf.num_row_groups))
        table = pf.read()
        assert table.schema.metadata == PAIR_SCHEMA.metadata
        ids = table.column("pair_id").to_pylist()
        assert ids == sorted(ids) and all(sinks.shard_of(k, 3) == i for k in ids)
        seen += table.to_pylist()
    assert sorted(seen, key=lambda r: r["pair_id"]) == sorted(rows, key=lambda r: r["pair_id"])


def test_batched_input_writes_the_same_shards_as_rows(tmp_path) -> None:
    rows = [_pair(i) for i in range(40)]
    for name, elements, batched in (
        ("rows", rows, False),
        ("batches", [rows[i : i + 7] for i in range(0, 40, 7)], True),
    ):
        with beam.Pipeline(runner=FnApiRunner()) as p:
            _ = (
                p
                | beam.Create(elements)
                | sinks.WriteShards(
                    str(tmp_path / name), "pairs", PAIR_SCHEMA, 2, key=lambda r: r["pair_id"], batched=batched
                )  # fmt: skip
            )
    for i in range(2):
        a, b = (layout.shard_path(str(tmp_path / name), "pairs", i, 2) for name in ("rows", "batches"))
        assert open(a, "rb").read() == open(b, "rb").read()
