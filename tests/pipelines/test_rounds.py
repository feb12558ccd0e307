"""Bounded rounds (clcm.pipelines.rounds): a large input in rounds of at most ``round_rows`` rows, each its own
pipeline, the rounds' sorted shards merged; the outputs equal one pipeline's byte for byte."""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from operator import itemgetter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from test_score_filter import pair_rows
from test_translate_pipeline import _config, _row

from clcm.errors import InputError
from clcm.pipelines import rounds, sinks
from clcm.pipelines import runs as runs_module
from clcm.pipelines import score as score_pipeline
from clcm.pipelines.runs import merge_shard, write_run
from clcm.pipelines.score import ScoreConfig
from clcm.pipelines.score import run as run_score
from clcm.pipelines.sources import LINE, SOURCE, partition_captions
from clcm.pipelines.translate_run import run
from clcm.schemas import CAPTION_SCHEMA, PAIR_SCHEMA, read_manifest, write_rows, write_sharded
from clcm.schemas.io import parquet_bytes
from clcm.testing.tiny_seq2seq import build_test_models, sample_captions

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_test_models(tmp_path_factory.getbasetemp() / "tiny_seq2seq")


@pytest.fixture(scope="module")
def captions(tmp_path_factory):
    """Three caption files: repeated texts, duplicate ids within and across files, one row per reject reason."""
    d = tmp_path_factory.mktemp("round_captions")
    texts = sample_captions(30)
    a = [_row(i, texts[i % 20]) for i in range(40)]  # texts recur in many rounds
    a += [_row(3, "A duplicate id in the same file.")]
    b = [_row(300, "Ein Hund.", lang="de", caption_id="img300#de#0"), _row(302, " \t "), _row(303, "A\x00 b.")]
    b += [_row(40 + i, t) for i, t in enumerate(texts[20:])]
    c = [_row(0, "A duplicate id in another file."), _row(7, texts[3])]
    for name, rows in (("00000", a), ("00001", b), ("00002", c)):
        write_rows(rows, d / f"captions-{name}-of-00003.parquet", CAPTION_SCHEMA)
    return d, len(a) + len(b) + len(c)


def _files(out) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.glob("*/*.parquet"))}


@pytest.mark.parametrize("use_cache", [True, False])
def test_translate_in_rounds_writes_the_rows_of_one_round(models, captions, tmp_path, use_cache):
    d, n = captions

    def translate(name: str, round_rows: int):
        cfg = _config(d, tmp_path / name, models["marian_ct2"], cache_dir=str(tmp_path / f"cache-{name}"),
                      num_shards=3, round_rows=round_rows, use_cache=use_cache)  # fmt: skip
        return run(cfg, runner=FnApiRunner())

    one, many = translate("one", 0), translate("many", 9)
    assert one.extra["summary"]["rounds"] == 1 and many.extra["summary"]["rounds"] == math.ceil(n / 9)
    # the same rows in the same shards and order; a logprob may differ in its last float32 digits, since a text is
    # translated in another batch (padding), as with any other batch size
    files = _files(tmp_path / "one")
    assert sorted(_files(tmp_path / "many")) == sorted(files) and len(files) == 4
    for name in files:
        a, b = (pq.read_table(tmp_path / d / name) for d in ("one", "many"))
        logprobs = [c for c in a.column_names if c.endswith("logprob")]
        assert a.drop_columns(logprobs).equals(b.drop_columns(logprobs))
        for c in logprobs:
            assert b.column(c).to_numpy(zero_copy_only=False) == pytest.approx(a.column(c).to_numpy(), abs=1e-4)
    assert [(s["name"], s["rows"]) for s in many.shards] == [(s["name"], s["rows"]) for s in one.shards]
    for key in ("read", "kept", "rejected", "pairs"):
        assert many.counts[key] == one.counts[key]
    assert one.counts["read"] == n and one.counts["rejected"]["duplicate_id"] == 3
    # a text recurring in a later round is translated once (from the user's cache, or a scratch one), not again
    assert many.counts["translated"] == one.counts["translated"] > 0
    assert many.counts["unique"] > one.counts["unique"]  # counted once per round it occurs in (documented)
    assert not list(tmp_path.glob("many/**/.*record.json"))  # no sidecar left behind


def test_partition_keeps_every_row_with_its_origin_and_every_id_in_one_part(captions, tmp_path):
    d, n = captions
    files = sorted(str(p) for p in d.glob("*.parquet"))
    parts = partition_captions(files, 4, str(tmp_path))
    tables = [pq.read_table(p) for p in parts]
    rows = [r for t in tables for r in t.to_pylist()]
    assert len(rows) == n and len({(r[SOURCE], r[LINE]) for r in rows}) == n
    first = pq.read_table(files[0]).to_pylist()
    by_origin = {(r[SOURCE], r[LINE]): r for r in rows}
    assert all(by_origin[(files[0], i + 1)]["text"] == row["text"] for i, row in enumerate(first))
    owners = Counter(cid for t in tables for cid in set(t.column("caption_id").to_pylist()))
    assert set(owners.values()) == {1}  # every copy of an id lands in one part


