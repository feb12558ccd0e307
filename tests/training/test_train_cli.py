"""End-to-end `clcm-train` runs on CPU through the real entry point (tiny BERT, toy corpus)."""

from __future__ import annotations

import csv
import json

import pytest

from clcm.cli import train as train_cli


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        train_cli.main(args)
    return exc.value.code


def _base(toy_corpus, tiny_bert_dir, out, objective: str) -> list[str]:
    return [
        "--shards", str(toy_corpus["shards"]), "--features", str(toy_corpus["features"]),
        "--val", str(toy_corpus["val"]), "--objective", objective, "--text-model", str(tiny_bert_dir),
        "--out-dir", str(out), "--batch-size", "16", "--no-progress", "--device", "cpu",
        "--opt", "joint_dim=32",
    ]  # fmt: skip


@pytest.mark.parametrize("objective", ["baseline", "nrccr"])
def test_train_few_steps_and_evaluate(toy_corpus, tiny_bert_dir, tmp_path, objective, capsys):
    out = tmp_path / objective
    code = _run(_base(toy_corpus, tiny_bert_dir, out, objective) + ["--epochs", "2", "--max-steps-per-epoch", "3"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 6 and len(metrics["history"]) == 2
    assert metrics["data"] == {"read": 96, "kept": 96}
    assert {"model_best.pt", "checkpoint_last.pt", "epochs.csv", "steps.csv"} <= {p.name for p in out.iterdir()}
    steps = list(csv.DictReader((out / "steps.csv").open()))
    expected_terms = {
        "baseline": {"src_loss", "tgt_loss"},
        "nrccr": {"tri_loss", "tri_t_loss", "dtl_loss", "feat_loss", "bt_loss", "adv_loss", "disc"},
    }
    assert expected_terms[objective] <= set(steps[0])
    val = metrics["history"][-1]["val"]
    assert val["n_queries"] == 16 and val["n_gallery"] == 16
    assert set(val["views"]) == ({"tgt", "mt_en"} if objective == "nrccr" else {"tgt"})
    capsys.readouterr()
    ckpt, queries, feats = str(out / "model_best.pt"), str(toy_corpus["val"]), str(toy_corpus["features"])
    args = ["--checkpoint", ckpt, "--queries", queries, "--features", feats, "--device", "cpu"]
    code = _run(["evaluate", *args, "--out", str(out / "test.json")])
    assert code == 0
    result = json.loads((out / "test.json").read_text())
    assert 0 <= result["t2v"]["r1"] <= result["t2v"]["r10"] <= 100 and result["sumr"] > 0
    assert result["fusion_weight"] == 0.5  # the checkpoint's test_fusion_weight (NRCCR's image tester)
    if objective == "nrccr":  # one run reports every weight of the reference's video tester
        assert list(result["fusion_sweep"]) == ["1.0", "0.8", "0.5", "0.2", "0.0"]
        assert result["fusion_sweep"]["0.5"]["sumr"] == result["sumr"]
