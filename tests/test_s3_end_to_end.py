"""Issue 15: every stage on an object store. import -> translate -> score -> filter -> export -> a few training steps,
run through the real CLIs with every data path an ``s3://`` URL (a moto S3 server on loopback, tests/s3_support.py;
Beam's S3 filesystem and :mod:`clcm.storage` reach it through ``AWS_ENDPOINT_URL``), equal to the same run on local
paths: every output file byte for byte (manifests aside: they name their paths and times), the training metrics
exactly (same seed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clcm import storage
from clcm.cli import train as train_cli
from clcm.cli.common import run_app
from clcm.cli.data import app as data_app
from clcm.schemas import read_manifest, write_rows
from clcm.schemas.tables import CAPTION_SCHEMA

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

N_IMAGES = 20
SUBJECTS = ("a man", "a woman", "two children", "a dog", "a girl")
PLACES = ("on the beach", "near a red car", "in the park", "on a wooden bench")


def _captions() -> list[dict]:
    return [
        {"media_id": f"img{i // 2:03d}", "lang": "en", "split": "train",
         "text": f"{SUBJECTS[i % 5].capitalize()} is sitting {PLACES[(i // 5) % 4]} ({i})."}
        for i in range(2 * N_IMAGES)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Local originals: captions JSONL, a tiny Marian model, a tiny BERT, features and German validation queries."""
    from clcm.testing.tiny_bert import build_tiny_bert
    from clcm.testing.tiny_seq2seq import build_tiny_marian

    root = tmp_path_factory.mktemp("e2e-inputs")
    data = root / "data"
    data.mkdir()
    caps = _captions()
    (data / "captions.jsonl").write_text("".join(json.dumps(c) + "\n" for c in caps), encoding="utf-8")
    build_tiny_marian(root / "marian", [c["text"] for c in caps])
    build_tiny_bert(root / "bert", [c["text"] for c in caps], hidden=16, layers=1, heads=2, intermediate=32)
    ids = [f"img{i:03d}" for i in range(N_IMAGES)]
    np.save(data / "feats.npy", np.random.default_rng(0).standard_normal((N_IMAGES, 8)).astype(np.float32))
    (data / "feats.ids.txt").write_text("\n".join(ids) + "\n")
    val = [
        {"caption_id": f"{m}#de#0", "media_id": m, "caption_index": 0, "split": "val", "dataset": "toy",
         "lang": "de", "text": f"ein hund {i}", "origin": "human"}
        for i, m in enumerate(ids[:6])
    ]  # fmt: skip
    write_rows(val, data / "val.parquet", CAPTION_SCHEMA)
    return root


def _data(*argv: str) -> None:
    assert run_app(data_app, list(argv)) == 0, argv


def _pipeline(data: str, root: str, models: Path) -> dict:
    """The user's commands, each stage reading the one before; ``data`` and ``root`` local paths or URLs."""
    d = {s: storage.join(root, s) for s in ("import", "translate", "score", "filter", "export", "train")}
    _data("import", "-f", "jsonl", storage.join(data, "captions.jsonl"), "-o", d["import"], "--dataset", "toy")
    _data("translate", "-i", d["import"], "-o", d["translate"], "-l", "de", "--model", str(models / "marian"),
          "--backend", "ct2", "--compute-type", "float32", "--max-length", "12",
          "--cache-dir", storage.join(root, "cache"), "--no-progress", "--round-rows", "16")  # fmt: skip
    _data("score", "-i", d["translate"], "-o", d["score"], "--combiner-pairs", "40", "--batch-size", "16",
          "--round-rows", "16")  # fmt: skip
    _data("filter", "-i", d["score"], "-o", d["filter"], "--keep-fraction", "0.8", "--no-default-rules",
          "--no-threshold")  # fmt: skip
    _data("export", "-f", "jsonl", d["filter"], "-o", d["export"])
    train = [
        "--shards", d["filter"], "--features", storage.join(data, "feats.npy"),
        "--val", storage.join(data, "val.parquet"), "--objective", "baseline", "--text-model", str(models / "bert"),
        "--out-dir", d["train"], "--batch-size", "8", "--epochs", "2", "--max-steps-per-epoch", "2",
        "--device", "cpu", "--no-progress", "--opt", "joint_dim=8", "--seed", "5",
    ]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        train_cli.main(train)
    assert exc.value.code == 0
    return d


def _outputs(stage_dir: str) -> dict[str, bytes]:
    """A stage directory's files, but its manifest and reject rows (they name the input paths)."""
    files = {storage.relpath(f, stage_dir): f for f in storage.list_tree(stage_dir)}
    return {k: storage.read_bytes(f) for k, f in files.items() if k != "_manifest.json" and "rejects" not in k}


def _metrics(train_dir: str) -> dict:
    metrics = json.loads(storage.read_text(storage.join(train_dir, "metrics.json")))
    return {k: v for k, v in metrics.items() if k != "step_time_s"}  # wall time per step


def test_every_stage_on_s3_equals_a_local_run(s3, inputs: Path, tmp_path: Path) -> None:
    bucket = s3()
    for f in sorted((inputs / "data").iterdir()):
        storage.write_bytes(f"{bucket}/data/{f.name}", f.read_bytes())

    local = _pipeline(str(inputs / "data"), str(tmp_path / "local"), inputs)
    remote = _pipeline(f"{bucket}/data", f"{bucket}/run", inputs)

    for stage in ("import", "translate", "score", "filter", "export"):
        lo, re = _outputs(local[stage]), _outputs(remote[stage])
        assert lo and sorted(re) == sorted(lo), stage
        assert [k for k in lo if lo[k] != re[k]] == [], stage
        m_lo, m_re = read_manifest(local[stage]), read_manifest(remote[stage])
        assert m_re.counts == m_lo.counts and [s["sha256"] for s in m_re.shards] == [s["sha256"] for s in m_lo.shards]
    assert read_manifest(remote["import"]).inputs[0]["path"] == f"{bucket}/data/captions.jsonl"
    assert read_manifest(remote["translate"]).counts["kept"] == 2 * N_IMAGES
    rounds = (
        read_manifest(remote["translate"]).extra["summary"]["rounds"],
        read_manifest(remote["score"]).extra["rounds"],
    )
    assert rounds == (3, 3)  # both in rounds (40 rows, 16 a round), their runs merged into the bucket
    assert any(k.startswith("models/ct2/") for k in _outputs(remote["translate"]))  # workers fetch it from S3
    assert {"models/combiner.json", "scored/scored-00000-of-00001.parquet"} <= set(_outputs(remote["score"]))
    kept = read_manifest(remote["filter"]).counts["kept"]
    assert 0 < kept < 2 * N_IMAGES
    exported = _outputs(remote["export"])["pairs.jsonl"].decode().splitlines()
    assert len(exported) == kept

    metrics = _metrics(remote["train"])
    assert metrics == _metrics(local["train"]) and metrics["steps"] == 4
    assert metrics["data"]["read"] == 2 * N_IMAGES and metrics["data"]["kept"] == kept
    trained = set(_outputs(remote["train"]))
    assert {"checkpoint_last.pt", "model_best.pt", "epochs.csv", "steps.csv", "metrics.json"} <= trained
    assert any(k.startswith("tensorboard/") for k in trained)
    assert storage.list_tree(storage.join(f"{bucket}/run", "cache"))  # the translation cache lives in the bucket
