"""NRCCR TextData files: line/tag/file-name parsing, exact export bytes, and import <-> export round trips."""

from __future__ import annotations

import pytest
from formats_util import cli, counts, rows

from clcm.formats.nrccr import file_name, parse_line, parse_tag, split_of_file
from clcm.formats.records import RecordError
from clcm.schemas import CAPTION_SCHEMA, PAIR_SCHEMA, read_manifest, read_table, write_rows
from clcm.schemas import reasons as R

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("enc", ("enc", "en")),
        ("enc2de", ("mt", "de")),
        ("enc2zh2enc", ("bt", "zh")),
        ("cs", ("xx", "cs")),
        ("fr2enc", ("back", "fr")),
    ],
)
def test_parse_tag(tag, expected):
    assert parse_tag(tag) == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1#enc#0", R.MALFORMED),
        ("1#enc2qq#0 x", R.UNKNOWN_LANG),
        ("1#encx#0 x", R.MALFORMED),
        ("#enc#0 x", R.MALFORMED),
    ],
)
def test_parse_line_rejects(line, reason):
    with pytest.raises(RecordError) as exc:
        parse_line(line)
    assert exc.value.reason == reason


def test_parse_line_splits_on_first_space_and_strips_media_suffix():
    cap = parse_line("yBsSqb4orpw_000000_000010.mp4#enc2zh#5 两 个人  在 跳舞 ")
    assert (cap.media_id, cap.kind, cap.lang, cap.k, cap.text) == (
        "yBsSqb4orpw_000000_000010", "mt", "zh", 5, "两 个人  在 跳舞 ",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "collection", "split"),
    [
        ("multi30ktrain_enc.caption.txt", "multi30k", "train"),
        ("multi30ktrain_google_enc2cs.caption.txt", "multi30k", "train"),
        ("multi30kval_google_de2enc_task1.caption.txt", "multi30k", "val"),
        ("multi30ktest_cs_2016.caption.txt", "multi30k", "test_2016"),
        ("multi30ktest_google_fr2enc_2016_task1.caption.txt", "multi30k", "test_2016"),
        ("vatextrain.caption.txt", "vatex", "train"),
        ("captions.caption.txt", None, None),
    ],
)
def test_split_of_file(name, collection, split):
    assert split_of_file(name) == (collection, split)


def test_file_name_is_the_inverse():
    assert file_name("multi30k", "test_2016", "cs", False) == "multi30ktest_cs_2016.caption.txt"
    assert file_name("multi30k", "train", "enc2cs", True) == "multi30ktrain_google_enc2cs.caption.txt"
    assert file_name("multi30k", "val", "de2enc", True) == "multi30kval_google_de2enc_task1.caption.txt"
    assert file_name("multi30k", "test_2016", "de", False) == "multi30ktest_de_2016_task1.caption.txt"
    assert file_name("vatex", "val", "zh2enc", True) == "vatexval_google_zh2enc.caption.txt"
    for split in ("train", "val", "test_2016", "test_2017_mscoco"):
        assert split_of_file(file_name("c", split, "enc2de2enc", True)) == ("c", split)


def _shards(tmp_path):
    d = tmp_path / "shards"
    caption = dict(caption_index=0, dataset="multi30k", origin="human")
    write_rows(
        [
            {**caption, "caption_id": "1000092795#en#0", "media_id": "1000092795", "lang": "en",
             "text": "Two young guys.", "split": "train"},
            {**caption, "caption_id": "1007129816#cs#0", "media_id": "1007129816", "lang": "cs",
             "text": "Muž v klobouku.", "split": "test_2016"},
            {**caption, "caption_id": "1018148011#de2en#0", "media_id": "1018148011", "lang": "en",
             "text": "A group of men.", "split": "val", "origin": "mt"},
        ],
        d / "captions-00000-of-00001.parquet",
        CAPTION_SCHEMA,
    )  # fmt: skip
    write_rows(
        [
            {"pair_id": "1000092795#en#0>de", "caption_id": "1000092795#en#0", "media_id": "1000092795",
             "caption_index": 0, "split": "train", "dataset": "multi30k", "src_lang": "en",
             "src_text": "Two young guys.", "tgt_lang": "de", "tgt_text": "Zwei junge Männer.",
             "bt_text": "Two young men.", "mt_model": "m", "tgt_origin": "mt"},
        ],
        d / "pairs-00000-of-00001.parquet",
        PAIR_SCHEMA,
    )  # fmt: skip
    return d


