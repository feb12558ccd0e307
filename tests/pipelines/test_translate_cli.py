from __future__ import annotations

import json
import re

import pytest

from clcm.cli.data import main
from clcm.schemas import CAPTION_SCHEMA, PAIR_SCHEMA, read_table, write_rows
from clcm.testing.tiny_seq2seq import build_test_models, sample_captions

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_test_models(tmp_path_factory.getbasetemp() / "tiny_seq2seq")


@pytest.fixture
def captions(tmp_path):
    rows = [
        dict(caption_id=f"m{i}#en#0", media_id=f"m{i}", caption_index=0, lang="en", text=t, origin="human")
        for i, t in enumerate(sample_captions(12))
    ]
    write_rows(rows, tmp_path / "captions.parquet", CAPTION_SCHEMA)
    return tmp_path / "captions.parquet"


def _main(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def test_translate_cli_end_to_end(models, captions, tmp_path, capsys):
    out = tmp_path / "pairs"
    argv = ["translate", "-i", str(captions), "-o", str(out), "-l", "cs,de", "--model", str(models["marian_ct2"])]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--max-length", "16", "--no-progress", "--runner", "FnApiRunner"]
    assert _main(argv) == 0
    line = capsys.readouterr().out
    assert "12 captions -> 24 pairs" in line and "cache hits 0/" in line
    unique = int(re.search(r"cache hits 0/(\d+) texts", line).group(1))
    assert unique >= 2 * 12 + 2  # MT: 12 texts per language; BT: at least one distinct MT output per language
    assert read_table(out, PAIR_SCHEMA, prefix="pairs").num_rows == 24
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["runner"] == "FnApiRunner" and manifest["config"]["settings"]["max_length"] == 16
    assert _main(argv) == 0  # a re-run is served from the cache
    assert f"cache hits {unique}/{unique} texts" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra,code,message",
    [
        (["--device", "cuda"], 5, "no CUDA device"),
        (["--backend", "hf", "--model", "/no/such/model"], 5, "directory not found: /no/such/model"),
        (["--lang", "xx"], 2, "unknown language code"),
        (["--backend", "tpu"], 2, "unknown backend"),
    ],
)
def test_translate_cli_errors_are_one_line(models, captions, tmp_path, capsys, extra, code, message):
    import torch

    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    argv = ["translate", "-i", str(captions), "-o", str(tmp_path / "o"), "-l", "cs", "--model", str(models["marian"])]
    assert _main([*argv, "--backend", "hf", *extra]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_input_is_exit_3(tmp_path, capsys):
    assert _main(["translate", "-i", str(tmp_path / "nope"), "-o", str(tmp_path / "o"), "-l", "cs"]) == 3
    assert "no caption Parquet" in capsys.readouterr().err


def test_convert_model_cli(models, tmp_path):
    assert (
        _main(["convert-model", str(models["marian"]), "--out", str(tmp_path / "ct2"), "--quantization", "int8"]) == 0
    )
    assert (tmp_path / "ct2" / "model.bin").is_file()
