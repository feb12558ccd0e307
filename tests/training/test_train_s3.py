"""`clcm-train` with shards, features, validation queries and the output directory on S3 (a moto server on
loopback, tests/s3_support.py): the same metrics as a local run with the same seed; checkpoints, logs and
TensorBoard events land in the bucket; evaluate and resume read them from there."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from test_train_cli import _base, _run

from clcm import storage

pytestmark = pytest.mark.timeout(300)  # ~3 s with the moto server running

STEPS = ["--epochs", "2", "--max-steps-per-epoch", "2", "--seed", "3", "--set", "log_every=1"]


def _upload_corpus(toy_corpus, url: str) -> dict[str, str]:
    root = toy_corpus["root"]
    for f in sorted(root.rglob("*")):
        if f.is_file():
            storage.write_bytes(storage.join(url, f.relative_to(root).as_posix()), f.read_bytes())
    return {"shards": f"{url}/shards", "val": f"{url}/val.parquet", "features": f"{url}/feats.npy", "root": url}


def _without_times(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in ("step_time_s",)}


def test_training_on_s3_equals_a_local_run(s3, toy_corpus, tiny_bert_dir, tmp_path, capsys) -> None:
    bucket = s3()
    remote = _upload_corpus(toy_corpus, f"{bucket}/corpus")
    local_out, remote_out = tmp_path / "local", f"{bucket}/runs/baseline"
    assert _run(_base(toy_corpus, tiny_bert_dir, local_out, "baseline") + STEPS) == 0
    assert _run(_base(remote, tiny_bert_dir, remote_out, "baseline") + STEPS) == 0, capsys.readouterr().err

    local = json.loads((local_out / "metrics.json").read_text())
    on_s3 = json.loads(storage.read_text(f"{remote_out}/metrics.json"))
    assert on_s3["steps"] == 4 and _without_times(on_s3) == _without_times(local)
    names = {storage.relpath(p, remote_out) for p in storage.list_tree(remote_out)}
    assert {"checkpoint_last.pt", "model_best.pt", "epochs.csv", "steps.csv", "metrics.json"} <= names
    assert any(n.startswith("tensorboard/events.out.tfevents.") for n in names)
    steps = list(csv.DictReader(io.StringIO(storage.read_text(f"{remote_out}/steps.csv"))))
    local_steps = list(csv.DictReader((local_out / "steps.csv").open()))
    assert [r["loss"] for r in steps] == [r["loss"] for r in local_steps] and len(steps) == 4

    capsys.readouterr()  # evaluate an S3 checkpoint on S3 queries and features, the metrics JSON written to S3
    args = ["--checkpoint", f"{remote_out}/model_best.pt", "--queries", remote["val"], "--features"]
    assert _run(["evaluate", *args, remote["features"], "--device", "cpu", "--out", f"{bucket}/eval.json"]) == 0
    result = json.loads(storage.read_text(f"{bucket}/eval.json"))
    best = local["best"]["val"]
    assert np.isclose(result["sumr"], best["sumr"]) and result["n_queries"] == 16

    # resume from the S3 out_dir's last checkpoint: one more epoch, its logs appended to the uploaded ones
    more = ["--epochs", "3", "--max-steps-per-epoch", "2", "--seed", "3", "--set", "log_every=1", "--resume", "last"]
    assert _run(_base(remote, tiny_bert_dir, remote_out, "baseline") + more) == 0
    epochs = list(csv.DictReader(io.StringIO(storage.read_text(f"{remote_out}/epochs.csv"))))
    assert [r["epoch"] for r in epochs] == ["1", "2", "3"]
    assert json.loads(storage.read_text(f"{remote_out}/metrics.json"))["steps"] == 6


def test_run_logs_of_a_url_make_a_local_directory_only_when_written(s3, tmp_path, monkeypatch) -> None:
    """Ranks other than 0 never log: their RunLogs must leave no temporary directory behind."""
    import tempfile

    from clcm.training.run_logs import RunLogs

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    bucket = s3()
    idle = RunLogs(f"{bucket}/idle")
    idle.publish()
    idle.close()
    assert list(tmp_path.iterdir()) == [] and storage.list_tree(f"{bucket}/idle") == []
    used = RunLogs(f"{bucket}/used")
    with open(used.path("steps.csv"), "w") as fh:
        fh.write("step\n1\n")
    assert len(list(tmp_path.iterdir())) == 1
    used.close()  # uploads, then removes the local copy
    assert list(tmp_path.iterdir()) == [] and storage.read_text(f"{bucket}/used/steps.csv") == "step\n1\n"
