"""JSONL / TSV / Parquet imports by column name, and the JSONL export -> import round trip."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from formats_util import cli, counts, reasons_by_line, rows, write_jsonl

from clcm.schemas import read_manifest
from clcm.schemas import reasons as R

pytestmark = pytest.mark.timeout(60)


def test_tsv_captions_with_defaults(tmp_path):
    f = tmp_path / "caps.tsv"
    f.write_text(
        "media_id\tlang\ttext\tsplit\textra\n"
        "v1\ten\tA man plays.\ttrain\tz\n"
        "v1\ten\tA man is playing.\ttrain\tz\n"  # second caption of v1: index 1
        "v2\tde\tEin Hund.\t\tz\n"  # empty split -> null
        "v3\ten\ttoo\tfew\n"  # 4 fields
        "v4\ten\t\ttrain\tz\n",  # empty text
        encoding="utf-8",
    )
    out = tmp_path / "o"
    assert cli("import", "-f", "tsv", f, "-o", out, "--dataset", "mine") == 0
    c = counts(out)
    assert c["read"] == 5 and c["kept"] == 3
    assert reasons_by_line(out) == {("caps.tsv", 5): R.MALFORMED, ("caps.tsv", 6): R.EMPTY_TEXT}
    got = [(r["caption_id"], r["caption_index"], r["split"], r["dataset"], r["origin"]) for r in rows(out, "captions")]
    assert got == [
        ("v1#en#0", 0, "train", "mine", "human"),
        ("v1#en#1", 1, "train", "mine", "human"),
        ("v2#de#0", 0, None, "mine", "human"),
    ]
    assert read_manifest(out).extra["ignored_columns"] == ["extra"]


def test_parquet_pairs(tmp_path):
    f = tmp_path / "pairs.parquet"
    table = pa.table(
        {
            "media_id": ["v1", "v2", "v3"],
            "text": ["A dog.", "A cat.", "A cow."],
            "lang": ["en", "en", "en"],
            "tgt_lang": ["de", "de", "de"],
            "tgt_text": ["Ein Hund.", "Eine Katze.", None],
            "mt_logprob": [-0.5, None, -1.0],
            "mt_model": ["opus", "opus", "opus"],
        }
    )
    pq.write_table(table, f)
    out = tmp_path / "o"
    assert cli("import", "-f", "parquet", f, "-o", out) == 0
    c = counts(out)
    assert c["rows"] == {"captions": 0, "pairs": 2, "rejects": 1}
    assert reasons_by_line(out) == {("pairs.parquet", 3): R.MISSING_FIELD}
    p1, p2 = rows(out, "pairs")
    assert (p1["pair_id"], p1["src_text"], p1["tgt_text"], p1["tgt_origin"]) == (
        "v1#en#0>de",
        "A dog.",
        "Ein Hund.",
        "mt",
    )
    assert p1["mt_logprob"] == pytest.approx(-0.5) and p2["mt_logprob"] is None and p1["mt_model"] == "opus"
    assert not (out / "captions").exists() and (out / "pairs").is_dir()


def test_jsonl_export_then_import_gives_the_same_rows(tmp_path):
    f = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"text": "Zwei Männer.", "lang": "de", "media_id": "7", "split": "test_2016", "origin": "human"},
            {"text": "A dog.", "lang": "en", "media_id": 8, "caption_index": 3, "dataset": "d"},
            {"text": "A dog.", "lang": "en", "media_id": "8", "tgt_lang": "fr", "tgt_text": "Un chien.",
             "bt_text": "A dog.", "bt_logprob": -0.25, "caption_index": 3, "tgt_origin": "mt"},
        ],
    )  # fmt: skip
    a, js, b = tmp_path / "a", tmp_path / "js", tmp_path / "b"
    assert cli("import", "-f", "jsonl", f, "-o", a) == 0
    assert counts(a)["rows"] == {"captions": 2, "pairs": 1, "rejects": 0}
    assert cli("export", "-f", "jsonl", a, "-o", js) == 0
    assert sorted(p.name for p in js.glob("*.jsonl")) == ["captions.jsonl", "pairs.jsonl"]
    assert cli("import", "-f", "jsonl", js / "captions.jsonl", js / "pairs.jsonl", "-o", b) == 0
    for table in ("captions", "pairs"):
        assert rows(a, table) == rows(b, table)
    assert rows(a, "captions")[1]["caption_id"] == "8#en#3"


def test_a_quoted_glob_names_the_input_files(tmp_path, capsys):
    """No shell expands ``s3://b/in/*.jsonl``: import does, through clcm.storage (the same for local paths)."""
    (tmp_path / "in").mkdir()
    for name in ("b.jsonl", "a.jsonl"):
        write_jsonl(tmp_path / "in" / name, [{"media_id": name, "lang": "en", "text": "A dog."}])
    assert cli("import", "-f", "jsonl", f"{tmp_path}/in/*.jsonl", "-o", tmp_path / "o") == 0
    assert [i["path"] for i in read_manifest(tmp_path / "o").inputs] == [
        str(tmp_path / "in" / "a.jsonl"), str(tmp_path / "in" / "b.jsonl")]  # fmt: skip
    assert cli("import", "-f", "jsonl", f"{tmp_path}/in/*.tsv", "-o", tmp_path / "p") == 3
    assert f"no input files match {tmp_path}/in/*.tsv" in capsys.readouterr().err
