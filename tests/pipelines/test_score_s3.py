"""score, filter and the run's stage bookkeeping with every path an ``s3://`` URL (a moto server on loopback, see
tests/s3_support.py): the outputs equal a local run's, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from s3_support import reset_storage
from test_score_filter import pair_rows

from clcm import storage
from clcm.errors import InputError
from clcm.filtering.selection import SelectionConfig
from clcm.pipelines import run as runner
from clcm.pipelines.filter import FilterConfig
from clcm.pipelines.filter import run as run_filter
from clcm.pipelines.score import ScoreConfig
from clcm.pipelines.score import run as run_score
from clcm.schemas import read_manifest, read_table, write_sharded
from clcm.schemas.tables import PAIR_SCHEMA

pytestmark = pytest.mark.timeout(300)
SCORERS = ("copy", "length_ratio", "lexical", "fluency_suffix", "bt_chrf")  # both model files, few plots (S3 writes)


def _stage(inputs: str, root: str, round_rows: int = 0) -> tuple[str, str]:
    """score ``inputs`` into ``root/score``, filter that into ``root/filter``; both stamped like `clcm-data run`."""
    scored, filtered = storage.join(root, "score"), storage.join(root, "filter")
    for out in (scored, filtered):  # what `clcm-data run` does before a stage
        runner.clear_stage_dir(out)
    config = ScoreConfig(inputs, scored, scorers=SCORERS, combiner_pairs=100, batch_size=40, num_shards=2,
                         round_rows=round_rows)  # fmt: skip
    run_score(config, runner=FnApiRunner())
    runner.write_stamp(scored, "score", "key-score")
    run_filter(FilterConfig(scored, filtered, SelectionConfig(threshold=0.5)))
    runner.write_stamp(filtered, "filter", "key-filter")
    return scored, filtered


def _stamped(stage_dir: str) -> dict[str, str]:
    """The stage's stamped files and digests, its manifest left out (it names paths and times)."""
    files = json.loads(storage.read_text(storage.join(stage_dir, runner.STAMP_NAME)))["files"]
    return {k: v for k, v in files.items() if k != "_manifest.json"}


def test_score_filter_and_stamps_on_s3_equal_a_local_run(s3, tmp_path: Path, monkeypatch) -> None:
    write_sharded(pair_rows(120, with_bt=True), tmp_path / "pairs", "pairs", PAIR_SCHEMA, 50)
    bucket = s3()
    for f in sorted((tmp_path / "pairs").iterdir()):
        storage.write_bytes(f"{bucket}/in/pairs/{f.name}", f.read_bytes())

    local = _stage(str(tmp_path / "pairs"), str(tmp_path / "local"))
    remote = _stage(f"{bucket}/in", f"{bucket}/run", round_rows=50)  # in rounds, merged into the bucket

    for lo, re in zip(local, remote, strict=True):  # every output file, byte for byte (their sha256)
        assert _stamped(lo) == _stamped(re) and len(_stamped(re)) >= 3
    names = sorted(_stamped(remote[0]))
    assert "models/combiner.json" in names and "models/lexical_model.npz" in names
    assert {"report.json", "reasons.png", "kept/kept-00000-of-00002.parquet"} <= set(_stamped(remote[1]))
    assert not [p for p in storage.list_tree(remote[0]) if "/." in p]  # no sidecar or temp file left behind
    m = read_manifest(remote[0])
    assert (
        m.extra["rounds"] == 3
        and m.counts["scored"] == 120
        and [i["path"] for i in m.inputs][0].startswith(f"{bucket}/in/pairs/")
    )
    assert [s["sha256"] for s in m.shards] == [s["sha256"] for s in read_manifest(local[0]).shards]
    assert read_manifest(remote[1]).extra["plots"] == read_manifest(local[1]).extra["plots"]
    assert read_table(remote[1], prefix="kept").equals(read_table(local[1], prefix="kept"))

    asked = []  # a stamp takes sizes from its listing and hashes from the manifest: no request per shard
    with monkeypatch.context() as patch:
        patch.setattr(storage, "size", lambda p: asked.append(p))
        patch.setattr(storage, "sha256", lambda p, *a: asked.append(p) or "")
        assert runner.output_files(remote[0])["scored/scored-00000-of-00002.parquet"] == m.shards[0]["sha256"]
    assert [storage.basename(p) for p in asked] == ["_manifest.json", "combiner.json", "fluency_model.npz",
                                                    "lexical_model.npz"]  # fmt: skip

    # the run's completeness check on an object store: complete, then a missing output re-runs the stage
    assert runner.check_complete(remote[0], "key-score") is None
    assert runner.check_complete(remote[0], "other-key") == "config, input or upstream changed"
    storage.delete([storage.join(remote[1], "kept", "kept-00000-of-00002.parquet")])
    assert runner.check_complete(remote[1], "key-filter") == "output kept/kept-00000-of-00002.parquet missing"
    runner.clear_stage_dir(remote[1])
    assert storage.list_tree(remote[1]) == [] and runner.check_complete(remote[1], "key-filter") == (
        "no previous output"
    )


