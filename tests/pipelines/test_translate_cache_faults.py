"""A corrupt translation-cache part never breaks a run: it is skipped with a warning naming it and recomputed."""

from __future__ import annotations

import io
import logging
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from run_support import write_caption_shard

from clcm.pipelines.translate import TranslateConfig
from clcm.pipelines.translate_run import run
from clcm.schemas import PAIR_SCHEMA, read_table
from clcm.testing.tiny_seq2seq import build_test_models, sample_captions
from clcm.translation import DecodeSettings

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cachefaults")
    models = build_test_models(tmp_path_factory.getbasetemp() / "tiny_seq2seq")
    write_caption_shard(root / "captions", sample_captions(24))
    cfg = TranslateConfig(
        inputs=(str(root / "captions"),),
        out_dir=str(root / "out"),
        tgt_langs=("cs",),
        model=str(models["marian_ct2"]),
        compute_type="float32",
        settings=DecodeSettings(max_length_factor=1.0, max_length_extra=2, max_length=24),
        cache_dir=str(root / "cache"),
    )
    return cfg, run(cfg, runner=FnApiRunner())


def _tamper(path) -> None:
    table = pq.read_table(path)
    table = table.set_column(1, "tgt_text", pa.array(["TAMPERED"] * table.num_rows))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    path.write_bytes(buf.getvalue())


def test_corrupt_parts_are_skipped_with_a_warning_and_their_texts_recomputed(first_run, tmp_path, caplog):
    cfg, first = first_run
    cache = tmp_path / "cache"
    shutil.copytree(cfg.cache_dir, cache)
    parts = sorted(cache.rglob("part-*.parquet"))
    truncated, garbage, tampered = parts[0], parts[1], parts[2]
    truncated.write_bytes(truncated.read_bytes()[:100])
    garbage.write_bytes(b"not parquet at all")
    _tamper(tampered)
    lost = pq.read_metadata(tampered).num_rows + 2  # and at least one row in each of the other two
    again = TranslateConfig(**{**cfg.__dict__, "out_dir": str(tmp_path / "out"), "cache_dir": str(cache)})
    with caplog.at_level(logging.WARNING, logger="clcm.pipelines.cache"):
        second = run(again, runner=FnApiRunner())
    for path in (truncated, garbage, tampered):
        assert f"skipping translation-cache part {path}" in caplog.text
    assert second.counts["translated"] >= lost
    assert second.counts["cached"] == second.counts["unique"] - second.counts["translated"]
    a = read_table(cfg.out_dir, PAIR_SCHEMA, prefix="pairs").sort_by("pair_id")
    b = read_table(again.out_dir, PAIR_SCHEMA, prefix="pairs").sort_by("pair_id")
    assert a.equals(b)  # recomputed, and nothing tampered was served
    assert "TAMPERED" not in b.column("tgt_text").to_pylist() + b.column("bt_text").to_pylist()
