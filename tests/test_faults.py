"""Bad input and faults, through the real CLI (`clcm-data import` / `clcm-data run`).

Each case must end in a clear one-line error with its exit code (clcm/errors.py), or in reject rows with a reason,
and every manifest written must still add up (read == kept + rejected).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import yaml

from clcm.cli.common import run_app
from clcm.cli.data import app
from clcm.errors import EXIT_EMPTY, EXIT_INPUT, EXIT_MODEL, EXIT_OUTPUT, EXIT_USAGE
from clcm.schemas import check_counts, read_table

pytestmark = pytest.mark.timeout(180)


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run_app(app, [str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _line(i: int, text: str, **extra: str) -> bytes:
    return json.dumps({"media_id": f"m{i}", "lang": "en", "text": text, **extra}).encode() + b"\n"


def _import(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, fmt: str = "jsonl") -> tuple:
    src = tmp_path / f"in.{fmt}"
    src.write_bytes(data)
    out = tmp_path / "out"
    code, err = _cli(["import", src, "--format", fmt, "--out", out], capsys)
    manifest = json.loads((out / "_manifest.json").read_text()) if (out / "_manifest.json").exists() else None
    if manifest:
        check_counts(manifest["counts"])
    return code, err, manifest, out


def _reasons(out: Path) -> list[str]:
    return sorted(read_table(out, prefix="rejects-").column("reason").to_pylist())


@pytest.mark.parametrize(
    ("data", "reasons"),
    [
        (_line(1, "a dog runs") + b'{"media_id": "m2", "lang": "en", "text": "caf\xe9"}\n', ["invalid_utf8"]),
        (_line(1, "a dog runs") + _line(2, "a\x00b"), ["nul_byte"]),  # escaped NUL inside the text
        (_line(1, "a dog runs") + b'{"media_id": "m2", "lang": "en", "text": "a\x00b"}\n', ["malformed"]),  # raw NUL
        (_line(1, "a dog runs") + _line(2, "   ") + _line(3, ""), ["empty_text", "empty_text"]),
        (_line(1, "a dog runs") + _line(2, "hund", lang="xx"), ["unknown_lang"]),
        (
            _line(1, "a dog runs", caption_id="c1") + _line(1, "a cat sits", caption_id="c1"),
            ["duplicate_id"],
        ),
    ],
    ids=["invalid-utf8", "nul-escaped", "nul-raw", "empty-whitespace", "unknown-lang", "duplicate-id"],
)
def test_bad_records_become_rejects_with_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, reasons: list[str]
) -> None:
    code, _, manifest, out = _import(tmp_path, capsys, data)
    assert code == 0
    assert manifest["counts"]["kept"] == 1
    assert manifest["counts"]["read"] == 1 + len(reasons)
    assert _reasons(out) == reasons


def test_mixed_line_endings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = b"media_id\tlang\ttext\r\nm1\ten\ta dog runs\r\nm2\ten\ta cat sits\nm3\ten\ta cow\rm4\ten\ta pig\n"
    code, _, manifest, out = _import(tmp_path, capsys, data, fmt="tsv")
    assert code == 0
    texts = read_table(out, prefix="captions-").column("text").to_pylist()
    # CRLF, LF and a lone CR (classic Mac) all end a line, as in Python's text mode; no stray \r in any text
    assert texts == ["a dog runs", "a cat sits", "a cow", "a pig"]
    assert _reasons(out) == [] and manifest["counts"]["read"] == 4


def test_wrong_columns_reject_every_row_and_exit_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err, manifest, out = _import(tmp_path, capsys, b"media\tlanguage\tcaption\nm1\ten\ta dog\n", fmt="tsv")
    assert code == EXIT_EMPTY
    assert "all 1 records were rejected (1 missing_field" in err and "'media_id'" in err  # names the column
    assert _reasons(out) == ["missing_field"]


def test_truncated_gzip_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m30k = tmp_path / "m30k"
    m30k.mkdir()
    data = gzip.compress(b"".join(b"a dog number %d\n" % i for i in range(20000)))
    (m30k / "train.en.gz").write_bytes(data[: len(data) // 2])
    (m30k / "train.images.txt").write_text("".join(f"{i}.jpg\n" for i in range(20000)))
    code, err = _cli(["import", m30k, "--format", "multi30k", "--out", tmp_path / "out"], capsys)
    assert code == EXIT_INPUT
    assert "train.en.gz" in err and "end-of-stream" in err
    assert not list((tmp_path / "out").rglob("*.parquet")) if (tmp_path / "out").exists() else True


def test_unreadable_inputs_are_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dangling.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    (tmp_path / "dir.jsonl").mkdir()
    for name in ("dangling.jsonl", "dir.jsonl"):
        code, err = _cli(["import", tmp_path / name, "--format", "jsonl", "--out", tmp_path / "out"], capsys)
        assert code == EXIT_INPUT, name
        assert name in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_file_without_read_permission(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "secret.jsonl"
    src.write_bytes(_line(1, "a dog"))
    src.chmod(0)
    code, err = _cli(["import", src, "--format", "jsonl", "--out", tmp_path / "out"], capsys)
    assert code == EXIT_INPUT and "secret.jsonl" in err


def _run_config(tmp_path: Path, captions: bytes, translate: dict | None = None, run_dir: Path | None = None) -> Path:
    src = tmp_path / "caps.jsonl"
    src.write_bytes(captions)
    config = {
        "run_dir": str(run_dir or tmp_path / "run"),
        "beam_args": ["--runner", "FnApiRunner"],
        "import": {"format": "jsonl", "inputs": [str(src)]},
    }
    if translate is not None:
        config["translate"] = translate
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_output_path_not_writable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cfg = _run_config(tmp_path, _line(1, "a dog runs"), run_dir=blocker / "run")
    code, err = _cli(["run", cfg], capsys)
    assert code == EXIT_OUTPUT and "a-file" in err
    code, err = _cli(["import", tmp_path / "caps.jsonl", "--format", "jsonl", "--out", blocker / "out"], capsys)
    assert code == EXIT_OUTPUT and "a-file" in err


def test_input_that_filters_to_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _run_config(tmp_path, _line(1, " ") + _line(2, "a\x00b"), translate={"tgt_langs": ["de"]})
    code, err = _cli(["run", cfg], capsys)
    assert code == EXIT_EMPTY and "all 2 records were rejected" in err
    manifest = json.loads((tmp_path / "run/import/_manifest.json").read_text())
    check_counts(manifest["counts"])
    assert manifest["counts"]["rejected"] == {"empty_text": 1, "nul_byte": 1}
    assert not (tmp_path / "run/import/_stage.json").exists()  # not complete: the next run retries
    assert not (tmp_path / "run/translate").exists()


def test_unknown_target_language_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _run_config(tmp_path, _line(1, "a dog runs"), translate={"tgt_langs": ["xx"], "model": str(tmp_path)})
    code, err = _cli(["run", cfg], capsys)
    assert code == EXIT_USAGE and "'xx'" in err
    assert not (tmp_path / "run" / "import").exists()


@pytest.mark.parametrize("backend", ["ct2", "hf"])
def test_model_directory_that_does_not_load(tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    translate = {"tgt_langs": ["de"], "model": str(broken), "backend": backend}
    cfg = _run_config(tmp_path, _line(1, "a dog runs"), translate=translate)
    code, err = _cli(["run", cfg], capsys)
    assert code == EXIT_MODEL and "broken-model" in err
    assert (tmp_path / "run/import/_stage.json").exists()  # import finished and is kept for the retry
    assert not (tmp_path / "run/translate/_stage.json").exists()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clcm.testing.tiny_seq2seq import build_tiny_marian

    words = "a man woman dog cat runs sits on the red green beach street with two children near".split()
    sentences = [" ".join(words[(i * k) % len(words)] for k in range(1, 8)) for i in range(60)]
    return build_tiny_marian(tmp_path_factory.mktemp("faults-model"), sentences)


def test_100kb_caption_is_rejected_as_too_long(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    huge = "a dog runs on the beach " * 4300  # ~100 KB
    translate = {"tgt_langs": ["de"], "model": str(tiny_model), "settings": {"max_length": 8}}
    cfg = _run_config(tmp_path, _line(1, "a dog runs") + _line(2, huge), translate=translate)
    code, err = _cli(["run", cfg], capsys)
    assert code == 0, err
    manifest = json.loads((tmp_path / "run/translate/_manifest.json").read_text())
    check_counts(manifest["counts"])
    assert manifest["counts"]["kept"] == 1 and manifest["counts"]["rejected"] == {"too_long": 1}
    rejects = read_table(tmp_path / "run/translate", prefix="rejects-")
    assert rejects.column("reason").to_pylist() == ["too_long"]
    assert len(rejects.column("raw")[0].as_py()) < 2000  # the raw record is truncated in the reject row


def test_filter_that_keeps_nothing_is_a_warning_and_counts_add_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cfg = _run_config(
        tmp_path,
        _line(1, "a dog runs on the beach") + _line(2, "two children sit near the street"),
        translate={"tgt_langs": ["de"], "model": str(tiny_model), "settings": {"max_length": 8}},
    )
    config = yaml.safe_load(cfg.read_text())
    config["score"] = {"scorers": ["length_ratio", "copy"], "combiner_pairs": 50}
    config["filter"] = {"selection": {"threshold": -1.0}, "plots": False}  # every pair is "too noisy"
    config["export"] = {"format": "jsonl"}
    cfg.write_text(yaml.safe_dump(config))
    code, err = _cli(["run", cfg], capsys)
    assert code == 0, err
    manifest = json.loads((tmp_path / "run/filter/_manifest.json").read_text())
    check_counts(manifest["counts"])
    assert manifest["counts"]["scored"] == 2 and manifest["counts"]["kept"] == 0
    assert read_table(tmp_path / "run/filter", prefix="dropped-").num_rows == 2
    export = json.loads((tmp_path / "run/export/_manifest.json").read_text())
    assert export["counts"]["read"] == 0
