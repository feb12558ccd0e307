"""Every kind of bad input, fed through the real `clcm-data import` CLI: reject reasons and read = kept + rejected."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from clcm.cli.common import run_app
from clcm.cli.data import app
from clcm.errors import EXIT_EMPTY, EXIT_INPUT, EXIT_USAGE
from clcm.schemas import REJECT_SCHEMA, read_manifest, read_table
from clcm.schemas import reasons as R

pytestmark = pytest.mark.timeout(60)


def cli(*argv: str | Path) -> int:
    return run_app(app, [str(a) for a in argv])


def check_counts(out: Path) -> tuple[dict[str, Any], dict[tuple[str, int], dict[str, Any]]]:
    """Manifest counts (checked to add up and to match the rejects table) and rejects by (file name, line)."""
    c = read_manifest(out).counts
    rejects = read_table(out, REJECT_SCHEMA, prefix="rejects-").to_pylist()
    assert c["read"] == c["kept"] + sum(c["rejected"].values())
    assert c["kept"] == c["rows"]["captions"] + c["rows"]["pairs"] + c["folded"]
    assert len(rejects) == sum(c["rejected"].values())
    assert all(r["stage"] == "import" and r["detail"] for r in rejects)
    return c, {(Path(r["source"]).name, r["line"]): r for r in rejects}


def test_nrccr_bad_lines(tmp_path, capsys):
    lines = [
        b"100#enc#0 A dog runs.",  # 1 kept
        b"100#enc#1 A cat \xff sleeps.",  # 2 invalid UTF-8
        b"100#enc#2 nul\x00byte",  # 3 NUL
        b"100#enc#3    ",  # 4 whitespace-only
        b"100#enc#0 A dog runs again.",  # 5 duplicate of line 1
        b"100#enc#4",  # 6 no space: malformed
        b"100#enc2qq#0 Qq text",  # 7 unknown language in the tag
        b"100#enc2de#9 Ein Hund.",  # 8 MT line without its enc line
        b"100#enc2de2enc#7 A dog.",  # 9 BT line without its MT line
        b"100#zz#notanumber text",  # 10 malformed index
        b"100.jpg#enc2de#0 Ein Hund rennt.",  # 11 kept as a pair (.jpg stripped)
        b"100#enc2de2enc#0 A dog is running.",  # 12 folded into that pair
    ]
    f = tmp_path / "multi30ktrain_enc.caption.txt"
    f.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    assert cli("import", "--format", "nrccr", f, "--out", out) == 0
    c, rej = check_counts(out)
    assert c["read"] == 12 and c["kept"] == 3
    name = f.name
    expected = {
        2: R.INVALID_UTF8, 3: R.NUL_BYTE, 4: R.EMPTY_TEXT, 5: R.DUPLICATE_ID, 6: R.MALFORMED, 7: R.UNKNOWN_LANG,
        8: R.MISSING_SOURCE, 9: R.MISSING_SOURCE, 10: R.MALFORMED,
    }  # fmt: skip
    assert {line: r["reason"] for (_, line), r in rej.items()} == expected
    assert f"{name}:1" in rej[(name, 5)]["detail"]  # the duplicate names the first occurrence
    assert "enc2de" in rej[(name, 9)]["detail"] and "enc" in rej[(name, 8)]["detail"]
    assert rej[(name, 2)]["raw"] == "100#enc#1 A cat \ufffd sleeps."
    summary = capsys.readouterr().out
    assert "missing_source" in summary and "read" in summary


def test_jsonl_bad_records(tmp_path):
    good = {"text": "A dog.", "lang": "en", "media_id": "m1"}
    records = [
        good,  # 1 kept
        {"text": "A dog.", "lang": "en"},  # 2 missing media_id
        {"text": "Un chien.", "lang": "xx", "media_id": "m1"},  # 3 unknown language
        {"text": "", "lang": "en", "media_id": "m2"},  # 4 empty
        {**good, "caption_id": "m1#en#0"},  # 5 duplicate of line 1's id
        [1, 2],  # 6 not an object
        {"text": "Ein Hund.", "lang": "de", "media_id": "m1", "caption_index": -1},  # 7 bad index
        {"src_text": "A dog.", "src_lang": "en", "tgt_lang": "de", "tgt_text": "Ein Hund.", "media_id": "m1"},  # 8
        {"src_text": "A dog.", "src_lang": "en", "tgt_lang": "de", "tgt_text": None, "media_id": "m3"},  # 9
    ]
    f = tmp_path / "in.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in records) + "{not json\n", encoding="utf-8")
    out = tmp_path / "out"
    assert cli("import", "-f", "jsonl", f, "-o", out) == 0
    c, rej = check_counts(out)
    assert c["read"] == 10 and c["kept"] == 2 and c["rows"] == {"captions": 1, "pairs": 1, "rejects": 8}
    expected = {
        2: R.MISSING_FIELD, 3: R.UNKNOWN_LANG, 4: R.EMPTY_TEXT, 5: R.DUPLICATE_ID, 6: R.MALFORMED, 7: R.MALFORMED,
        9: R.MISSING_FIELD, 10: R.MALFORMED,
    }  # fmt: skip
    assert {line: r["reason"] for (_, line), r in rej.items()} == expected


def test_multi30k_parallel_files_of_different_lengths(tmp_path):
    d = tmp_path / "m30k"
    d.mkdir()
    (d / "train.images.txt").write_text("1.jpg\n2.jpg\n3.jpg\n")
    for lang, lines in {"en": ["A.", "", "C."], "de": ["A.", "B.", "C.", "D."], "fr": ["A.", "B."]}.items():
        with gzip.open(d / f"train.{lang}.gz", "wt", encoding="utf-8") as fh:
            fh.write("".join(x + "\n" for x in lines))
    with gzip.open(d / "train.qq.gz", "wt", encoding="utf-8") as fh:
        fh.write("x\ny\nz\n")
    out = tmp_path / "out"
    assert cli("import", "-f", "multi30k", d, "-o", out, "--as-pairs") == 0  # all languages present
    c, rej = check_counts(out)
    assert c["read"] == 3 + 4 + 3 + 3  # fr's missing third line is a record slot too
    assert {k: r["reason"] for k, r in rej.items()} == {
        ("train.en.gz", 2): R.EMPTY_TEXT,
        ("train.de.gz", 2): R.MISSING_SOURCE,  # its English line was rejected
        ("train.de.gz", 4): R.LENGTH_MISMATCH,  # beyond the images file
        ("train.fr.gz", 2): R.MISSING_SOURCE,
        ("train.fr.gz", 3): R.LENGTH_MISMATCH,  # no fr line for image 3
        ("train.qq.gz", 1): R.UNKNOWN_LANG,
        ("train.qq.gz", 2): R.UNKNOWN_LANG,
        ("train.qq.gz", 3): R.UNKNOWN_LANG,
    }
    assert c["rows"] == {"captions": 2, "pairs": 3, "rejects": 8}


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["import", "-f", "xml", "{tmp}", "-o", "{tmp}/o"], EXIT_USAGE, "unknown format 'xml'"),
        (["import", "-f", "jsonl", "{tmp}/nope.jsonl", "-o", "{tmp}/o"], EXIT_INPUT, "not found"),
        (["import", "-f", "multi30k", "{tmp}", "-o", "{tmp}/o", "--langs", "xx"], EXIT_USAGE, "unknown language"),
        (["import", "-f", "jsonl", "{tmp}/a.jsonl", "-o", "{tmp}/o", "--as-pairs"], EXIT_USAGE, "multi30k only"),
        (["import", "-f", "multi30k", "{tmp}", "-o", "{tmp}/o"], EXIT_INPUT, "images.txt"),
        (["export", "-f", "csv", "{tmp}", "-o", "{tmp}/o"], EXIT_USAGE, "unknown export format"),
        (["export", "-f", "nrccr", "{tmp}", "-o", "{tmp}/o"], EXIT_INPUT, "no caption or pair shards"),
        (["inspect", "{tmp}/nothing"], EXIT_INPUT, "no such file"),
    ],
)
def test_user_mistakes_are_one_line_errors(tmp_path, capsys, argv, code, message):
    (tmp_path / "a.jsonl").write_text('{"text": "A.", "lang": "en", "media_id": "1"}\n')
    assert cli(*(a.replace("{tmp}", str(tmp_path)) for a in argv)) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err and "Traceback" not in err


def test_replaces_its_own_output_and_all_rejected_is_an_error(tmp_path, capsys):
    f = tmp_path / "a.jsonl"
    f.write_text('{"text": "A.", "lang": "en", "media_id": "1"}\n')
    out = tmp_path / "o"
    assert cli("import", "-f", "jsonl", f, "-o", out) == 0
    assert cli("import", "-f", "jsonl", f, "-o", out) == 0  # an earlier import in --out is replaced (one rule)
    f.write_text('{"text": " ", "lang": "en", "media_id": "1"}\n')
    assert cli("import", "-f", "jsonl", f, "-o", out) == EXIT_EMPTY
    c, _ = check_counts(out)  # the rejects and manifest are still written
    assert c["read"] == 1 and c["rejected"] == {R.EMPTY_TEXT: 1}
    assert not (out / "captions").exists()  # the old captions shard was removed, not left behind


def test_inspect_shows_schema_counts_and_rows(tmp_path, capsys):
    f = tmp_path / "a.jsonl"
    f.write_text(
        '{"text": "A brown dog.", "lang": "en", "media_id": "77"}\n{"text": "", "lang": "en", "media_id": "78"}\n'
    )
    out = tmp_path / "o"
    assert cli("import", "-f", "jsonl", f, "-o", out) == 0
    capsys.readouterr()
    assert cli("inspect", out, "-n", "3") == 0
    text = capsys.readouterr().out
    assert "captions: schema_version 1, 1 rows" in text and "rejects: schema_version 1, 1 rows" in text
    assert "command=import" in text and "empty_text" in text and "A brown dog." in text and "77#en#0" in text
