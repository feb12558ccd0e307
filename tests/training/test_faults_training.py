"""Training on bad input (issue 12 §1, §12): clear one-line errors before any training step."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clcm.cli import train as train_cli
from clcm.errors import EXIT_INPUT


def _train(toy_corpus, tiny_bert_dir, out: Path, capsys, *extra: str, features: Path | None = None) -> tuple[int, str]:
    args = [
        "--shards", str(toy_corpus["shards"]), "--features", str(features or toy_corpus["features"]),
        "--objective", "baseline", "--text-model", str(tiny_bert_dir), "--out-dir", str(out),
        "--batch-size", "16", "--no-progress", "--device", "cpu", "--epochs", "1", "--max-steps-per-epoch", "1",
        *extra,
    ]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        train_cli.main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return exc.value.code, err


@pytest.mark.parametrize("content", [b"", b"not a checkpoint\n", None])
def test_resume_from_a_non_checkpoint_exits_3(toy_corpus, tiny_bert_dir, tmp_path, capsys, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(os.urandom(2048) if content is None else content)
    code, err = _train(toy_corpus, tiny_bert_dir, tmp_path / "out", capsys, "--resume", str(bad))
    assert code == EXIT_INPUT
    last = err.rstrip("\n").splitlines()[-1]  # (transformers' weight-loading bar may come first)
    assert last.startswith(f"error: {bad} is not a clcm-train checkpoint") and err.count("error:") == 1
    assert not (tmp_path / "out" / "checkpoint_last.pt").exists()