def test_partition_rejects_a_column_of_the_wrong_type_clearly(tmp_path):
    rows = [_row(0, "A dog.")]
    table = pa.Table.from_pylist(rows)
    table = table.set_column(table.schema.get_field_index("caption_index"), "caption_index", pa.array(["x"]))
    pq.write_table(table, tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="caption_index"):
        partition_captions([str(tmp_path / "bad.parquet")], 2, str(tmp_path))


def test_merge_writes_the_bytes_of_the_one_pipeline_writer(tmp_path, monkeypatch):
    monkeypatch.setattr(sinks, "ROW_GROUP_ROWS", 16)  # several row groups
    monkeypatch.setattr(runs_module, "RUN_BATCH_ROWS", 7)  # output row groups made of slices of several batches
    rng = random.Random(0)
    names = PAIR_SCHEMA.names
    rows = [pair_rows(1, with_bt=True)[0] | {"pair_id": f"p{rng.randrange(50):03d}", "src_text": f"s{i}"}
            for i in range(300)]  # fmt: skip
    encoded = [(r["pair_id"], sinks.encode_row(tuple(r.get(n) for n in names))) for r in rows]
    runs = []
    for r in range(4):  # each round's run sorted by key, as the shard writer leaves it
        runs.append(str(tmp_path / f"run{r}.arrow"))
        write_run(runs[-1], sorted(encoded[r::4], key=itemgetter(0)), PAIR_SCHEMA)
    record = merge_shard(runs, str(tmp_path / "out.parquet"), PAIR_SCHEMA, str(tmp_path))
    # one pipeline: the same rows, arriving round by round, sorted stably by key and written by the shard writer
    one = sorted((row for r in range(4) for row in encoded[r::4]), key=itemgetter(0))
    expected = parquet_bytes(sinks.row_groups(one, PAIR_SCHEMA), PAIR_SCHEMA)
    data = (tmp_path / "out.parquet").read_bytes()
    assert data == expected and pq.ParquetFile(tmp_path / "out.parquet").num_row_groups == math.ceil(300 / 16)
    assert record == {"name": "out.parquet", "rows": 300, "sha256": hashlib.sha256(data).hexdigest(),
                      "bytes": len(data)}  # fmt: skip
    assert not (tmp_path / "merged.parquet").exists()


def test_row_range_rounds_cover_every_row_once_in_order():
    files = {"a": [4096, 4096, 100], "b": [50], "c": [4096, 3000]}
    plan = rounds.row_range_rounds(files, 5)
    rows = [(p, g, i) for r in plan for p, g, lo, hi in r for i in range(lo, hi)]
    assert rows == [(p, g, i) for p, groups in files.items() for g, n in enumerate(groups) for i in range(n)]
    sizes = [sum(hi - lo for _, _, lo, hi in r) for r in plan]
    assert len(plan) == 5 and max(sizes) - min(sizes) <= 4 and all(lo < hi for r in plan for _, _, lo, hi in r)
    assert rounds.round_count(15_000, 5000, True) == 3 and rounds.round_count(15_000, 5000, False) == 1
    assert rounds.round_count(15_000, 0, True) == 1 and rounds.round_count(4000, 5000, True) == 1


def test_score_in_rounds_writes_the_bytes_of_one_round(tmp_path, monkeypatch, caplog):
    d = tmp_path / "pairs"
    write_sharded(pair_rows(160, with_bt=True), d, "pairs", PAIR_SCHEMA, 70)  # shards of 70, 70 and 20 rows
    monkeypatch.setattr(score_pipeline, "ROW_GROUP_ROWS", 50)  # a 70-row group counts as large here
    warned = {}
    for name, round_rows in (("one", 0), ("many", 45)):  # rounds of 40 rows: cutting row groups
        caplog.clear()
        run_score(ScoreConfig(str(d), str(tmp_path / name), combiner_pairs=150, batch_size=30, num_shards=2,
                              round_rows=round_rows), runner=FnApiRunner())  # fmt: skip
        warned[name] = "an input row group holds 70 rows" in caplog.text
    assert warned == {"one": False, "many": True}  # rounds reading parts of a large group say that memory grows
    assert _files(tmp_path / "many") == _files(tmp_path / "one")
    assert read_manifest(tmp_path / "many").shards == read_manifest(tmp_path / "one").shards
    assert read_manifest(tmp_path / "many").counts["scored"] == 160
    assert (
        read_manifest(tmp_path / "many").extra["rounds"] == 4 and read_manifest(tmp_path / "one").extra["rounds"] == 1
    )
