from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clcm.schemas import (
    CAPTION_SCHEMA,
    PAIR_SCHEMA,
    REJECT_SCHEMA,
    AccountingError,
    Manifest,
    SchemaError,
    caption_id,
    check_counts,
    pair_id,
    read_manifest,
    read_table,
    score_names_of,
    scored_pair_schema,
    table_from_rows,
    write_manifest,
    write_rows,
    write_sharded,
)
from clcm.schemas.io import ROW_GROUP_ROWS

CAPTIONS = [
    {
        "caption_id": caption_id("1000092795", "en", 0),
        "media_id": "1000092795",
        "caption_index": 0,
        "lang": "en",
        "text": "Two young guys with shaggy hair look at their hands.",
        "split": "train",
        "dataset": "multi30k",
        "origin": "human",
    },
    {
        "caption_id": caption_id("1000092795", "cs", 0),
        "media_id": "1000092795",
        "caption_index": 0,
        "lang": "cs",
        "text": "Dva mladí muži s rozcuchanými vlasy si prohlížejí ruce.",
        "split": "train",
        "dataset": "multi30k",
        "origin": "human",
    },
    {
        "caption_id": "v1#ja#3",
        "media_id": "v1",
        "caption_index": 3,
        "lang": "ja",
        "text": "犬が走る。",
        "split": None,
        "dataset": None,
        "origin": "mt",
    },
]


def _pair(i: int, **over) -> dict:
    cid = caption_id(f"img{i}", "en", 0)
    row = {
        "pair_id": pair_id(cid, "de"),
        "caption_id": cid,
        "media_id": f"img{i}",
        "caption_index": 0,
        "split": "train",
        "dataset": "multi30k",
        "src_lang": "en",
        "src_text": f"A dog number {i} runs.",
        "tgt_lang": "de",
        "tgt_text": f"Ein Hund Nummer {i} läuft.",
        "bt_text": f"A dog number {i} is running.",
        "mt_model": "opus-mt-en-de@abc",
        "bt_model": "opus-mt-de-en@def",
        "mt_logprob": -0.25 * i,
        "bt_logprob": None,
        "tgt_origin": "mt",
    }
    row.update(over)
    return row


PAIRS = [_pair(1), _pair(2, bt_text=None, bt_model=None), _pair(3, mt_model=None, tgt_origin="human")]
REJECTS = [
    {
        "source": "train.en.gz",
        "line": 7,
        "caption_id": None,
        "raw": "\ufffd\ufffd",
        "reason": "invalid_utf8",
        "detail": "byte 0xff at 3",
        "stage": "import",
    },
    {
        "source": "caps.jsonl",
        "line": 2,
        "caption_id": "x#en#0",
        "raw": '{"text": " "}',
        "reason": "empty_text",
        "detail": None,
        "stage": "import",
    },
    {
        "source": "caps.jsonl",
        "line": 9,
        "caption_id": "x#en#0",
        "raw": None,
        "reason": "duplicate_id",
        "detail": "first seen on line 1",
        "stage": "import",
    },
]


@pytest.mark.parametrize(
    ("schema", "rows"),
    [(CAPTION_SCHEMA, CAPTIONS), (PAIR_SCHEMA, PAIRS), (REJECT_SCHEMA, REJECTS)],
    ids=["captions", "pairs", "rejects"],
)
def test_round_trip(tmp_path, schema, rows):
    rec = write_rows(rows, tmp_path / "t.parquet", schema)
    assert rec["rows"] == 3 and len(rec["sha256"]) == 64
    back = read_table(tmp_path / "t.parquet", schema)
    assert back.schema.equals(schema, check_metadata=True)
    assert back.to_pylist() == [{f.name: r.get(f.name) for f in schema} for r in rows]


