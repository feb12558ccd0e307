"""DDP under torchrun on CPU (gloo): two ranks train and agree; slow (process start-up), so excluded by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_torchrun_two_ranks(toy_corpus, tiny_bert_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "clcm.cli.train", "--shards", str(toy_corpus["shards"]), "--features", str(toy_corpus["features"]),
           "--val", str(toy_corpus["val"]), "--objective", "nrccr", "--text-model", str(tiny_bert_dir),
           "--out-dir", str(out), "--batch-size", "8", "--epochs", "2", "--max-steps-per-epoch", "3",
           "--device", "cpu", "--no-progress", "--opt", "joint_dim=32"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=580)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 6 and len(metrics["history"]) == 2 and metrics["history"][-1]["val"]["n_queries"] == 16
