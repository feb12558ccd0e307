"""Resume continues exactly; training lowers the loss and beats chance on a learnable toy problem."""

from __future__ import annotations

import csv

import pytest

from clcm.cli import train as train_cli


def _run(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        train_cli.main(args)
    assert exc.value.code == 0


def _args(toy_corpus, tiny_bert_dir, out, objective: str, epochs: int, steps: int) -> list[str]:
    return [
        "--shards", str(toy_corpus["shards"]), "--features", str(toy_corpus["features"]),
        "--val", str(toy_corpus["val"]), "--objective", objective, "--text-model", str(tiny_bert_dir),
        "--out-dir", str(out), "--batch-size", "16", "--no-progress", "--device", "cpu", "--opt", "joint_dim=32",
        "--epochs", str(epochs), "--max-steps-per-epoch", str(steps), "--set", "log_every=1",
    ]  # fmt: skip


def _steps(out) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "steps.csv").open()))


@pytest.mark.parametrize("objective", ["nrccr"])
def test_resume_reproduces_the_uninterrupted_run(toy_corpus, tiny_bert_dir, tmp_path, objective):
    full, part = tmp_path / "full", tmp_path / "part"
    _run(_args(toy_corpus, tiny_bert_dir, full, objective, epochs=3, steps=2))
    _run(_args(toy_corpus, tiny_bert_dir, part, objective, epochs=2, steps=2))
    _run(_args(toy_corpus, tiny_bert_dir, part, objective, epochs=3, steps=2) + ["--resume", "last"])
    a, b = _steps(full), _steps(part)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [str(i) for i in range(1, 7)]
    for ra, rb in zip(a[4:], b[4:], strict=True):  # the steps of the resumed third epoch
        assert float(ra["loss"]) == pytest.approx(float(rb["loss"]), rel=1e-6, abs=1e-7)
        assert float(ra["lr"]) == pytest.approx(float(rb["lr"]), rel=1e-12)
    # and without resuming, a fresh third epoch would differ (the check above can fail)
    assert float(a[4]["loss"]) != pytest.approx(float(a[0]["loss"]), rel=1e-6)


def test_baseline_learns_the_toy_problem(toy_corpus, tiny_bert_dir, tmp_path):
    out = tmp_path / "learn"
    _run(
        _args(toy_corpus, tiny_bert_dir, out, "baseline", epochs=8, steps=6)
        + ["--lr", "2e-3", "--opt", "loss=infonce", "--set", "trainable_top_layers=2"]
    )
    rows = _steps(out)
    first = sum(float(r["loss"]) for r in rows[:6]) / 6
    last = sum(float(r["loss"]) for r in rows[-6:]) / 6
    assert last < 0.7 * first
    epochs = list(csv.DictReader((out / "epochs.csv").open()))
    # 16 val images: chance t2v R@1+R@5+R@10 is about 6.25 + 31.25 + 62.5 = 100
    assert max(float(e["t2v_rsum"]) for e in epochs) > 130
