"""`clcm-train sweep`: one model per keep fraction / threshold of noise_score, same step budget, JSON + PNG."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from clcm.cli import train as train_cli
from clcm.schemas import read_table, scored_pair_schema, write_table


@pytest.fixture()
def scored_toy(toy_corpus, tmp_path):
    """The toy pairs as scored shards: noise_score rises with the row index, so the best F are the first rows."""
    pairs = read_table(toy_corpus["shards"], prefix="pairs")
    n = pairs.num_rows
    schema = scored_pair_schema([])
    table = pairs.append_column("noise_score", pa.array(np.linspace(0.0, 1.0, n), pa.float32()))
    for name in ("keep", "reject_reason", "nrf_selected"):
        table = table.append_column(name, pa.nulls(n, schema.field(name).type))
    scored = tmp_path / "scored"
    scored.mkdir()
    write_table(table.select(schema.names).cast(schema), scored / "scored-00000-of-00001.parquet", schema)
    return scored, pairs.column("pair_id").to_pylist()


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        train_cli.main(args)
    return exc.value.code


def test_sweep_trains_each_point_on_the_same_budget_and_plots(toy_corpus, tiny_bert_dir, scored_toy, tmp_path, capsys):
    scored, order = scored_toy
    out = tmp_path / "sweep"
    args = [
        "sweep", "--scored", str(scored), "--out-dir", str(out), "--keep-fractions", "1,0.5",
        "--thresholds", "0.25", "--budget-steps", "4", "--features", str(toy_corpus["features"]),
        "--val", str(toy_corpus["val"]), "--test", str(toy_corpus["val"]), "--objective", "baseline",
        "--text-model", str(tiny_bert_dir), "--batch-size", "16", "--device", "cpu", "--opt", "joint_dim=16",
    ]  # fmt: skip
    assert _run(args) == 0, capsys.readouterr().err
    result = json.loads((out / "sweep.json").read_text())
    points = {p["point"]: p for p in result["points"]}
    assert list(points) == ["keep-1", "keep-0.5", "threshold-0.25"]
    assert [points[p]["pairs"] for p in points] == [96, 48, 24]
    assert [points[p]["keep_rate"] for p in points] == [1.0, 0.5, 0.25]
    assert result["budget_steps"] == 4
    # same optimiser steps everywhere: the 24-pair point (2 batches per epoch) gets 2 epochs, the full set 1
    assert {points[p]["steps"] for p in points} == {4} and [points[p]["epochs"] for p in points] == [1, 2, 2]
    for p in points.values():
        assert p["val"]["sumr"] >= 0 and p["test"]["sumr"] >= 0 and p["val"]["t2v_r10"] <= 100
    # a point keeps exactly the lowest noise_score pairs
    kept = read_table(out / "points" / "keep-0.5" / "pairs.parquet").column("pair_id").to_pylist()
    assert sorted(kept) == sorted(order[:48])
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["command"] == "sweep" and manifest["counts"] == {"pairs": 96, "points": 3}
    assert "keep-0.5" in capsys.readouterr().out


def test_sweep_rejects_bad_points(toy_corpus, tiny_bert_dir, scored_toy, tmp_path, capsys):
    scored, _ = scored_toy
    base = ["sweep", "--scored", str(scored), "--out-dir", str(tmp_path / "s"), "--features",
            str(toy_corpus["features"]), "--val", str(toy_corpus["val"])]  # fmt: skip
    assert _run([*base, "--keep-fractions", "1.5"]) == 2
    assert "keep fractions must be in (0, 1]" in capsys.readouterr().err
    assert _run([*base, "--keep-fractions", "a,b"]) == 2
    assert "--keep-fractions expects comma-separated numbers" in capsys.readouterr().err
    assert _run([*base[:5], "--val", str(toy_corpus["val"])]) == 2
    assert "needs --features and --val" in capsys.readouterr().err


def test_sweep_reads_and_writes_an_object_store(s3, toy_corpus, tiny_bert_dir, scored_toy, capsys):
    from clcm import storage

    scored, order = scored_toy
    bucket = s3()
    for f in scored.iterdir():
        storage.write_bytes(f"{bucket}/scored/{f.name}", f.read_bytes())
    args = [
        "sweep", "--scored", f"{bucket}/scored", "--out-dir", f"{bucket}/sweep", "--keep-fractions", "0.5",
        "--budget-steps", "2", "--features", str(toy_corpus["features"]), "--val", str(toy_corpus["val"]),
        "--objective", "baseline", "--text-model", str(tiny_bert_dir), "--batch-size", "16", "--device", "cpu",
        "--opt", "joint_dim=16",
    ]  # fmt: skip
    assert _run(args) == 0, capsys.readouterr().err
    result = json.loads(storage.read_text(f"{bucket}/sweep/sweep.json"))
    assert [(p["point"], p["pairs"], p["steps"]) for p in result["points"]] == [("keep-0.5", 48, 2)]
    kept = read_table(f"{bucket}/sweep/points/keep-0.5/pairs.parquet").column("pair_id").to_pylist()
    assert sorted(kept) == sorted(order[:48])
    assert storage.read_bytes(f"{bucket}/sweep/sweep.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert storage.is_file(f"{bucket}/sweep/points/keep-0.5/model/model_best.pt")
    manifest = json.loads(storage.read_text(f"{bucket}/sweep/_manifest.json"))
    assert [i["path"] for i in manifest["inputs"]] == [f"{bucket}/scored/scored-00000-of-00001.parquet"]