def test_scored_pair_round_trip(tmp_path):
    schema = scored_pair_schema(["lang_id", "chrf_bt"])
    rows = [
        dict(
            p,
            score_lang_id=0.5 * i,
            score_chrf_bt=None if i == 1 else 0.9,
            noise_score=0.1,
            keep=i != 2,
            reject_reason=None if i != 2 else "lang_id",
            nrf_selected=i == 0,
        )
        for i, p in enumerate(PAIRS)
    ]
    write_rows(rows, tmp_path / "s.parquet", schema)
    back = read_table(tmp_path / "s.parquet", schema)
    assert score_names_of(back.schema) == ["lang_id", "chrf_bt"]
    assert back.column("score_lang_id").type == pa.float32()
    got = back.to_pylist()
    assert (got[0]["keep"], got[0]["reject_reason"]) == (True, None)
    assert (got[2]["keep"], got[2]["reject_reason"]) == (False, "lang_id")
    assert back.column("score_chrf_bt").to_pylist()[1] is None


def test_scored_schema_rejects_bad_names():
    with pytest.raises(ValueError, match="must match"):
        scored_pair_schema(["Bad-Name"])
    with pytest.raises(ValueError, match="duplicate"):
        scored_pair_schema(["a", "a"])


def test_non_nullable_field_is_enforced():
    with pytest.raises(SchemaError):
        table_from_rows([dict(CAPTIONS[0], text=None)], CAPTION_SCHEMA)


def test_wrong_columns_are_named(tmp_path):
    pq.write_table(
        pa.table({"caption_id": ["a"]}).replace_schema_metadata({"schema_version": "1"}), tmp_path / "x.parquet"
    )
    with pytest.raises(SchemaError, match="missing"):
        read_table(tmp_path / "x.parquet", CAPTION_SCHEMA)


def test_schema_version_is_checked(tmp_path):
    pq.write_table(pa.table({"a": [1]}).replace_schema_metadata({"schema_version": "99"}), tmp_path / "x.parquet")
    with pytest.raises(SchemaError, match="schema_version"):
        read_table(tmp_path / "x.parquet")


def test_sharded_write_reads_back_in_order(tmp_path):
    rows = [_pair(i) for i in range(7)]
    shards = write_sharded(rows, tmp_path, "pairs", PAIR_SCHEMA, rows_per_shard=3)
    assert [s["name"] for s in shards] == [f"pairs-0000{i}-of-00003.parquet" for i in range(3)]
    assert read_table(tmp_path, PAIR_SCHEMA).column("pair_id").to_pylist() == [r["pair_id"] for r in rows]
    empty = write_sharded([], tmp_path / "e", "pairs", PAIR_SCHEMA, rows_per_shard=3)
    assert empty[0]["rows"] == 0 and read_table(tmp_path / "e", PAIR_SCHEMA).num_rows == 0


def test_manifest_round_trip_and_accounting(tmp_path):
    m = Manifest(
        command="import",
        config={"format": "multi30k", "langs": ["en", "cs"]},
        counts={"read": 10, "kept": 7, "rejected": {"empty_text": 2, "duplicate_id": 1}},
        shards=[{"name": "captions-00000-of-00001.parquet", "rows": 7}],
    )
    path = write_manifest(tmp_path, m)
    data = json.loads(path.read_text())
    assert data["config_hash"] and data["schema_version"] == "1" and data["created_at"]
    back = read_manifest(tmp_path)
    assert back.counts == m.counts and back.config == m.config
    # same config, other key order -> same hash
    assert (
        Manifest(command="x", config={"langs": ["en", "cs"], "format": "multi30k"}).to_dict()["config_hash"]
        == data["config_hash"]
    )
    with pytest.raises(AccountingError, match="read=10"):
        write_manifest(tmp_path, Manifest(command="import", counts={"read": 10, "kept": 7, "rejected": {"x": 1}}))
    with pytest.raises(AccountingError, match="scored"):
        check_counts({"scored": 5, "kept": 4, "dropped": {}})


def test_written_files_have_bounded_row_groups(tmp_path):
    """A reader decodes a row group's dictionary pages whole, so no file clcm writes has one huge row group."""
    rows = [_pair(i) for i in range(2 * ROW_GROUP_ROWS + 5)]
    write_rows(rows, tmp_path / "p.parquet", PAIR_SCHEMA)
    meta = pq.ParquetFile(tmp_path / "p.parquet").metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [ROW_GROUP_ROWS] * 2 + [5]
    assert read_table(tmp_path / "p.parquet", PAIR_SCHEMA).column("pair_id").to_pylist() == [
        r["pair_id"] for r in rows
    ]
