"""What workers need lives under the output directory: ct2 conversions, copied to a worker's disk when remote."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from run_support import write_caption_shard

from clcm import storage
from clcm.pipelines.model_files import local_copy, upload_dir
from clcm.pipelines.translate import TranslateConfig
from clcm.pipelines.translate_run import run
from clcm.testing.tiny_seq2seq import build_test_models, sample_captions
from clcm.translation import DecodeSettings

pytestmark = pytest.mark.timeout(180)


def test_ct2_conversion_goes_under_the_output_directory_and_the_manifest_comes_from_the_writers(tmp_path, monkeypatch):
    models = build_test_models(tmp_path.parent / "tiny_seq2seq_storage")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write_caption_shard(tmp_path / "in", sample_captions(8))
    cfg = TranslateConfig(
        inputs=(str(tmp_path / "in"),),
        out_dir=str(tmp_path / "out"),
        tgt_langs=("cs",),
        model=str(models["marian"]),  # a transformers directory: converted for ct2 by the driver
        compute_type="float32",
        settings=DecodeSettings(max_length=8),
        use_cache=False,
    )
    opened = []
    real_open = storage.open_read
    monkeypatch.setattr(storage, "open_read", lambda p: opened.append(str(p)) or real_open(p))
    manifest = run(cfg, runner=FnApiRunner())
    assert not [p for p in opened if "/out/pairs/pairs-" in p]  # the shard records come from the writers
    (converted,) = (tmp_path / "out" / "models" / "ct2").iterdir()
    assert (converted / "model.bin").is_file() and not (tmp_path / "xdg" / "clcm" / "ct2").exists()
    assert {m["id"] for m in manifest.models} == {str(converted)}
    on_disk = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    for shard in on_disk["shards"]:
        data = (tmp_path / "out" / shard["name"]).read_bytes()
        assert shard["sha256"] == hashlib.sha256(data).hexdigest() and shard["bytes"] == len(data)
    assert sum(s["rows"] for s in on_disk["shards"] if s["table"] == "pairs") == 8


def test_a_model_directory_round_trips_through_shared_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    src = tmp_path / "model"
    src.mkdir()
    (src / "model.bin").write_bytes(b"weights")
    (src / "vocab.json").write_text("{}")
    upload_dir(str(src), str(tmp_path / "shared" / "m"))
    tempfile.tempdir = None  # pick up TMPDIR
    try:
        local = local_copy(str(tmp_path / "shared" / "m"))
        assert sorted(p.name for p in Path(local).iterdir()) == ["model.bin", "vocab.json"]
        assert local_copy(str(tmp_path / "shared" / "m")) == local  # once per machine
    finally:
        tempfile.tempdir = None
