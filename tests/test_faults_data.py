"""Data faults (issue 12 §3, §5, §6): bad text becomes one reject row, everything-rejected exits 6, NRCCR import
labels files right, and every manifest adds up (read == kept + Σ rejected)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clcm.cli.common import run_app
from clcm.cli.data import app
from clcm.schemas import check_counts, read_table

pytestmark = pytest.mark.timeout(120)


def _cli(args: list, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run_app(app, [str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _import(tmp_path: Path, capsys, files: dict[str, bytes], fmt: str, *flags: str) -> tuple[int, str, dict | None]:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out = tmp_path / "out"
    code, err = _cli(["import", *(tmp_path / n for n in files), "-f", fmt, "-o", out, *flags], capsys)
    manifest = json.loads((out / "_manifest.json").read_text()) if (out / "_manifest.json").exists() else None
    if manifest:
        check_counts(manifest["counts"])
    return code, err, manifest


def _reasons(tmp_path: Path) -> list[str]:
    return sorted(read_table(tmp_path / "out", prefix="rejects-").column("reason").to_pylist())


GOOD = b'{"media_id": "m0", "lang": "en", "text": "a dog runs"}\n'


@pytest.mark.parametrize(
    "line",
    [
        rb'{"media_id": "m1", "lang": "en", "text": "bad \ud800 text"}',
        rb'{"media_id": "m\udfff", "lang": "en", "text": "a cat"}',
        rb'{"media_id": "m1", "lang": "en", "text": "a cat", "split": "tr\ud800"}',
        rb'{"media_id": "m1", "lang": "en", "text": "a cat", "note\ud800": 1}',  # an ignored column's name
        rb'{"media_id": "m1", "lang": "en", "text": "a cat", "extra": ["\ud800"]}',
        rb'{"media_id": "m1", "lang": "en", "src_text": "a cat", "tgt_lang": "de", "tgt_text": "\udc00"}',
    ],
)
def test_lone_surrogate_in_jsonl_is_one_reject(tmp_path: Path, capsys, line: bytes) -> None:
    code, err, manifest = _import(tmp_path, capsys, {"in.jsonl": GOOD + line + b"\n" + GOOD.replace(b"m0", b"m2")},
                                  "jsonl")  # fmt: skip
    assert code == 0, err
    assert manifest["counts"]["read"] == 3 and manifest["counts"]["kept"] == 2
    assert _reasons(tmp_path) == ["invalid_text"]


def test_valid_surrogate_pair_escape_is_kept(tmp_path: Path, capsys) -> None:
    line = rb'{"media_id": "m1", "lang": "en", "text": "a dog \ud83d\ude00"}' + b"\n"
    code, _, manifest = _import(tmp_path, capsys, {"in.jsonl": line}, "jsonl")
    assert code == 0 and manifest["counts"]["kept"] == 1
    assert read_table(tmp_path / "out", prefix="captions-").column("text")[0].as_py() == "a dog \U0001f600"


def test_surrogate_bytes_in_line_formats_are_invalid_utf8(tmp_path: Path, capsys) -> None:
    surrogate = "\ud800".encode("utf-8", "surrogatepass")  # b"\xed\xa0\x80": not valid UTF-8
    tsv = b"media_id\tlang\ttext\nm1\ten\ta dog\nm2\ten\tbad " + surrogate + b"\n"
    code, _, manifest = _import(tmp_path, capsys, {"in.tsv": tsv}, "tsv")
    assert code == 0 and manifest["counts"]["kept"] == 1 and _reasons(tmp_path) == ["invalid_utf8"]


def test_nrccr_surrogate_bytes_are_invalid_utf8(tmp_path: Path, capsys) -> None:
    data = b"1#enc#0 a dog\n2#enc#0 bad \xed\xa0\x80\n"
    code, _, manifest = _import(tmp_path, capsys, {"x_train_enc.caption.txt": data}, "nrccr")
    assert code == 0 and manifest["counts"]["kept"] == 1 and _reasons(tmp_path) == ["invalid_utf8"]


def test_parquet_string_cell_that_is_not_utf8_is_one_reject(tmp_path: Path, capsys) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = pa.array([b"a dog", b"bad \xed\xa0\x80", b"a cat"], pa.binary())
    text = pa.Array.from_buffers(pa.string(), 3, raw.buffers())  # string column with unchecked bytes
    pq.write_table(
        pa.table({"media_id": ["m1", "m2", "m3"], "lang": ["en"] * 3, "text": text}), tmp_path / "in.parquet"
    )
    code, err, manifest = _import(tmp_path, capsys, {}, "parquet", str(tmp_path / "in.parquet"))
    assert code == 0, err
    assert (
        manifest["counts"]["read"] == 3 and manifest["counts"]["kept"] == 2 and _reasons(tmp_path) == ["invalid_utf8"]
    )


# -- §6: NRCCR import labels MT files by their name; the same input twice is read once; TSV quoting ----------------


def _rows(tmp_path: Path, table: str) -> list[dict]:
    try:
        return read_table(tmp_path / "out", prefix=f"{table}-").to_pylist()
    except FileNotFoundError:
        return []


@pytest.mark.parametrize("with_bt", [False, True])
def test_nrccr_mt_file_reusing_source_ids(tmp_path: Path, capsys, with_bt: bool) -> None:
    files = {
        "ctrain_enc.caption.txt": b"1#enc#0 a dog\n2#enc#0 a cat\n",
        "ctrain_google_enc2de.caption.txt": b"1#enc#0 ein hund\n2#enc#0 eine katze\n3#enc#0 ohne quelle\n",
    }
    if with_bt:
        files["ctrain_google_enc2de2enc.caption.txt"] = b"1#enc#0 a dog bt\n2#enc#0 a cat bt\n"
    code, err, manifest = _import(tmp_path, capsys, files, "nrccr")
    assert code == 0, err
    captions, pairs = _rows(tmp_path, "captions"), _rows(tmp_path, "pairs")
    assert [(c["caption_id"], c["text"], c["origin"]) for c in captions] == [
        ("1#en#0", "a dog", "human"), ("2#en#0", "a cat", "human")]  # fmt: skip
    assert [(p["pair_id"], p["src_text"], p["tgt_text"], p["bt_text"]) for p in pairs] == [
        ("1#en#0>de", "a dog", "ein hund", "a dog bt" if with_bt else None),
        ("2#en#0>de", "a cat", "eine katze", "a cat bt" if with_bt else None),
    ]
    assert _reasons(tmp_path) == ["missing_source"]  # line 3 of the MT file: no enc line 3#enc#0
    assert manifest["counts"]["kept"] == 4 + 2 * with_bt


@pytest.mark.parametrize("fmt", ["jsonl", "nrccr"])
def test_the_same_input_twice_is_read_once(tmp_path: Path, capsys, fmt: str) -> None:
    name, data = ("in.jsonl", GOOD + GOOD.replace(b"m0", b"m1")) if fmt == "jsonl" else (
        "ctrain_enc.caption.txt", b"1#enc#0 a dog\n2#enc#0 a cat\n")  # fmt: skip
    (tmp_path / name).write_bytes(data)
    (tmp_path / "link").symlink_to(tmp_path / name)
    out = tmp_path / "out"
    extra = [tmp_path] if fmt == "nrccr" else []  # nrccr: the file again inside its directory
    code, err = _cli(["import", tmp_path / name, tmp_path / name, tmp_path / "link", *extra, "-f", fmt, "-o", out],
                     capsys)  # fmt: skip
    assert code == 0, err
    counts = json.loads((out / "_manifest.json").read_text())["counts"]
    assert (counts["read"], counts["kept"], counts["rejected"]) == (2, 2, {})
    assert "same file" in err


def test_tsv_honours_quoting(tmp_path: Path, capsys) -> None:
    tsv = (
        b"media_id\tlang\ttext\n"
        b'm1\ten\t"a dog\twith a tab"\n'  # 2 kept: a quoted field holds a tab
        b'"m2"\ten\t"he said ""hi"""\n'  # 3 kept: doubled quotes
        b'm3\ten\ta 5" screen\n'  # 4 kept: a quote inside an unquoted field is literal
        b'm4\ten\t"Look" he said\n'  # 5 malformed: bad quoting
        b'm5\ten\t"never closed\n'  # 6 malformed
    )
    code, _, manifest = _import(tmp_path, capsys, {"in.tsv": tsv}, "tsv")
    assert code == 0 and manifest["counts"]["read"] == 5
    assert [(r["media_id"], r["text"]) for r in _rows(tmp_path, "captions")] == [
        ("m1", "a dog\twith a tab"), ("m2", 'he said "hi"'), ("m3", 'a 5" screen')]  # fmt: skip
    assert _reasons(tmp_path) == ["malformed", "malformed"]


