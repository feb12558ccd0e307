"""Crash safety: SIGKILL a real `clcm-data run` mid-translation and mid-write, then resume.

The killed run is a subprocess whose translator (or shard rename) is made to stop at a known point via a
monkeypatch in the child only; the child signals that it got there by creating a marker file, and the test then
kills it with SIGKILL (no clean-up code runs). Afterwards no half-written shard may be visible, the stage must not
look complete, and re-running must finish it with the same bytes as an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from run_support import captions, run_config, shard_digests, write_jsonl

from clcm.pipelines.run import STAMP_NAME, run
from clcm.pipelines.run_config import load_run_config

pytestmark = pytest.mark.timeout(240)

# Runs inside the child process: argv = mode, marker file, then the clcm-data arguments.
CHILD = r"""
import os, sys, time
from pathlib import Path

mode, marker, args = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]

def stop_here():
    marker.touch()
    time.sleep(600)  # the test kills us here

if mode == "translate":  # stop inside the model call, after the first batch was translated
    from clcm.translation import ct2
    real_translate = ct2.CT2Translator.translate
    def translate(self, texts):
        out = real_translate(self, texts)
        stop_here()
        return out
    ct2.CT2Translator.translate = translate
else:  # "<stage>/<prefix>": stop half-way through writing that shard (in <stage>/<kind>/), before its rename
    stage, prefix = mode.split("/")
    real_replace = os.replace
    def replace(src, dst):
        src, dst = os.fspath(src), os.fspath(dst)
        if Path(dst).parts[-3:-1] == (stage, prefix.rstrip("-")) and os.path.basename(dst).startswith(prefix):
            with open(src, "r+b") as fh:
                fh.truncate(os.path.getsize(src) // 2)
            stop_here()
        return real_replace(src, dst)
    os.replace = replace

from clcm.cli.data import main
main(args)
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("crash-input") / "caps.jsonl", captions(24))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, model: Path, inputs: Path) -> Path:
    os.environ.setdefault("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))
    root = tmp_path_factory.mktemp("uninterrupted")
    run(load_run_config(run_config(root / "run.yaml", [inputs], model, run_dir=root / "run")))
    return root / "run"


def _kill_at(mode: str, config: Path, timeout: float = 120.0) -> None:
    marker = config.parent / f"reached-{mode.replace('/', '-')}"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(marker), "run", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"run ended (rc={proc.returncode}) before {mode}: {proc.stderr.read()[-2000:]!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"run did not reach {mode} in {timeout:.0f}s")
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def _visible_parquet(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob("*.parquet") if not any(part.startswith(".") for part in p.parts)]


@pytest.mark.parametrize(
    ("mode", "stage"),
    [
        ("translate", "translate"),  # SIGKILL inside the model call
        ("translate/pairs-", "translate"),  # SIGKILL half-way through writing a pair shard
        pytest.param("import/captions-", "import", marks=pytest.mark.slow),  # ... a caption shard
    ],
)
def test_sigkill_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, model: Path, inputs: Path, uninterrupted: Path, mode: str, stage: str
) -> None:
    config = run_config(tmp_path / "run.yaml", [inputs], model, run_dir=tmp_path / "run")
    run_dir = tmp_path / "run"
    _kill_at(mode, config)

    assert not (run_dir / stage / STAMP_NAME).exists()  # the killed stage does not look complete
    assert not (run_dir / "export").exists()
    for path in _visible_parquet(run_dir):  # nothing half-written is visible: every visible shard reads whole
        pq.read_table(path)
    if "/" in mode:
        prefix = mode.split("/")[1]
        kind_dir = run_dir / stage / prefix.rstrip("-")
        assert list(kind_dir.glob(f".{prefix}*.tmp")), "the kill should have hit an unfinished write"
        assert not list(kind_dir.glob(f"{prefix}*.parquet"))

    statuses = {s.stage: s for s in run(load_run_config(config))}
    assert statuses[stage].why == "previous run did not finish (no completion stamp)"
    order = list(statuses)
    for name in order:  # stages finished before the kill are kept; the killed one and those after it run
        assert statuses[name].action == ("skipped" if order.index(name) < order.index(stage) else "ran"), name
    for name in ("import", "translate"):
        assert shard_digests(run_dir / name) == shard_digests(uninterrupted / name), name
    assert (run_dir / "export/pairs.jsonl").read_bytes() == (uninterrupted / "export/pairs.jsonl").read_bytes()
    assert not list(run_dir.rglob(".*.tmp"))
