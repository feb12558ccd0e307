from __future__ import annotations

from clcm.pipelines.cache import cache_path, default_cache_dir, load_entries, write_entries
from clcm.translation import DecodeSettings, ModelSpec, Translation


def test_cache_parts_round_trip_and_accumulate(tmp_path):
    spec = ModelSpec("m", "en", "cs", revision="r1")
    d = cache_path(str(tmp_path), spec)
    assert load_entries(d) == {}  # no directory yet: an empty cache
    write_entries(d, [("A dog.", Translation("Pes.", -0.5, 3))], spec.cache_fields())
    write_entries(d, [("A cat.", Translation("Kočka.", -0.25, 4))], spec.cache_fields())
    assert load_entries(d) == {"A dog.": Translation("Pes.", -0.5, 3), "A cat.": Translation("Kočka.", -0.25, 4)}
    assert not [p for p in (tmp_path).rglob("*.tmp")]  # atomic writes leave no temp files


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


def test_default_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CLCM_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == str(tmp_path / "c")
    monkeypatch.delenv("CLCM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == str(tmp_path / "x" / "clcm" / "translations")
