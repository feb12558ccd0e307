"""`clcm-train --objective cl2cm|nrf`: a few steps of every stage through the real entry point, then `evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clcm.cli.train import main
from clcm.schemas.io import table_from_rows, write_table
from clcm.schemas.tables import scored_pair_schema
from clcm.testing.tiny_bert import build_tiny_bert

EN = ["a dog runs on the grass", "two men play football", "a woman reads a book", "a child eats an apple"]
CS = ["pes běží po trávě", "dva muži hrají fotbal", "žena čte knihu", "dítě jí jablko"]


def _pairs(path: Path, n: int, split: str, origin: str) -> None:
    schema = scored_pair_schema(["lexical"])
    rows = [
        {
            "pair_id": f"img{i}#en#0:cs",
            "caption_id": f"img{i}#en#0",
            "media_id": f"img{i}",
            "caption_index": 0,
            "split": split,
            "src_lang": "en",
            "src_text": EN[i % 4],
            "tgt_lang": "cs",
            "tgt_text": CS[i % 4],
            "tgt_origin": origin,
            "score_lexical": float(-i),
            "nrf_selected": i % 3 != 0,  # a mix of selected and unselected rows
        }
        for i in range(n)
    ]
    write_table(table_from_rows(rows, schema), path, schema)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    build_tiny_bert(root / "bert", EN + CS, hidden=16, layers=1, heads=2, intermediate=32)
    _pairs(root / "train.parquet", 12, "train", "mt")
    _pairs(root / "val.parquet", 8, "val", "human")
    np.save(root / "feats.npy", np.random.default_rng(0).standard_normal((12, 6)).astype(np.float32))
    (root / "feats.ids.txt").write_text("".join(f"img{i}\n" for i in range(12)), encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("objective", "stage_opt", "stages"),
    [("cl2cm", "teacher_epochs=1", ["teacher", "student"]), ("nrf", "warmup_epochs=1", ["warmup", "finetune"])],
)
def test_train_and_evaluate_through_the_cli(
    workdir: Path, objective: str, stage_opt: str, stages: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = workdir / objective
    args = ["--shards", str(workdir / "train.parquet"), "--features", str(workdir / "feats.npy")]
    args += ["--val", str(workdir / "val.parquet"), "--objective", objective, "--out-dir", str(out)]
    args += ["--text-model", str(workdir / "bert"), "--epochs", "1", "--batch-size", "4", "--device", "cpu"]
    args += ["--max-steps-per-epoch", "2", "--no-progress", "--opt", stage_opt, "--opt", "joint_dim=8"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["steps"] == 4 and result["best_val"]["n_queries"] == 8
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["stage"] for h in history] == stages
    assert history[0]["t2v_rsum"] is None and history[1]["t2v_rsum"] is not None  # no retrieval val in stage 1
    assert all(np.isfinite(h["mean_loss"]) for h in history)
    ev = ["evaluate", "--checkpoint", str(out / "model_best.pt"), "--queries", str(workdir / "val.parquet")]
    with pytest.raises(SystemExit) as exit_info:
        main([*ev, "--features", str(workdir / "feats.npy"), "--device", "cpu"])
    assert exit_info.value.code == 0, capsys.readouterr().err
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["views"] == {"tgt": 1.0} and 0 <= metrics["sumr"] <= 600


def test_unknown_objective_option_is_a_one_line_error(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--shards", str(workdir / "train.parquet"), "--features", str(workdir / "feats.npy")]
    args += ["--objective", "cl2cm", "--out-dir", str(workdir / "bad"), "--text-model", str(workdir / "bert")]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--device", "cpu", "--opt", "kt_wieght=2"])
    err = capsys.readouterr().err
    assert exit_info.value.code != 0 and "kt_wieght" in err and "Traceback" not in err
