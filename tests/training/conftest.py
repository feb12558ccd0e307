"""Fixtures for training tests: a tiny random BERT and a small learnable toy corpus (pair shards + features)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training_toy import PAIR_SRC, PAIR_TGT, de_text, en_text, features_of, pair_row, toy_items

from clcm.schemas.io import write_rows
from clcm.schemas.tables import CAPTION_SCHEMA, PAIR_SCHEMA
from clcm.testing.tiny_bert import build_tiny_bert


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    texts = []
    for a, b, v in toy_items(200, 0):
        texts += [en_text(a, b, v).capitalize() + ".", de_text(a, b, v)]
    return build_tiny_bert(tmp_path_factory.mktemp("tinybert"), texts, hidden=32, layers=2, heads=2, vocab_size=120)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A smaller BERT whose vocabulary covers PAIR_SRC/PAIR_TGT (the CL2CM and NRF objective tests)."""
    return build_tiny_bert(
        tmp_path_factory.mktemp("bert"), PAIR_SRC + PAIR_TGT, hidden=16, layers=1, heads=2, intermediate=32
    )


@pytest.fixture(scope="session")
def toy_corpus(tmp_path_factory) -> dict[str, Path]:
    """48 train images (2 captions each), 16 val images; pair shards, val captions Parquet and .npy features."""
    root = tmp_path_factory.mktemp("toy")
    train_items, val_items = toy_items(48, 1), toy_items(16, 2)
    rows = []
    for i, (a, b, v) in enumerate(train_items):
        for k in range(2):
            rows.append(pair_row(f"tr{i}", k, "train", en_text(a, b, v), de_text(a, b, v), en_text(a, b, v)))
    (root / "shards").mkdir()
    write_rows(rows[:50], root / "shards" / "pairs-00000-of-00002.parquet", PAIR_SCHEMA)
    write_rows(rows[50:], root / "shards" / "pairs-00001-of-00002.parquet", PAIR_SCHEMA)
    caps = []
    for i, (a, b, v) in enumerate(val_items):
        base = {"media_id": f"va{i}", "caption_index": 0, "split": "val", "dataset": "toy"}
        caps.append({**base, "caption_id": f"va{i}#de#0", "lang": "de", "text": de_text(a, b, v), "origin": "human"})
        caps.append({**base, "caption_id": f"va{i}#en#0", "lang": "en", "text": en_text(a, b, v), "origin": "mt"})
    write_rows(caps, root / "val.parquet", CAPTION_SCHEMA)
    ids = [f"tr{i}" for i in range(48)] + [f"va{i}" for i in range(16)]
    np.save(root / "feats.npy", np.concatenate([features_of(train_items), features_of(val_items)]))
    (root / "feats.ids.txt").write_text("\n".join(ids) + "\n")
    return {"root": root, "shards": root / "shards", "val": root / "val.parquet", "features": root / "feats.npy"}
