from __future__ import annotations

import io
import json
import logging

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from clcm.cli import data
from clcm.errors import OutputError
from clcm.pipelines import cache, cache_admin
from clcm.pipelines.cache import (
    bucket_dir,
    bucket_of,
    cache_path,
    default_cache_dir,
    list_parts,
    lookup_bucket,
    prepare,
    write_entries,
)
from clcm.pipelines.cache_steps import LookupCache, StoreCache
from clcm.translation import DecodeSettings, ModelSpec, Translation

SPEC = ModelSpec("m", "en", "cs", revision="r1")


def _items(n: int, prefix: str = "text") -> list[tuple[str, Translation]]:
    return [(f"{prefix} {i}.", Translation(f"{prefix} {i} cs.", -0.5, i % 7)) for i in range(n)]


def _lookup_all(d: str, texts: list[str]) -> dict[str, Translation]:
    buckets = cache.read_buckets(d)
    found: dict[str, Translation] = {}
    for b in {bucket_of(t, buckets) for t in texts}:
        found |= lookup_bucket(d, b, [t for t in texts if bucket_of(t, buckets) == b])[0]
    return found


def test_entries_live_in_the_bucket_of_their_text(tmp_path):
    d = cache_path(str(tmp_path), SPEC)
    items = _items(50)
    paths = write_entries(d, items, SPEC.cache_fields())
    buckets = cache.read_buckets(d)
    assert buckets == cache.DEFAULT_BUCKETS and json.loads(open(f"{d}/layout.json").read())["version"] == 2
    assert len(paths) == len({bucket_of(s, buckets) for s, _ in items})  # one part per touched bucket
    for path in paths:
        b = int(path.rsplit("/", 2)[-2])
        texts = pq.read_table(path).column("src_text").to_pylist()
        assert texts == sorted(texts) and {bucket_of(t, buckets) for t in texts} == {b}
    assert _lookup_all(d, [s for s, _ in items] + ["never stored"]) == dict(items)
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temp files


def test_lookup_reads_only_the_buckets_of_the_texts_looked_up(tmp_path, monkeypatch):
    d = cache_path(str(tmp_path), SPEC)
    write_entries(d, _items(2000), SPEC.cache_fields())  # nearly every bucket holds a part
    read: list[str] = []
    real = cache.open_part
    monkeypatch.setattr(cache, "open_part", lambda p: read.append(p) or real(p))
    wanted = ["text 5.", "text 17.", "a new text"]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(wanted) | LookupCache(d, cache.read_buckets(d), "mt_cs")
        assert_that(out["hit"], equal_to([("text 5.", _items(18)[5][1]), ("text 17.", _items(18)[17][1])]), "hits")
        assert_that(out["miss"], equal_to(["a new text"]), label="misses")
    assert {int(p.rsplit("/", 2)[-2]) for p in read} <= {bucket_of(t, cache.DEFAULT_BUCKETS) for t in wanted}
    assert 0 < len(read) <= 3


def test_store_writes_one_part_per_bucket_and_compacts_automatically(tmp_path):
    d = cache_path(str(tmp_path), SPEC)
    buckets = prepare(d, SPEC.cache_fields())
    same_bucket = [t for t in (f"t{i}" for i in range(5000)) if bucket_of(t, buckets) == 7][:6]
    for run, text in enumerate(same_bucket[:3]):
        with beam.Pipeline(runner=FnApiRunner()) as p:
            _ = p | beam.Create([(text, Translation(f"r{run}", -1.0, 2))]) | StoreCache(d, buckets, compact_at=3)
        assert len(list_parts(d, 7)) == (run + 1 if run < 2 else 1)  # the third part triggers compaction
    assert _lookup_all(d, same_bucket[:3]) == {t: Translation(f"r{i}", -1.0, 2) for i, t in enumerate(same_bucket[:3])}


def test_compact_and_stats_commands(tmp_path, capsys):
    d = cache_path(str(tmp_path), SPEC)
    for chunk in range(3):  # three runs over overlapping texts: up to three parts per bucket
        write_entries(d, _items(300)[chunk * 100 : chunk * 100 + 150], SPEC.cache_fields())
    before = cache_admin.stats(str(tmp_path))[0]
    assert before.entries > 300 and before.parts > before.used_buckets  # texts of the overlaps stored twice
    with pytest.raises(SystemExit) as exc:
        data.main(["cache", "compact", "--cache-dir", str(tmp_path), "--json"])
    assert exc.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["compacted_buckets"] > 0 and not report["corrupt"]
    after = cache_admin.stats(str(tmp_path))[0]
    assert after.parts == after.used_buckets == before.used_buckets and after.entries == 300
    assert _lookup_all(d, [s for s, _ in _items(300)]) == dict(_items(300))
    with pytest.raises(SystemExit) as exc:
        data.main(["cache", "stats", "--cache-dir", str(tmp_path)])
    assert exc.value.code == 0 and "300 entries" in capsys.readouterr().out


