"""Feature stores (.npy, BigFile, Parquet), pair loading with filters/weights, and query sets."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from training_toy import pair_row

from clcm.errors import InputError
from clcm.schemas.io import write_rows
from clcm.schemas.tables import PAIR_SCHEMA, scored_pair_schema
from clcm.training.config import TrainConfig
from clcm.training.data import clean_english, load_pairs, load_queries, strip_accents_lower
from clcm.training.features import load_features


def test_npy_with_explicit_ids_and_missing_ids_error(tmp_path):
    np.save(tmp_path / "f.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    (tmp_path / "ids.txt").write_text("a\nb\nc\n")
    store = load_features(f"{tmp_path / 'f.npy'}:{tmp_path / 'ids.txt'}")
    assert store.get("b").tolist() == [4, 5, 6, 7] and not store.is_frames
    with pytest.raises(InputError, match="2 media id"):
        store.check(["a", "x", "y", "x"], "the test")


def test_npy_without_id_list_is_a_clear_error(tmp_path):
    np.save(tmp_path / "g.npy", np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(InputError, match="no id list"):
        load_features(str(tmp_path / "g.npy"))


def test_bigfile_with_video2frames(tmp_path):
    d = tmp_path / "big"
    d.mkdir()
    mat = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    mat.tofile(d / "feature.bin")
    (d / "shape.txt").write_text("5 3")
    (d / "id.txt").write_text("v1_0 v1_1\nv1_2 v2_0  v2_1")
    (d / "video2frames.txt").write_text("{'v1': ['v1_0', 'v1_1', 'v1_2'], 'v2': ['v2_0', 'v2_1']}")
    store = load_features(str(d))
    assert store.is_frames and store.dim == 3 and sorted(store.media_ids()) == ["v1", "v2"]
    assert np.array_equal(store.get("v2"), mat[3:5]) and store.get("v1", max_frames=2).shape == (2, 3)
    (d / "video2frames.txt").write_text("__import__('os').system('echo unsafe')")
    with pytest.raises(InputError, match="dict literal"):
        load_features(str(d))


def test_parquet_features_joined_with_npy(tmp_path):
    pq.write_table(pa.table({"media_id": ["p1", "p2"], "vector": [[1.0, 2.0], [3.0, 4.0]]}), tmp_path / "f.parquet")
    np.save(tmp_path / "n.npy", np.ones((1, 2), dtype=np.float32))
    (tmp_path / "n.ids.txt").write_text("n1\n")
    store = load_features(f"{tmp_path / 'f.parquet'},{tmp_path / 'n.npy'}")
    assert store.get("p2").tolist() == [3.0, 4.0] and store.get("n1").tolist() == [1.0, 1.0]


def _scored(tmp_path):
    schema = scored_pair_schema(["chrf"])
    rows = []
    for i, (keep, score, split, lang) in enumerate(
        [(True, 0.9, "train", "de"), (False, 0.9, "train", "de"), (True, 0.1, "train", "de"),
         (None, 0.8, "train", "de"), (True, 0.9, "val", "de"), (True, 0.9, "train", "fr")]
    ):  # fmt: skip
        r = pair_row(f"m{i}", 0, split, f"a dog {i}", f"ein hund {i}", None)
        rows.append({**r, "tgt_lang": lang, "score_chrf": score, "keep": keep, "nrf_selected": i % 2 == 0})
    write_rows(rows, tmp_path / "scored.parquet", schema)
    return tmp_path / "scored.parquet"


def test_load_pairs_filters_and_accounts_for_every_row(tmp_path):
    path = _scored(tmp_path)
    cfg = TrainConfig(shards=str(path), tgt_lang="de", min_score={"score_chrf": 0.5}, weight_column="score_chrf")
    pairs = load_pairs(cfg)
    assert pairs.media_ids == ["m0", "m3"]
    assert pairs.counts == {"read": 6, "dropped_other_tgt_lang": 1, "dropped_other_split": 1, "dropped_filtered": 1,
                            "dropped_below_score_chrf": 1, "kept": 2}  # fmt: skip
    assert pairs.weight.tolist() == pytest.approx([0.9, 0.8]) and pairs.nrf_selected.tolist() == [True, False]
    assert pairs.bt is None
    with pytest.raises(InputError, match="several target languages"):
        load_pairs(TrainConfig(shards=str(path)))
    with pytest.raises(InputError, match="no training pairs"):
        load_pairs(TrainConfig(shards=str(path), tgt_lang="de", min_score={"score_chrf": 2.0}))


def test_queries_from_pair_shards_human_reference_and_human_source(tmp_path):
    rows = [pair_row("m1", 0, "test", "a dog", "ein hund", "one dog", origin="human")]
    src_de = pair_row("m2", 0, "test", "eine katze", "a cat", None)
    rows.append({**src_de, "src_lang": "de", "tgt_lang": "en", "pair_id": "m2#de#0>en", "caption_id": "m2#de#0"})
    write_rows(rows, tmp_path / "q.parquet", PAIR_SCHEMA)
    q = load_queries(str(tmp_path / "q.parquet"), "de")
    assert q.media_ids == ["m1", "m2"]
    assert q.views == {"tgt": ["ein hund", "eine katze"], "mt_en": ["one dog", "a cat"]}


def test_queries_from_caption_parquet(toy_corpus):
    q = load_queries(str(toy_corpus["val"]), "de")
    assert len(q.media_ids) == 16 and q.views["tgt"][0].startswith("ein ") and q.views["mt_en"][0].startswith("a ")


def test_text_preprocessing():
    assert clean_english("two dogs, playing!") == "Two dogs playing."
    assert clean_english("A man ... runs") == "A man runs."
    assert strip_accents_lower("Ein Mädchen läuft, élan") == "ein madchen lauft, elan"


def test_all_null_nrf_selected_means_no_mask(tmp_path):
    schema = scored_pair_schema(["chrf"])
    rows = [{**pair_row(f"m{i}", 0, "train", f"a dog {i}", f"ein hund {i}", None), "tgt_lang": "de",
             "score_chrf": 0.9, "keep": True, "nrf_selected": None} for i in range(3)]  # fmt: skip
    write_rows(rows, tmp_path / "scored.parquet", schema)
    assert load_pairs(TrainConfig(shards=str(tmp_path / "scored.parquet"), tgt_lang="de")).nrf_selected is None
