"""Other Beam runners are reached only through pass-through Beam flags: check one (the portable runner with an
embedded job server and loopback workers, which runs offline) gives the same pairs as the in-process runner."""

from __future__ import annotations

import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from clcm.pipelines.translate import TranslateConfig
from clcm.pipelines.translate_run import run
from clcm.schemas import CAPTION_SCHEMA, PAIR_SCHEMA, read_table, write_rows
from clcm.testing.tiny_seq2seq import build_test_models, sample_captions
from clcm.translation import DecodeSettings

pytestmark = pytest.mark.timeout(240)


def test_portable_runner_via_passthrough_flags_matches_in_process(tmp_path):
    models = build_test_models(tmp_path / "models")
    rows = [
        dict(
            caption_id=f"m{i}#en#0",
            media_id=f"m{i}",
            caption_index=0,
            lang="en",
            text=t,
            split="train",
            dataset="t",
            origin="human",
        )
        for i, t in enumerate(sample_captions(12))
    ]
    write_rows(rows, tmp_path / "captions" / "captions-00000-of-00001.parquet", CAPTION_SCHEMA)

    def config(out: str) -> TranslateConfig:
        return TranslateConfig(
            inputs=(str(tmp_path / "captions"),),
            out_dir=str(tmp_path / out),
            tgt_langs=("cs",),
            model=str(models["marian_ct2"]),
            backend="ct2",
            compute_type="float32",
            settings=DecodeSettings(max_length=16),
            use_cache=False,
            progress=False,
        )

    portable = ["--runner", "PortableRunner", "--job_endpoint", "embed", "--environment_type", "LOOPBACK"]
    m = run(config("portable"), portable)
    assert m.runner == "PortableRunner"
    run(config("inproc"), [], runner=FnApiRunner())
    a = read_table(tmp_path / "portable", PAIR_SCHEMA, prefix="pairs").sort_by("pair_id")
    b = read_table(tmp_path / "inproc", PAIR_SCHEMA, prefix="pairs").sort_by("pair_id")
    assert a.num_rows == len(rows)
    assert a.to_pylist() == b.to_pylist()