def _tamper(path: str) -> None:
    """Rewrite a part as a well-formed Parquet file under the same name, with one translation changed."""
    table = pq.read_table(path)
    tgt = table.column("tgt_text").to_pylist()
    tgt[0] = "TAMPERED"
    table = table.set_column(1, "tgt_text", pa.array(tgt))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())


def test_truncated_and_tampered_parts_are_skipped_with_a_warning_naming_them(tmp_path, caplog):
    d = cache_path(str(tmp_path), SPEC)
    items = _items(40)
    paths = write_entries(d, items, SPEC.cache_fields())
    truncated, tampered = paths[0], paths[1]
    with open(truncated, "r+b") as fh:
        fh.truncate(30)
    _tamper(tampered)
    with caplog.at_level(logging.WARNING, logger="clcm.pipelines.cache"):
        found = _lookup_all(d, [s for s, _ in items])
    bad_buckets = {int(p.rsplit("/", 2)[-2]) for p in (truncated, tampered)}
    lost = {t for t, _ in items if bucket_of(t, cache.DEFAULT_BUCKETS) in bad_buckets}
    assert set(found) == {s for s, _ in items} - lost and "TAMPERED" not in {t.text for t in found.values()}
    assert truncated in caplog.text and tampered in caplog.text and "does not match its name" in caplog.text


def test_verify_command_names_corrupt_parts_and_removes_them(tmp_path, capsys):
    d = cache_path(str(tmp_path), SPEC)
    paths = write_entries(d, _items(20), SPEC.cache_fields())
    _tamper(paths[3])
    with pytest.raises(SystemExit) as exc:
        data.main(["cache", "verify", "--cache-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert exc.value.code == 3 and paths[3] in captured.out and "1 corrupt" in captured.err
    with pytest.raises(SystemExit) as exc:
        data.main(["cache", "verify", "--cache-dir", str(tmp_path), "--remove"])
    assert exc.value.code == 0 and paths[3] not in [p for b in range(cache.DEFAULT_BUCKETS) for p in list_parts(d, b)]
    with pytest.raises(SystemExit) as exc:
        data.main(["cache", "verify", "--cache-dir", str(tmp_path)])
    assert exc.value.code == 0


def test_a_part_compacted_away_during_a_lookup_is_found_in_the_merged_part(tmp_path, monkeypatch):
    d = cache_path(str(tmp_path), SPEC)
    buckets = prepare(d, SPEC.cache_fields())
    texts = [t for t in (f"t{i}" for i in range(5000)) if bucket_of(t, buckets) == 3][:2]
    for t in texts:
        write_entries(d, [(t, Translation(t.upper(), -1.0, 1))], SPEC.cache_fields())
    stale = list_parts(d, 3)
    cache_admin.compact_bucket(d, 3)  # a concurrent compaction: the listed parts are gone now
    calls = iter([stale])
    real = cache.list_parts
    monkeypatch.setattr(cache, "list_parts", lambda *a: next(calls, None) or real(*a))
    found, bad = lookup_bucket(d, 3, texts)
    assert found == {t: Translation(t.upper(), -1.0, 1) for t in texts} and not bad


def test_pre_bucket_parts_are_migrated_by_compaction(tmp_path):
    d = cache_path(str(tmp_path), SPEC)
    prepare(d, SPEC.cache_fields())
    legacy = cache.part_table(_items(10))
    pq.write_table(legacy, f"{d}/part-0123456789abcdef01234567.parquet")
    assert cache_admin.stats(str(tmp_path))[0].legacy_parts == 1
    cache_admin.compact(str(tmp_path))
    assert cache_admin.legacy_parts(d) == [] and _lookup_all(d, [s for s, _ in _items(10)]) == dict(_items(10))


def test_an_unwritable_cache_fails_before_translating(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OutputError, match="cannot write the translation cache"):
        prepare(cache_path(str(tmp_path / "file"), SPEC), SPEC.cache_fields())


def test_cache_directory_depends_on_everything_that_changes_a_translation(tmp_path):
    base = ModelSpec("m", "en", "cs", revision="r1")
    variants = [
        ModelSpec("m", "en", "de", revision="r1"),
        ModelSpec("m", "en", "cs", revision="r2"),
        ModelSpec("m", "en", "cs", revision="r1", backend="hf"),
        ModelSpec("m", "en", "cs", revision="r1", compute_type="float32"),
        ModelSpec("m", "en", "cs", revision="r1", settings=DecodeSettings(max_length=20)),
    ]
    paths = {cache_path(str(tmp_path), s) for s in [base, *variants]}
    assert len(paths) == 1 + len(variants)
    same = ModelSpec("m", "en", "cs", revision="r1", settings=DecodeSettings(max_batch_size=7), threads=4)
    assert cache_path(str(tmp_path), same) == cache_path(str(tmp_path), base)
    assert bucket_dir("root", 7) == "root/buckets/0007"


def test_default_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CLCM_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == str(tmp_path / "c")
    monkeypatch.delenv("CLCM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == str(tmp_path / "x" / "clcm" / "translations")