def test_missing_s3_credentials_are_one_clear_error(monkeypatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    reset_storage()
    with pytest.raises(InputError, match="no AWS credentials found"):
        run_score(ScoreConfig("s3://clcm-no-such-bucket/in", str(tmp_path / "out")))


def test_workers_load_the_fitted_models_from_the_object_store(s3) -> None:
    from clcm.filtering import base
    from clcm.filtering.base import BuildContext
    from clcm.filtering.registry import FLUENCY_SCORERS, LEXICAL_SCORERS
    from clcm.filtering.scoring import ScorerSpec, build_scorers, score_batch

    rows = pair_rows(300, with_bt=False)
    fit = [(r["src_text"], r["tgt_text"]) for r in rows]
    batch = {"src_text": [s for s, _ in fit[:40]], "tgt_text": [t for _, t in fit[:40]]}
    models = f"{s3()}/score/models"
    names = (*LEXICAL_SCORERS, *FLUENCY_SCORERS)
    fitted = score_batch(build_scorers(names, BuildContext(model_dir=models, fit_pairs=fit)), batch)
    assert storage.match(f"{models}/*") == [f"{models}/fluency_model.npz", f"{models}/lexical_model.npz"]
    base._LOADED.clear()  # a fresh worker process: nothing in memory, everything from the bucket
    loaded = score_batch(ScorerSpec(names, model_dir=models).build(), batch)
    assert {n: v.tolist() for n, v in loaded.items()} == {n: v.tolist() for n, v in fitted.items()}
    assert len(base._LOADED) == 2  # each model file loaded once, shared by its scorers


@pytest.mark.slow
def test_cli_score_with_two_worker_processes_and_filter_on_s3(s3, tmp_path: Path) -> None:
    """Worker processes of their own (DirectRunner multi-processing) read the shards and load the models from the
    bucket; the CLI's output stays free of per-request log lines."""
    import subprocess
    import sys

    write_sharded(pair_rows(120, with_bt=True), tmp_path / "pairs", "pairs", PAIR_SCHEMA, 50)
    bucket = s3()
    for f in sorted((tmp_path / "pairs").iterdir()):
        storage.write_bytes(f"{bucket}/in/pairs/{f.name}", f.read_bytes())
    cli = str(Path(sys.executable).with_name("clcm-data"))
    for args in (["score", "-i", f"{bucket}/in", "-o", f"{bucket}/scored", "--workers", "2", "--shards", "2"],
                 ["filter", "-i", f"{bucket}/scored", "-o", f"{bucket}/filtered"]):  # fmt: skip
        done = subprocess.run([cli, *args], capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-6000:]
        assert "botocore" not in done.stderr
    run_score(ScoreConfig(str(tmp_path / "pairs"), str(tmp_path / "local"), num_shards=2), runner=FnApiRunner())
    remote, local = read_manifest(f"{bucket}/scored"), read_manifest(tmp_path / "local")
    assert [s["sha256"] for s in remote.shards] == [s["sha256"] for s in local.shards]
    assert read_manifest(f"{bucket}/filtered").counts["scored"] == 120


def test_a_missing_bucket_is_one_clear_error_not_a_traceback(s3, tmp_path: Path, capsys) -> None:
    from clcm.cli.common import run_app
    from clcm.cli.data import app
    from clcm.errors import EXIT_OUTPUT, OutputError

    bucket = s3()
    with pytest.raises(FileNotFoundError, match="no such file"):
        storage.read_bytes(f"{bucket}/missing.json")
    with pytest.raises(OutputError, match="cannot write s3://clcm-no-such-bucket/x.json: .*does not exist"):
        storage.write_bytes("s3://clcm-no-such-bucket/x.json", b"{}")
    storage.write_bytes(f"{bucket}/caps.jsonl", b'{"caption_id": "a#en#0", "media_id": "a", "text": "A dog."}\n')
    code = run_app(app, ["import", "-f", "jsonl", f"{bucket}/caps.jsonl", "-o", "s3://clcm-no-such-bucket/out"])
    err = capsys.readouterr().err
    assert code == EXIT_OUTPUT and err.startswith("error: cannot write s3://clcm-no-such-bucket/out/"), err
    assert "Traceback" not in err
