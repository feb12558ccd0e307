"""Optimizer, schedule and data settings each objective declares (methods.md §2-3), overridable in the config;
CL2CM's and NRF's spec options; the trainer's epoch loop and evaluation step used on their own."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from training_toy import text_batch

from clcm.errors import InputError, UsageError
from clcm.training.config import TrainConfig, resolve_defaults
from clcm.training.objectives import objective_class
from clcm.training.objectives.base import BuildContext, Stage
from clcm.training.objectives.cl2cm import CL2CMObjective
from clcm.training.objectives.nrf import NRFObjective
from clcm.training.schedule import Schedule
from clcm.training.trainer import Trainer

pytestmark = pytest.mark.timeout(120)


def _resolved(objective: str, frames: bool = False, **values) -> TrainConfig:
    cfg = TrainConfig(objective=objective, **values)
    return resolve_defaults(cfg, objective_class(objective).train_defaults, frames=frames)


def test_cl2cm_declares_the_spec_optimizer_schedule_epochs_and_tokens():
    cfg = _resolved("cl2cm")
    assert (cfg.optimizer, cfg.weight_decay, cfg.lr_schedule, cfg.warmup_ratio) == (
        "adamw",
        0.01,
        "linear_warmup",
        0.1,
    )
    assert (cfg.epochs, cfg.max_tokens) == (30, 64)
    nrccr = _resolved("nrccr")
    assert (nrccr.optimizer, nrccr.weight_decay, nrccr.lr_schedule, nrccr.epochs, nrccr.max_tokens) == (
        "adam", 0.0, "nrccr", 50, 250,
    )  # fmt: skip
    overridden = _resolved("cl2cm", optimizer="adam", lr_schedule="nrccr", epochs=3, max_tokens=32)
    assert (overridden.optimizer, overridden.lr_schedule, overridden.epochs, overridden.max_tokens) == (
        "adam", "nrccr", 3, 32,
    )  # fmt: skip
    with pytest.raises(UsageError, match="optimizer must be one of"):
        _resolved("cl2cm", optimizer="sgd")


def test_linear_warmup_schedule():
    s = Schedule(1e-3, policy="linear_warmup", total_steps=10, warmup_steps=2)
    lrs = [s.next_step_lr() for _ in range(10)]
    expected = [5e-4, 1e-3] + [1e-3 * (10 - k + 1) / 9 for k in range(3, 11)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert s.end_epoch(None) == (True, False) and s.lr == 1e-3  # no per-epoch decay under this policy
    assert Schedule(1e-3).next_step_lr() == 1e-3


def _cl2cm(model_dir: Path, **options) -> CL2CMObjective:
    torch.manual_seed(0)
    return CL2CMObjective(BuildContext(str(model_dir), visual_dim=6, options={"joint_dim": 8, **options}))


def test_cl2cm_image_features_go_straight_into_the_projection(tiny_bert):
    obj = _cl2cm(tiny_bert)
    assert obj.visual is None and obj.visual_proj.in_features == 6
    x = torch.randn(3, 6)
    expected = torch.nn.functional.normalize(obj.visual_proj(x), dim=1)
    torch.testing.assert_close(obj.encode_visual(x, None), expected)
    hidden = _cl2cm(tiny_bert, visual_hidden=12)  # the old Linear + ReLU stays available as an option
    assert hidden.visual.linear.out_features == 12 and hidden.visual.relu and hidden.visual_proj.in_features == 12


def test_cl2cm_sinkhorn_divergence_option(tiny_bert):
    batch = text_batch(tiny_bert)
    plain = _cl2cm(tiny_bert).eval()(batch, Stage("teacher"))
    div = _cl2cm(tiny_bert, word_loss="sinkhorn_divergence").eval()(batch, Stage("teacher"))
    assert plain["cl_sent_loss"] == div["cl_sent_loss"] and plain["cl_word_loss"] != div["cl_word_loss"]
    with pytest.raises(UsageError, match="word_loss"):
        _cl2cm(tiny_bert, word_loss="emd")


def _nrf(model_dir: Path, **options) -> NRFObjective:
    torch.manual_seed(0)
    opts = {"joint_dim": 8, "visual_hidden": 12, "heads": 2, "qk_dim": 8, **options}
    return NRFObjective(BuildContext(str(model_dir), visual_dim=6, options=opts))


def test_nrf_spec_defaults(tiny_bert):
    assert not _nrf(tiny_bert).visual.relu and _nrf(tiny_bert, visual_relu=True).visual.relu
    cfg = _resolved("nrf")
    assert cfg.keep_column is None and cfg.fusion_weight == 0.5  # all pairs to L_con; spec's w = 0.5
    assert _resolved("nrf", keep_column="keep").keep_column == "keep"
    assert _resolved("nrccr").keep_column == "keep" and _resolved("nrccr").fusion_weight == 0.2


def test_nrf_threshold_selection_rule(tiny_bert):
    obj = _nrf(tiny_bert, selection="threshold")
    assert obj.data_columns() == ("score_embedding", "score_bt_chrf")
    cols = {
        "score_embedding": torch.tensor([0.9, 0.85, 0.7, float("nan")], dtype=torch.float64),
        "score_bt_chrf": torch.tensor([0.6, 0.4, 0.9, 0.9], dtype=torch.float64),
    }
    assert obj._selected({"columns": cols}, 4, torch.device("cpu")).tolist() == [True, False, False, False]
    assert _nrf(tiny_bert).data_columns() == ()
    with pytest.raises(UsageError, match="selection"):
        _nrf(tiny_bert, selection="top")


def _cfg(toy_corpus, tiny_bert_dir, out, objective, **values) -> TrainConfig:
    base = dict(
        shards=str(toy_corpus["shards"]), features=str(toy_corpus["features"]), val=str(toy_corpus["val"]),
        objective=objective, text_model=str(tiny_bert_dir), out_dir=str(out), batch_size=16, device="cpu",
        progress=False, log_every=1,
    )  # fmt: skip
    return TrainConfig(**(base | values))


def test_nrf_threshold_rule_needs_its_score_columns(toy_corpus, tiny_bert_dir, tmp_path):
    opts = {"joint_dim": 16, "heads": 2, "qk_dim": 16, "selection": "threshold"}
    with pytest.raises(InputError, match="score_embedding"):
        Trainer(_cfg(toy_corpus, tiny_bert_dir, tmp_path, "nrf", objective_options=opts))


def test_cl2cm_run_uses_adamw_warmup_and_64_tokens(toy_corpus, tiny_bert_dir, tmp_path):
    opts = {"joint_dim": 16, "teacher_epochs": 1}
    trainer = Trainer(_cfg(toy_corpus, tiny_bert_dir, tmp_path, "cl2cm", epochs=1, objective_options=opts))
    assert trainer.tokenize.max_tokens == 64
    optimizer = trainer.make_optimizer(Stage("teacher"))
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["weight_decay"] == 0.01
    trainer.run()
    rows = [r for r in csv.DictReader((tmp_path / "steps.csv").open()) if r["stage"] == "teacher"]
    n = len(rows)  # 96 pairs / 16 = 6 steps, 1 of them warm-up (ceil(10%)): lr 1e-4, then linear to 1e-4 / 6
    assert n == 6 and [float(r["lr"]) for r in rows] == pytest.approx([1e-4 * (n - k + 1) / n for k in range(1, 7)])


def test_epoch_loop_and_evaluation_step_run_on_their_own(toy_corpus, tiny_bert_dir, tmp_path):
    opts = {"joint_dim": 16}
    trainer = Trainer(
        _cfg(toy_corpus, tiny_bert_dir, tmp_path, "baseline", max_steps_per_epoch=2, objective_options=opts)
    )
    stage = trainer.objective.stages()[0]
    optimizer, schedule = trainer.make_optimizer(stage), trainer.make_schedule(1, 2)
    sums, done = trainer.train_one_epoch(stage, 0, 1, optimizer, schedule, key=0)
    assert done == 2 and trainer.step == 2 and set(sums) >= {"loss", "src_loss", "tgt_loss"}
    metrics = trainer.evaluate_epoch(stage)
    assert metrics["n_queries"] == 16 and 0 <= metrics["t2v"]["r1"] <= 100
    entry, stop = trainer.end_epoch(0, stage, 0, optimizer, schedule, sums, done, metrics)
    assert entry["is_best"] and not stop and (tmp_path / "model_best.pt").exists()
