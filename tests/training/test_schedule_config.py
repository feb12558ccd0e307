"""NRCCR's lr schedule / early stopping, config loading, the objective registry and CLI error paths."""

from __future__ import annotations

import pytest
import torch

from clcm.cli import train as train_cli
from clcm.errors import UsageError
from clcm.training.config import load_config
from clcm.training.objectives import OBJECTIVES, objective_class
from clcm.training.schedule import Schedule


def test_schedule_matches_the_reference_rule():
    s = Schedule(1e-4)
    flags = []
    for metric in [1, 2, 2, 2, 2, 3, 1, 1, 1]:
        flags.append(s.end_epoch(metric))
    assert [f[0] for f in flags] == [True, True, False, False, False, True, False, False, False]
    # epochs 1-2 improve; epoch 3 does not but lr_counter (3) > 2 -> halve, counter resets; epochs 4, 5 do not
    # halve (counter 1, 2); epoch 6 improves; epoch 7, 8: counter 2, 3 -> halve at epoch 8 (counter was 3 > 2)
    assert s.halvings == 2
    assert s.lr == pytest.approx(1e-4 * 0.99**9 * 0.5**2, rel=1e-12)


def test_early_stopping_after_eleven_bad_epochs():
    s = Schedule(1e-4)
    s.end_epoch(5.0)
    stops = [s.end_epoch(1.0)[1] for _ in range(11)]
    assert stops == [False] * 10 + [True]


def test_config_yaml_flags_and_unknown_keys(tmp_path):
    (tmp_path / "c.yaml").write_text("epochs: 3\nlr: 0.001\nobjective: baseline\n")
    cfg = load_config(tmp_path / "c.yaml", {"epochs": 5, "lr": None})
    assert (cfg.epochs, cfg.lr, cfg.objective) == (5, 0.001, "baseline")
    (tmp_path / "bad.yaml").write_text("epoch: 3\n")
    with pytest.raises(UsageError, match="unknown key 'epoch' in section 'train config'; did you mean 'epochs'"):
        load_config(tmp_path / "bad.yaml")


def test_registry_is_lazy_and_clear():
    assert set(OBJECTIVES) == {"baseline", "nrccr", "cl2cm", "nrf"}
    assert objective_class("nrccr").name == "nrccr"
    with pytest.raises(UsageError, match="unknown objective"):
        objective_class("nope")


def _code(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        train_cli.main(args)
    return exc.value.code


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_without_cuda_is_a_model_error(toy_corpus, tiny_bert_dir, tmp_path, capsys):
    args = ["--shards", str(toy_corpus["shards"]), "--features", str(toy_corpus["features"]), "--device", "cuda",
            "--text-model", str(tiny_bert_dir), "--out-dir", str(tmp_path)]  # fmt: skip
    assert _code(args) == 5
    assert "CUDA is not available" in capsys.readouterr().err


def test_cli_user_errors_are_one_line(toy_corpus, tiny_bert_dir, tmp_path, capsys):
    base = ["--shards", str(toy_corpus["shards"]), "--text-model", str(tiny_bert_dir), "--out-dir", str(tmp_path),
            "--device", "cpu", "--no-progress"]  # fmt: skip
    assert _code([*base, "--features", str(tmp_path / "none.npy")]) == 3
    assert _code(["-v", *base, "--features", str(tmp_path / "none.npy")]) == 3
    assert _code([*base, "--features", str(toy_corpus["features"]), "--objective", "nope"]) == 2
    assert _code([*base, "--features", str(toy_corpus["features"]), "--set", "bogus=1"]) == 2
    assert _code([*base, "--features", str(toy_corpus["features"]), "--opt", "bogus=1", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 5


def test_explicit_set_null_overrides_a_default():
    from clcm.training.config import load_config

    assert load_config(None, {"keep_column": None}).keep_column == "auto"  # an absent flag changes nothing
    assert load_config(None, {}, explicit={"keep_column": None}).keep_column is None