# -- §5: everything rejected (or an empty input) exits 6, from one rule (clcm.schemas.check_not_empty) -------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clcm.testing.tiny_seq2seq import build_tiny_marian

    words = "a man woman dog cat runs sits on the red green beach street with two children near".split()
    sentences = [" ".join(words[(i * k) % len(words)] for k in range(1, 8)) for i in range(60)]
    return build_tiny_marian(tmp_path_factory.mktemp("faults-data-model"), sentences)


def test_empty_input_file_exits_6(tmp_path: Path, capsys) -> None:
    from clcm.errors import EXIT_EMPTY

    code, err, manifest = _import(tmp_path, capsys, {"in.jsonl": b""}, "jsonl")
    assert code == EXIT_EMPTY and err.startswith("error: import: the input holds no records")
    assert manifest["counts"]["read"] == 0  # the manifest is still written


def test_translate_of_captions_in_another_language_exits_6(tmp_path: Path, capsys, tiny_model, monkeypatch) -> None:
    from clcm.errors import EXIT_EMPTY

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    code, _, _ = _import(tmp_path, capsys, {"in.jsonl": GOOD + GOOD.replace(b"m0", b"m1")}, "jsonl")
    assert code == 0
    args = ["translate", "-i", tmp_path / "out", "-o", tmp_path / "tr", "-l", "de", "--src-lang", "fr",
            "--model", tiny_model, "--backend", "hf", "--runner", "FnApiRunner"]  # fmt: skip
    code, err = _cli(args, capsys)
    assert code == EXIT_EMPTY, err
    assert "error: translate: all 2 records were rejected (2 not_source)" in err
    check_counts(json.loads((tmp_path / "tr" / "_manifest.json").read_text())["counts"])


