"""`clcm-data run` with the model stages: train and evaluate after filter, fingerprinted, with lineage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from run_support import captions, run_config, write_jsonl

from clcm.pipelines.run import run
from clcm.pipelines.run_config import load_run_config
from clcm.schemas.io import write_rows
from clcm.schemas.tables import CAPTION_SCHEMA
from clcm.testing.tiny_bert import build_tiny_bert

pytestmark = pytest.mark.timeout(300)
N_CAPTIONS = 30  # two per image: img0000 .. img0014


@pytest.fixture(scope="module")
def model_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tiny BERT, random features for every image and German validation queries for five of them."""
    root = tmp_path_factory.mktemp("model-inputs")
    texts = [r["text"] for r in captions(N_CAPTIONS)]
    bert = build_tiny_bert(root / "bert", texts, hidden=16, layers=1, heads=2, intermediate=32)
    ids = [f"img{i:04d}" for i in range(N_CAPTIONS // 2)]
    np.save(root / "feats.npy", np.random.default_rng(0).standard_normal((len(ids), 8)).astype(np.float32))
    (root / "feats.ids.txt").write_text("\n".join(ids) + "\n")
    rows = [
        {"caption_id": f"{m}#de#0", "media_id": m, "caption_index": 0, "split": "val", "dataset": "toy",
         "lang": "de", "text": f"ein hund {i}", "origin": "human"}
        for i, m in enumerate(ids[:5])
    ]  # fmt: skip
    write_rows(rows, root / "val.parquet", CAPTION_SCHEMA)
    return {"bert": str(bert), "features": str(root / "feats.npy"), "val": str(root / "val.parquet")}


def _stages(inputs: dict[str, str], threshold: float) -> dict:
    train = {
        "features": inputs["features"],
        "val": inputs["val"],
        "objective": "baseline",
        "objective_options": {"joint_dim": 8},
        "text_model": inputs["bert"],
        "epochs": 1,
        "batch_size": 8,
        "max_steps_per_epoch": 2,
        "device": "cpu",
        "log_every": 1,
    }
    return {
        "score": {"scorers": ["length_ratio", "copy", "repetition"], "combiner_pairs": 200},
        "filter": {"selection": {"threshold": threshold}, "plots": False},
        "train": train,
        "evaluate": {"queries": inputs["val"], "device": "cpu"},
        "export": None,
    }


def _actions(statuses) -> dict[str, str]:
    return {s.stage: s.action for s in statuses}


def test_train_and_evaluate_stages_skip_when_unchanged_and_rerun_after_a_new_threshold(
    tmp_path: Path, model: Path, model_inputs: dict[str, str]
) -> None:
    inp = write_jsonl(tmp_path / "caps.jsonl", captions(N_CAPTIONS))
    run_dir = tmp_path / "run"
    cfg = run_config(tmp_path / "run.yaml", [inp], model, run_dir=run_dir, **_stages(model_inputs, 0.99))
    first = run(load_run_config(cfg))
    assert [s.stage for s in first] == ["import", "translate", "score", "filter", "train", "evaluate"]
    assert set(_actions(first).values()) == {"ran"}

    trained = json.loads((run_dir / "train" / "_manifest.json").read_text())
    filtered = json.loads((run_dir / "filter" / "_manifest.json").read_text())["counts"]
    assert trained["counts"]["read"] == filtered["scored"] == N_CAPTIONS
    assert trained["counts"]["kept"] == filtered["kept"]  # the filter's kept pairs only; the dropped ones counted
    assert sum(trained["counts"]["rejected"].values()) == N_CAPTIONS - filtered["kept"]
    assert [link["stage"] for link in trained["extra"]["lineage"]] == ["filter", "score", "translate", "import"]
    assert (run_dir / "train" / trained["extra"]["checkpoint"]).is_file()
    metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text())
    assert metrics["n_queries"] == metrics["n_gallery"] == 5
    assert {"r1", "r5", "r10", "medr"} <= set(metrics["t2v"]) and metrics["sumr"] >= 0
    assert [link["stage"] for link in metrics["lineage"]] == ["train", "filter", "score", "translate", "import"]
    assert metrics["lineage"][-1]["counts"]["read"] == N_CAPTIONS  # back to the imported captions
    assert all(len(str(v)) < 10 for v in metrics["t2v"].values())  # rounded, not 0.33333333333333331

    second = run(load_run_config(cfg))
    assert set(_actions(second).values()) == {"skipped"}

    run_config(cfg, [inp], model, run_dir=run_dir, **_stages(model_inputs, 0.6))
    third = _actions(run(load_run_config(cfg)))
    assert third == {"import": "skipped", "translate": "skipped", "score": "skipped", "filter": "ran",
                     "train": "ran", "evaluate": "ran"}  # fmt: skip


def test_train_section_is_validated_before_anything_runs(tmp_path: Path, model_inputs: dict[str, str]) -> None:
    from clcm.errors import UsageError

    stages = _stages(model_inputs, 0.5)
    for edit, message in (
        ({"colour": 1}, "unknown key 'colour' in section 'train'"),
        ({"shards": "x"}, "unknown key 'shards' in section 'train'"),  # the runner sets the input
        ({"features": ""}, "`features` is required"),
        ({"objective": "nope"}, "unknown objective 'nope'"),
    ):
        cfg = run_config(tmp_path / "run.yaml", [tmp_path / "in.jsonl"], tmp_path / "m", run_dir=tmp_path / "run",
                         **{**stages, "train": {**stages["train"], **edit}})  # fmt: skip
        with pytest.raises(UsageError, match=message):
            run(load_run_config(cfg))
    cfg = run_config(tmp_path / "run.yaml", [tmp_path / "in.jsonl"], tmp_path / "m", run_dir=tmp_path / "run",
                     **{**stages, "train": None})  # fmt: skip
    with pytest.raises(UsageError, match="section 'evaluate' needs the 'train' section before it"):
        load_run_config(cfg)
    assert not (tmp_path / "run" / "import").exists()


def test_score_can_read_imported_pairs(tmp_path: Path) -> None:
    """Pairs imported as such (human or external translations) are scored without a translate stage."""
    rows = [
        {"media_id": f"m{i}", "src_lang": "en", "src_text": r["text"], "tgt_lang": "de", "tgt_text": f"ein satz {i}"}
        for i, r in enumerate(captions(12))
    ]
    inp = write_jsonl(tmp_path / "pairs.jsonl", rows)
    score = {"scorers": ["length_ratio", "copy"], "combiner_pairs": 200}
    cfg = run_config(tmp_path / "run.yaml", [inp], tmp_path / "m", run_dir=tmp_path / "run", translate=None,
                     score=score, export=None)  # fmt: skip
    statuses = run(load_run_config(cfg))
    assert [(s.stage, s.action) for s in statuses] == [("import", "ran"), ("score", "ran")]
    assert statuses[1].counts["scored"] == 12


def test_score_after_an_import_of_captions_says_what_is_missing(tmp_path: Path) -> None:
    from clcm.errors import UsageError

    inp = write_jsonl(tmp_path / "caps.jsonl", captions(4))
    cfg = run_config(tmp_path / "run.yaml", [inp], tmp_path / "m", run_dir=tmp_path / "run", translate=None,
                     score={"scorers": ["copy"]}, export=None)  # fmt: skip
    with pytest.raises(UsageError, match="nothing to score"):
        run(load_run_config(cfg))
