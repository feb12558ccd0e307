from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import replace

import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from clcm.errors import InputError
from clcm.pipelines.sinks import shard_of
from clcm.pipelines.translate import TranslateConfig
from clcm.pipelines.translate_run import run
from clcm.schemas import CAPTION_SCHEMA, PAIR_SCHEMA, REJECT_SCHEMA, parquet_files, read_table, write_rows
from clcm.testing.tiny_seq2seq import build_test_models, sample_captions
from clcm.translation import DecodeSettings, ModelSpec, load_translator
from clcm.translation.normalize import normalize_text

pytestmark = pytest.mark.timeout(180)
SETTINGS = DecodeSettings(max_length_factor=1.0, max_length_extra=2, max_length=24)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_test_models(tmp_path_factory.getbasetemp() / "tiny_seq2seq")


def _row(i: int, text: str, **kw) -> dict:
    row = dict(caption_id=f"img{i}#en#0", media_id=f"img{i}", caption_index=0, lang="en", text=text)
    return {**row, "split": "train", "dataset": "test", "origin": "human", **kw}


@pytest.fixture(scope="module")
def captions(tmp_path_factory):
    """Two caption shards: 24 distinct texts, exact and whitespace duplicates, and one row per reject reason."""
    d = tmp_path_factory.mktemp("captions")
    texts = sample_captions(24)
    a = [_row(i, t) for i, t in enumerate(texts)]
    a += [_row(100 + i, t) for i, t in enumerate(texts[:6])]  # same text, other captions: translated once
    a.append(_row(200, "  " + texts[7].replace(" ", "   ") + " "))  # normalises to an existing text
    rejects = [
        _row(300, "Ein Hund.", lang="de", caption_id="img300#de#0"),  # not_source
        _row(301, texts[1], origin="mt"),  # not_source: MT captions are not re-translated
        _row(302, " \t "),  # empty_text
        _row(303, "A dog\x00 runs."),  # nul_byte
    ]
    b = [*rejects, _row(0, "A duplicate id in another file.")]  # duplicate_id (img0#en#0 is in shard a)
    write_rows(a, d / "captions-00000-of-00002.parquet", CAPTION_SCHEMA)
    write_rows(b, d / "captions-00001-of-00002.parquet", CAPTION_SCHEMA)
    return d, a + b


def _config(captions_dir, out, model, **kw) -> TranslateConfig:
    base = dict(inputs=(str(captions_dir),), out_dir=str(out), tgt_langs=("cs", "de"), model=str(model))
    return TranslateConfig(**{**base, "backend": "ct2", "compute_type": "float32", "settings": SETTINGS, **kw})


@pytest.fixture(scope="module")
def ct2_run(models, captions, tmp_path_factory):
    root = tmp_path_factory.mktemp("ct2run")
    cfg = _config(captions[0], root / "out", models["marian_ct2"], cache_dir=str(root / "cache"), num_shards=3)
    return cfg, run(cfg, runner=FnApiRunner())


def test_every_caption_lands_exactly_once(ct2_run, captions):
    cfg, manifest = ct2_run
    pairs = read_table(cfg.out_dir, PAIR_SCHEMA, prefix="pairs")  # validates the schema
    rejects = read_table(cfg.out_dir, REJECT_SCHEMA, prefix="rejects")
    _, rows = captions
    per_caption = Counter(pairs.column("caption_id").to_pylist())
    assert set(per_caption.values()) == {2}  # one pair per target language
    assert Counter(rejects.column("reason").to_pylist()) == {
        "not_source": 2,
        "empty_text": 1,
        "nul_byte": 1,
        "duplicate_id": 1,
    }
    assert len(per_caption) + rejects.num_rows == len(rows)
    assert set(per_caption) | set(rejects.column("caption_id").to_pylist()) == {r["caption_id"] for r in rows}
    dup = next(r for r in rejects.to_pylist() if r["reason"] == "duplicate_id")
    assert dup["caption_id"] == "img0#en#0" and "captions-00001" in dup["source"] and dup["stage"] == "translate"
    raw = json.loads(dup["raw"])  # the duplicate's own row, every caption column in schema order
    assert list(raw) == CAPTION_SCHEMA.names and raw["text"] == "A duplicate id in another file."
    c = manifest.counts
    assert (c["read"], c["kept"], c["pairs"]) == (len(rows), len(per_caption), pairs.num_rows)
    on_disk = json.loads(open(cfg.out_dir + "/_manifest.json").read())
    assert on_disk["counts"]["read"] == len(rows) and on_disk["command"] == "translate"


def test_duplicates_are_translated_once(ct2_run, captions):
    _, manifest = ct2_run
    unique = {normalize_text(r["text"], "en") for r in captions[1][:31]}
    assert len(unique) == 24
    for lang in ("cs", "de"):
        mt = manifest.counts["per_lang"][lang]["mt"]
        assert mt == {**mt, "unique": 24, "translated": 24, "cached": 0}
    assert manifest.counts["kept"] == 31


