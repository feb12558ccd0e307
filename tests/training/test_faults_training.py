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


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_features_are_named_before_training(toy_corpus, tiny_bert_dir, tmp_path, capsys, bad):
    import numpy as np

    feats = np.load(toy_corpus["features"])
    feats[3, 5] = bad  # media tr3
    feats[40, 0] = bad  # media tr40
    path = tmp_path / "feats.npy"
    np.save(path, feats)
    (tmp_path / "feats.ids.txt").write_text(toy_corpus["features"].with_suffix(".ids.txt").read_text())
    code, err = _train(toy_corpus, tiny_bert_dir, tmp_path / "out", capsys, features=path)
    assert code == EXIT_INPUT
    assert "2 media id(s) of the training pairs" in err and "NaN or infinite" in err
    assert "tr3 (row 3)" in err and "tr40 (row 40)" in err
    assert not (tmp_path / "out" / "steps.csv").exists()  # no training step ran


def test_training_shards_without_rows(toy_corpus, tiny_bert_dir, tmp_path, capsys):
    from clcm.schemas.io import write_rows
    from clcm.schemas.tables import PAIR_SCHEMA

    empty = tmp_path / "empty"
    write_rows([], empty / "pairs-00000-of-00001.parquet", PAIR_SCHEMA)
    code, err = _train({**toy_corpus, "shards": empty}, tiny_bert_dir, tmp_path / "out", capsys)
    assert code == EXIT_INPUT and f"error: {empty}: the shards hold no rows" in err
