"""Multi30K import on the shared task-1 data: counts, stable unique ids, determinism, reference pairs."""

from __future__ import annotations

import gzip

import pyarrow.compute as pc
import pytest
from formats_util import cli, counts, rows

from clcm.formats.multi30k import discover, strip_media_suffix

pytestmark = [pytest.mark.multi30k, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def full_import(multi30k_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("m30k") / "all"
    assert cli("import", "--format", "multi30k", multi30k_dir, "--out", out) == 0
    return out


def test_all_splits_and_languages(full_import, multi30k_dir):
    from clcm.schemas import CAPTION_SCHEMA, read_table

    c = counts(full_import)
    assert c["rejected"] == {} and c["read"] == c["kept"] == 4 * (29_000 + 1_014 + 1_000)
    t = read_table(full_import, CAPTION_SCHEMA, prefix="captions-")
    for lang in ("en", "de", "fr", "cs"):
        for split, n in (("train", 29_000), ("val", 1_014), ("test_2016", 1_000)):
            mask = pc.and_(pc.equal(t["lang"], lang), pc.equal(t["split"], split))
            assert pc.sum(mask).as_py() == n, (lang, split)
    ids = t["caption_id"].to_pylist()
    assert len(set(ids)) == len(ids)
    first = t.slice(0, 1).to_pylist()[0]
    images = (multi30k_dir / "test_2016_flickr.images.txt").read_text().split("\n")[0]
    assert (
        first["media_id"] == strip_media_suffix(images) and first["caption_id"] == f"{first['media_id']}#en#0"
    )  # source first
    assert set(t["origin"].to_pylist()) == {"human"} and set(t["dataset"].to_pylist()) == {"multi30k"}


def test_reimport_gives_identical_ids_and_bytes(full_import, multi30k_dir, tmp_path):
    out = tmp_path / "again"
    assert cli("import", "--format", "multi30k", multi30k_dir, "--out", out) == 0
    shards = sorted(p.relative_to(full_import).as_posix() for p in full_import.rglob("*.parquet"))
    assert shards and shards == sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet"))
    for name in shards:
        assert (full_import / name).read_bytes() == (out / name).read_bytes(), name


def test_subset_as_reference_pairs(multi30k_dir, tmp_path):
    out = tmp_path / "pairs"
    assert (
        cli("import", "-f", "multi30k", multi30k_dir, "-o", out, "--langs", "de", "--splits", "val", "--as-pairs") == 0
    )
    c = counts(out)
    assert c["rows"] == {"captions": 1_014, "pairs": 1_014, "rejects": 0}
    captions, pairs = rows(out, "captions"), rows(out, "pairs")
    assert {r["lang"] for r in captions} == {"en"}
    en = {r["caption_id"]: r["text"] for r in captions}
    for p in pairs:
        assert p["src_text"] == en[p["caption_id"]] and p["pair_id"] == p["caption_id"] + ">de"
        assert p["tgt_origin"] == "human" and p["mt_model"] is None and p["split"] == "val"
    with gzip.open(multi30k_dir / "val.de.gz", "rt", encoding="utf-8") as fh:
        assert pairs[0]["tgt_text"] == fh.readline().rstrip("\n")


def test_discover_ignores_readme_and_requires_images(tmp_path):
    (tmp_path / "README.md").write_text("x")
    (tmp_path / "train.images.txt").write_text("1.jpg\n")
    (tmp_path / "train.en").write_text("A.\n")
    found = discover([tmp_path])
    assert list(found) == ["train"] and list(found["train"].langs) == ["en"]