def test_pairs_match_direct_translation_and_are_deterministically_sharded(ct2_run, models):
    cfg, manifest = ct2_run
    spec = ModelSpec(str(models["marian_ct2"]), "en", "cs", compute_type="float32", settings=SETTINGS)
    tr = load_translator(spec)
    for path in parquet_files(cfg.out_dir, "pairs"):
        table = pq.read_table(path)
        ids = table.column("pair_id").to_pylist()
        assert ids == sorted(ids)
        index = int(os.path.basename(path).split("-")[1])
        assert all(shard_of(i, 3) == index for i in ids)
    pairs = read_table(cfg.out_dir, PAIR_SCHEMA, prefix="pairs").to_pylist()
    cs = [p for p in pairs if p["tgt_lang"] == "cs"][:8]
    direct = tr.translate([normalize_text(p["src_text"], "en") for p in cs])
    assert [p["tgt_text"] for p in cs] == [t.text for t in direct]
    back = tr.translate([p["tgt_text"] for p in cs])  # tiny test model serves both directions
    assert [p["bt_text"] for p in cs] == [t.text for t in back]
    p = cs[0]
    assert p["pair_id"] == f"{p['caption_id']}>cs" and p["tgt_origin"] == "mt" and p["mt_logprob"] < 0
    assert p["mt_model"].startswith(str(models["marian_ct2"]) + "@local-")


def test_second_run_hits_the_cache_for_every_text(ct2_run, tmp_path):
    cfg, first = ct2_run
    again = TranslateConfig(**{**cfg.__dict__, "out_dir": str(tmp_path / "again")})
    second = run(again, runner=FnApiRunner())
    assert second.counts["translated"] == 0
    assert second.counts["cached"] == second.counts["unique"] == first.counts["unique"] > 0
    a = read_table(cfg.out_dir, PAIR_SCHEMA, prefix="pairs").sort_by("pair_id")
    b = read_table(again.out_dir, PAIR_SCHEMA, prefix="pairs").sort_by("pair_id")
    assert a.equals(b)


def test_hf_backend_with_nllb_model(models, captions, tmp_path):
    cfg = _config(captions[0], tmp_path / "out", models["nllb"], backend="hf", tgt_langs=("cs",), use_cache=False)
    manifest = run(cfg, runner=FnApiRunner())
    pairs = read_table(cfg.out_dir, PAIR_SCHEMA, prefix="pairs").to_pylist()
    assert len(pairs) == manifest.counts["kept"] == 31
    assert all(p["mt_logprob"] < 0 and p["bt_logprob"] < 0 and "Latn" not in p["tgt_text"] for p in pairs)
    assert manifest.counts["cached"] == 0 and manifest.counts["translated"] == manifest.counts["unique"]


def test_a_pairs_table_given_as_captions_is_an_input_error(ct2_run, models, tmp_path):
    cfg, _ = ct2_run
    with pytest.raises(InputError, match="not a caption table"):
        run(_config(cfg.out_dir + "/pairs/pairs-00000-of-00003.parquet", tmp_path, models["marian_ct2"]))
    with pytest.raises(InputError, match="no caption Parquet files in .*; it holds pairs/, rejects/"):
        run(_config(cfg.out_dir, tmp_path, models["marian_ct2"]))  # a translate output is no caption input
    with pytest.raises(InputError, match="no caption Parquet"):
        run(_config(tmp_path / "empty", tmp_path, models["marian_ct2"]))


def test_parallel_model_batches_translate_as_one_at_a_time(models):
    """`--workers 2` is the model's `parallel`: batches submitted at once come back as the sequential ones do."""
    texts = sample_captions(200)
    spec = ModelSpec(str(models["marian_ct2"]), "en", "cs", compute_type="float32", settings=SETTINGS)
    one = load_translator(spec).translate(texts)
    two = load_translator(replace(spec, parallel=2)).translate(texts)
    assert len(one) == 200 and [r.text for r in one] == [r.text for r in two]
    assert [r.tokens for r in one] == [r.tokens for r in two]


@pytest.mark.slow
def test_two_workers_keep_every_caption_of_a_large_corpus(models, tmp_path):
    """Regression: Beam's multi_threading workers lost a contiguous block of rows at ~29,000 captions; `--workers 2`
    must account for every caption and give the same pairs as one worker."""
    base = sample_captions(500)
    rows = [_row(i, f"{base[i % 500]} {i}") for i in range(20_000)]
    write_rows(rows, tmp_path / "caps" / "captions-00000-of-00001.parquet", CAPTION_SCHEMA)
    out = {}
    for workers in (1, 2):
        cfg = _config(tmp_path / "caps", tmp_path / f"w{workers}", models["marian_ct2"], tgt_langs=("de",),
                      use_cache=False, workers=workers)  # fmt: skip
        manifest = run(cfg)
        assert manifest.counts["read"] == manifest.counts["kept"] == 20_000
        out[workers] = read_table(cfg.out_dir, PAIR_SCHEMA, prefix="pairs")
    assert out[1].equals(out[2])


@pytest.mark.slow
def test_multiprocessing_direct_runner_gives_the_same_pairs(ct2_run, tmp_path):
    """`--workers 2`: one in-process worker whose models translate two batches at once, no cache: same rows."""
    cfg, first = ct2_run
    multi = TranslateConfig(**{**cfg.__dict__, "out_dir": str(tmp_path / "mp"), "use_cache": False, "workers": 2})
    manifest = run(multi)
    assert manifest.runner == "DirectRunner" and manifest.counts["translated"] == first.counts["translated"]
    a = read_table(cfg.out_dir, PAIR_SCHEMA, prefix="pairs").sort_by("pair_id")
    b = read_table(multi.out_dir, PAIR_SCHEMA, prefix="pairs").sort_by("pair_id")
    assert a.drop_columns(["mt_logprob", "bt_logprob"]).equals(b.drop_columns(["mt_logprob", "bt_logprob"]))