def test_export_exact_bytes(tmp_path):
    out = tmp_path / "TextData"
    assert cli("export", "--format", "nrccr", _shards(tmp_path), "--out", out) == 0
    got = {p.name: p.read_bytes() for p in out.glob("*.caption.txt")}
    assert got == {
        "multi30ktrain_enc.caption.txt": b"1000092795#enc#0 Two young guys.\n",
        "multi30ktest_cs_2016.caption.txt": "1007129816#cs#0 Muž v klobouku.\n".encode(),
        "multi30kval_google_de2enc_task1.caption.txt": b"1018148011#de2enc#0 A group of men.\n",
        "multi30ktrain_google_enc2de.caption.txt": "1000092795#enc2de#0 Zwei junge Männer.\n".encode(),
        "multi30ktrain_google_enc2de2enc.caption.txt": b"1000092795#enc2de2enc#0 Two young men.\n",
    }
    assert read_manifest(out).counts == {"read": 4, "kept": 4, "rejected": {}}  # 3 captions + 1 pair


def test_nrccr_import_export_is_byte_identical(tmp_path):
    td = tmp_path / "TextData"
    out = tmp_path / "TextData2"
    assert cli("export", "-f", "nrccr", _shards(tmp_path), "-o", td) == 0
    assert cli("import", "-f", "nrccr", td, "-o", tmp_path / "imported") == 0
    c = counts(tmp_path / "imported")
    assert c["rows"] == {"captions": 3, "pairs": 1, "rejects": 0} and c["folded"] == 1
    (pair,) = rows(tmp_path / "imported", "pairs")
    assert pair["bt_text"] == "Two young men." and pair["tgt_origin"] == "mt" and pair["split"] == "train"
    assert cli("export", "-f", "nrccr", tmp_path / "imported", "-o", out) == 0
    for f in td.glob("*.caption.txt"):
        assert (out / f.name).read_bytes() == f.read_bytes(), f.name


def test_export_rejects_what_the_format_cannot_hold(tmp_path, capsys):
    d = tmp_path / "s"
    row = dict(caption_id="a#en#0", media_id="a", caption_index=0, lang="en", text="x", split="train",
               dataset="d", origin="human")  # fmt: skip
    bad = [{**row, "media_id": "a b", "caption_id": "a b#en#0"}, {**row, "caption_index": 1, "text": "line\nbreak"}]
    write_rows([row, *bad], d / "captions-00000-of-00001.parquet", CAPTION_SCHEMA)
    assert cli("export", "-f", "nrccr", d, "-o", tmp_path / "o") == 0
    assert read_manifest(tmp_path / "o").counts == {
        "read": 3, "kept": 1, "rejected": {"invalid_media_id": 1, "line_break": 1}}  # fmt: skip
    assert (tmp_path / "o" / "dtrain_enc.caption.txt").read_text() == "a#enc#0 x\n"


def _roundtrip(multi30k_dir, tmp_path, *extra):
    a, td, b = tmp_path / "a", tmp_path / "td", tmp_path / "b"
    assert cli("import", "-f", "multi30k", multi30k_dir, "-o", a, *extra) == 0
    assert cli("export", "-f", "nrccr", a, "-o", td) == 0
    assert cli("import", "-f", "nrccr", td, "-o", b) == 0
    ta = read_table(a, CAPTION_SCHEMA, prefix="captions-").sort_by("caption_id")
    tb = read_table(b, CAPTION_SCHEMA, prefix="captions-").sort_by("caption_id")
    assert ta.num_rows > 0 and ta.equals(tb)
    return td


@pytest.mark.multi30k
def test_multi30k_nrccr_roundtrip_subset(multi30k_dir, tmp_path):
    td = _roundtrip(multi30k_dir, tmp_path, "--splits", "val,test_2016_flickr", "--langs", "en,cs")
    assert sorted(p.name for p in td.glob("*.caption.txt")) == [
        "multi30ktest_cs_2016.caption.txt",
        "multi30ktest_enc_2016.caption.txt",
        "multi30kval_cs.caption.txt",
        "multi30kval_enc.caption.txt",
    ]


@pytest.mark.slow
@pytest.mark.multi30k
def test_multi30k_nrccr_roundtrip_full(multi30k_dir, tmp_path):
    td = _roundtrip(multi30k_dir, tmp_path)
    assert sum(1 for _ in (td / "multi30ktrain_enc.caption.txt").open(encoding="utf-8")) == 29_000
