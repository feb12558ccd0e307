"""`clcm-data run` with the run directory and the input on an object store (a moto server on loopback): the stages
write, stamp and skip there as locally, and their outputs equal a local run's byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_support import captions, run_config, write_jsonl

from clcm import storage
from clcm.pipelines.run import STAMP_NAME, run
from clcm.pipelines.run_config import load_run_config

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]  # ~12 s: four runs, three of them on S3

STAGES = {
    "translate": None,  # pairs imported as such: no model needed
    "score": {"scorers": ["length_ratio", "copy", "lexical", "bt_chrf"], "combiner_pairs": 200, "num_shards": 2},
    "filter": {"selection": {"threshold": 0.6}},
}


def _stamps(run_dir: str) -> dict[str, dict[str, str]]:
    """Per stage, its stamped files and digests (the manifests left out: they name paths and times)."""
    out = {}
    for stage in ("import", "score", "filter", "export"):
        files = json.loads(storage.read_text(storage.join(run_dir, stage, STAMP_NAME)))["files"]
        out[stage] = {k: v for k, v in files.items() if k != "_manifest.json"}
    return out


def test_a_run_directory_on_s3_runs_skips_and_equals_a_local_run(s3, tmp_path: Path) -> None:
    rows = [{"media_id": f"m{i // 2}", "src_lang": "en", "src_text": r["text"], "tgt_lang": "de",
             "tgt_text": f"ein satz {i % 17}", "split": "train"} for i, r in enumerate(captions(60))]  # fmt: skip
    local_input = write_jsonl(tmp_path / "pairs.jsonl", rows)
    bucket = s3()
    remote_input = f"{bucket}/in/pairs.jsonl"
    storage.write_bytes(remote_input, local_input.read_bytes())

    local_cfg = run_config(tmp_path / "local.yaml", [local_input], tmp_path / "m", run_dir=tmp_path / "run",
                           export={"format": "jsonl"}, **STAGES)  # fmt: skip
    remote_cfg = run_config(tmp_path / "remote.yaml", [remote_input], tmp_path / "m", run_dir=f"{bucket}/run",
                            export={"format": "jsonl"}, **STAGES)  # fmt: skip
    local = run(load_run_config(local_cfg))
    remote = run(load_run_config(remote_cfg))
    assert [(s.stage, s.action) for s in remote] == [(s.stage, "ran") for s in local]
    assert [s.counts for s in remote] == [s.counts for s in local]
    assert _stamps(f"{bucket}/run") == _stamps(str(tmp_path / "run"))  # every output file, byte for byte
    assert storage.is_file(f"{bucket}/run/_run.json") and storage.is_file(f"{bucket}/run/export/pairs.jsonl")
    assert not storage.exists(f"{bucket}/run/.lock")  # an object store is not locked (the log says so)

    again = run(load_run_config(remote_cfg))  # complete and unchanged: nothing re-runs
    assert [(s.stage, s.action) for s in again] == [(s.stage, "skipped") for s in local]

    kept = f"{bucket}/run/filter/kept/kept-00000-of-00002.parquet"
    storage.write_bytes(kept, storage.read_bytes(kept) + b"x")  # an altered output re-runs its stage only
    actions = {s.stage: (s.action, s.why) for s in run(load_run_config(remote_cfg))}
    assert actions["filter"] == ("ran", "output kept/kept-00000-of-00002.parquet changed")
    assert actions["score"][0] == "skipped" and actions["export"][0] == "skipped"  # same bytes again: same key
    assert _stamps(f"{bucket}/run") == _stamps(str(tmp_path / "run"))
