"""Read once, hash once: score reads each input once in the driver (hashing those bytes) and once in its workers;
no scored shard is read back for the manifest; filter, the run stamp and the train stage take the sha256 of a shard
from the manifest of the stage that wrote it."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from test_score_filter import pair_rows

import clcm.pipelines.score as score
from clcm import storage
from clcm.pipelines.filter import FilterConfig
from clcm.pipelines.filter import run as run_filter
from clcm.pipelines.run import output_files
from clcm.schemas import input_records, layout, read_manifest, write_sharded
from clcm.schemas.tables import PAIR_SCHEMA

pytestmark = pytest.mark.timeout(180)


class Reads:
    """Counts, per path, the opens through clcm.storage (every hash and every object-store read goes through
    it), the sha256 calls and the worker-side Parquet opens of the score pipeline."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened, self.hashed, self.parquet = Counter(), Counter(), Counter()
        real_open, real_sha, real_pf = storage.open_read, storage.sha256, score.parquet_file
        monkeypatch.setattr(storage, "open_read", lambda p: self.opened.update([os.fspath(p)]) or real_open(p))
        monkeypatch.setattr(storage, "sha256", lambda p, *a: self.hashed.update([os.fspath(p)]) or real_sha(p, *a))
        monkeypatch.setattr(score, "parquet_file", lambda p: self.parquet.update([os.fspath(p)]) or real_pf(p))

    def clear(self) -> None:
        self.opened.clear(), self.hashed.clear(), self.parquet.clear()


def _digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def pairs(tmp_path: Path) -> list[str]:
    write_sharded(pair_rows(120, with_bt=True), tmp_path / "pairs", "pairs", PAIR_SCHEMA, 50)
    return layout.input_files(str(tmp_path / "pairs"), layout.PAIR_INPUTS)


def test_score_reads_each_input_once_and_records_what_its_writers_wrote(pairs, tmp_path, monkeypatch):
    reads = Reads(monkeypatch)
    out = tmp_path / "scored"
    config = score.ScoreConfig(str(tmp_path / "pairs"), str(out), combiner_pairs=100, batch_size=40, num_shards=2)
    manifest = score.run(config, runner=FnApiRunner())
    assert len(pairs) == 3
    assert {p: reads.opened[p] for p in pairs} == dict.fromkeys(pairs, 1)  # the driver's one read (and hash)
    assert {p: reads.parquet[p] for p in pairs} == dict.fromkeys(pairs, 1)  # the workers' one read
    assert not reads.hashed  # nothing hashed besides those bytes in hand
    shards = sorted(storage.match(layout.shard_pattern(str(out), "scored")))
    assert len(shards) == 2 and not any(reads.opened[s] for s in shards)  # no scored shard read back
    assert manifest.inputs == [{"path": p, "bytes": os.path.getsize(p), "sha256": _digest(p)} for p in pairs]
    on_disk = read_manifest(out).shards
    assert [s["name"] for s in on_disk] == [f"scored/{Path(s).name}" for s in shards]
    for rec, path in zip(on_disk, shards, strict=True):
        assert (rec["sha256"], rec["bytes"], rec["table"]) == (_digest(path), os.path.getsize(path), "scored_pairs")
    assert sum(s["rows"] for s in on_disk) == 120
    assert sorted(os.listdir(out / "scored")) == sorted(Path(s).name for s in shards)  # sidecars removed

    reads.clear()
    stamp = output_files(str(out))  # what `clcm-data run` stamps the stage with
    assert {f"scored/{Path(s).name}": _digest(s) for s in shards}.items() <= stamp.items()
    assert not any(reads.hashed[s] or reads.opened[s] for s in shards)  # taken from the manifest
    assert reads.hashed[str(out / "models" / "combiner.json")] == 1  # files it does not record are hashed

    reads.clear()
    filtered = run_filter(FilterConfig(str(out), str(tmp_path / "filtered")))
    assert not any(reads.hashed[s] or reads.opened[s] for s in shards)  # the input records, from the manifest
    assert filtered.inputs == [{"path": s, "bytes": os.path.getsize(s), "sha256": _digest(s)} for s in shards]


def test_a_recorded_hash_is_used_only_for_the_same_size(tmp_path):
    write_sharded(pair_rows(30, with_bt=False), tmp_path / "stage" / "pairs", "pairs", PAIR_SCHEMA, 20)
    files = [str(p) for p in sorted((tmp_path / "stage" / "pairs").iterdir())]
    recorded = [{"name": f"pairs/{Path(f).name}", "rows": 0, "bytes": os.path.getsize(f), "sha256": "0" * 64}
                for f in files]  # fmt: skip
    recorded[1]["bytes"] += 1  # this one changed since its manifest was written: hashed again
    (tmp_path / "stage" / "_manifest.json").write_text(json.dumps({"shards": recorded}))
    got = input_records(files)
    assert [r["sha256"] for r in got] == ["0" * 64, _digest(files[1])]
    (tmp_path / "stage" / "_manifest.json").unlink()  # a user's folder without a manifest: every file hashed
    assert [r["sha256"] for r in input_records(files)] == [_digest(f) for f in files]


def test_an_input_too_large_for_one_buffer_is_streamed(pairs, tmp_path, monkeypatch):
    monkeypatch.setattr(score, "ONE_READ_BYTES", 0)  # every file "too large": hashed in a stream, parsed from disk
    reads = Reads(monkeypatch)
    config = score.ScoreConfig(str(tmp_path / "pairs"), str(tmp_path / "out"), scorers=("copy", "length_ratio"))
    manifest = score.run(config, runner=FnApiRunner())
    assert manifest.inputs == [{"path": p, "bytes": os.path.getsize(p), "sha256": _digest(p)} for p in pairs]
    assert {p: reads.parquet[p] for p in pairs} == dict.fromkeys(pairs, 2)  # the driver's scan and the workers'
    assert manifest.counts["scored"] == 120


def test_inputs_that_are_not_pair_tables_are_one_clear_error_from_the_same_read(tmp_path):
    from clcm.errors import InputError
    from clcm.schemas import CAPTION_SCHEMA, write_rows

    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"a\.parquet is not a readable Parquet file"):
        score.run(score.ScoreConfig(str(tmp_path / "junk"), str(tmp_path / "out1")), runner=FnApiRunner())
    caption = {"caption_id": "1#en#0", "media_id": "1", "caption_index": 0, "lang": "en", "text": "A dog.",
               "origin": "human", "split": "train", "dataset": "toy"}  # fmt: skip
    write_rows([caption], tmp_path / "caps" / "captions.parquet", CAPTION_SCHEMA)
    with pytest.raises(InputError, match=r"captions\.parquet is not a pair table \(missing columns"):
        score.run(score.ScoreConfig(str(tmp_path / "caps"), str(tmp_path / "out2")), runner=FnApiRunner())
