"""The PortableRunner with an EXTERNAL worker pool (a separate process, as on a cluster): both Beam pipelines give
the same outputs as the in-process runner. Slow: each starts a job server, the pool and SDK worker processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from run_support import write_caption_shard
from s3_support import free_port
from test_score_filter import pair_rows

from clcm.pipelines.score import ScoreConfig
from clcm.pipelines.score import run as run_score
from clcm.pipelines.translate import TranslateConfig
from clcm.pipelines.translate_run import run as run_translate
from clcm.schemas import read_manifest, write_sharded
from clcm.schemas.io import read_table
from clcm.schemas.tables import PAIR_SCHEMA, scored_pair_schema
from clcm.testing.tiny_seq2seq import build_test_models, sample_captions
from clcm.translation import DecodeSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def worker_pool():
    """`python -m apache_beam.runners.worker.worker_pool_main` on a loopback port; yields the Beam flags."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    # the pool starts SDK workers as `python` from PATH: this interpreter's (a virtual environment's) first
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    pool = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("CLCM_POOL_LOG", os.devnull), "w"),  # noqa: SIM115 - lives as long as the pool
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert pool.poll() is None and time.monotonic() < deadline, "worker pool did not start"
            time.sleep(0.2)
    yield ["--runner", "PortableRunner", "--job_endpoint", "embed", "--environment_type", "EXTERNAL",
           "--environment_config", f"localhost:{port}"]  # fmt: skip
    pool.terminate()
    pool.wait(timeout=30)


def test_translate_on_external_workers_matches_in_process(worker_pool, tmp_path):
    models = build_test_models(tmp_path / "models")
    write_caption_shard(tmp_path / "captions", sample_captions(12))

    def config(out: str) -> TranslateConfig:
        return TranslateConfig(
            inputs=(str(tmp_path / "captions"),),
            out_dir=str(tmp_path / out),
            tgt_langs=("cs",),
            model=str(models["marian_ct2"]),
            compute_type="float32",
            settings=DecodeSettings(max_length=16),
            cache_dir=str(tmp_path / f"cache-{out}"),
        )

    external = run_translate(config("external"), worker_pool)
    local = run_translate(config("local"), runner=FnApiRunner())
    assert external.runner == "PortableRunner" and external.counts["kept"] == local.counts["kept"] == 12
    a = read_table(tmp_path / "external", PAIR_SCHEMA, prefix="pairs").sort_by("pair_id")
    b = read_table(tmp_path / "local", PAIR_SCHEMA, prefix="pairs").sort_by("pair_id")
    assert a.equals(b)
    assert list((tmp_path / "cache-external").rglob("part-*.parquet"))  # the workers wrote the cache


def test_score_on_external_workers_matches_in_process(worker_pool, tmp_path):
    write_sharded(pair_rows(120, with_bt=True), tmp_path / "pairs", "pairs", PAIR_SCHEMA, 60)

    def score(out: str, beam_args: list[str], **runner) -> None:
        config = ScoreConfig(str(tmp_path / "pairs"), str(tmp_path / out), combiner_pairs=100, batch_size=40)
        run_score(config, beam_args, **runner)

    score("external", worker_pool)
    score("local", [], runner=FnApiRunner())
    names = read_manifest(tmp_path / "local").config["active_scorers"]
    a = read_table(tmp_path / "external", scored_pair_schema(names), prefix="scored").sort_by("pair_id")
    b = read_table(tmp_path / "local", scored_pair_schema(names), prefix="scored").sort_by("pair_id")
    assert a.num_rows == 120 and a.equals(b)