def test_export_of_pairs_without_a_split_exits_6(tmp_path: Path, capsys) -> None:
    from clcm.errors import EXIT_EMPTY

    pair = b'{"media_id": "m1", "lang": "en", "text": "a dog", "tgt_lang": "de", "tgt_text": "ein hund"}\n'
    assert _import(tmp_path, capsys, {"in.jsonl": pair + pair.replace(b"m1", b"m2")}, "jsonl")[0] == 0
    code, err = _cli(["export", "-f", "nrccr", tmp_path / "out", "-o", tmp_path / "td"], capsys)
    assert code == EXIT_EMPTY and "error: export: all 2 records were rejected (2 no_split)" in err
    assert not list((tmp_path / "td").glob("*.caption.txt"))


def test_export_of_an_empty_input_is_not_an_error(tmp_path: Path, capsys) -> None:
    """What a filter that kept nothing hands on (its own warning said so): exit 0, an empty export."""
    from clcm.schemas import PAIR_SCHEMA, write_rows

    write_rows([], tmp_path / "kept" / "pairs-00000-of-00001.parquet", PAIR_SCHEMA)
    code, err = _cli(["export", "-f", "jsonl", tmp_path / "kept", "-o", tmp_path / "ex"], capsys)
    assert code == 0, err


@pytest.mark.parametrize("max_chars", [2, -1])
def test_run_stage_that_rejects_everything_is_not_stamped(tmp_path: Path, capsys, tiny_model, monkeypatch, max_chars):
    import yaml

    from clcm.errors import EXIT_EMPTY, EXIT_USAGE

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "caps.jsonl").write_bytes(GOOD + GOOD.replace(b"m0", b"m1"))
    config = {
        "run_dir": str(tmp_path / "run"), "beam_args": ["--runner", "FnApiRunner"],
        "import": {"format": "jsonl", "inputs": [str(tmp_path / "caps.jsonl")]},
        "translate": {"tgt_langs": ["de"], "model": str(tiny_model), "backend": "hf", "max_source_chars": max_chars},
    }  # fmt: skip
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    code, err = _cli(["run", tmp_path / "run.yaml"], capsys)
    # -1 may also be refused up front as out of range (exit 2); either way the stage is not complete
    assert code == EXIT_EMPTY or (max_chars < 0 and code == EXIT_USAGE), err
    if code == EXIT_EMPTY:
        assert "all 2 records were rejected (2 too_long)" in err
    assert not (tmp_path / "run" / "translate" / "_stage.json").exists()
