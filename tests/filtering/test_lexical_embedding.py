"""The IBM-1 lexical scorers (fitted on a generated corpus) and the embedding scorers (tiny random BERT)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from toy_corpus import LEXICON, toy_pairs

from clcm.errors import UsageError
from clcm.filtering.base import BuildContext
from clcm.filtering.lexical import LexicalModel
from clcm.filtering.scoring import build_scorers, plan_scorers

LEX = ("lexical", "lexical_min", "lexical_cov", "lexical_gap_src", "lexical_gap_tgt")


@pytest.fixture(scope="module")
def model() -> LexicalModel:
    pairs = toy_pairs(400)
    return LexicalModel.fit([p[0] for p in pairs], [p[1] for p in pairs], stem=0)  # whole words: readable checks


def _scores(model, src, tgt):
    b = {"src_text": src, "tgt_text": tgt}
    return {s.name: s.score(b) for s in build_scorers(LEX, BuildContext(models={"lexical": model}))}


def test_lexical_learns_the_dictionary(model):
    for en, xx in list(LEXICON.items())[:8]:
        e, f = model.src_vocab.index[en], model.tgt_vocab.index[xx]
        assert model.s2t.lookup(np.array([e]), np.array([f]))[0] > np.log(0.5), (en, xx)


def test_lexical_scores_rank_noise_below_clean(model):
    src = ["A red dog runs in the park."] * 4
    tgt = [
        "Červený pes běží v parku.",  # clean
        "Modrý kočka sedí v pláži.",  # misaligned
        "Červený pes v parku.",  # content word dropped
        "Červený pes běží v klobouk.",  # content word swapped
    ]
    s = _scores(model, src, tgt)
    assert s["lexical"][0] > s["lexical"][1]
    assert s["lexical_cov"][0] > s["lexical_cov"][1]
    assert s["lexical_gap_src"][2] > s["lexical_gap_src"][0]  # the English "runs" lost its translation
    assert s["lexical_gap_tgt"][3] > s["lexical_gap_tgt"][0]  # "klobouk" has no source support
    assert s["lexical_min"][3] < s["lexical_min"][0]
    for name in LEX:  # the clean pair passes every default threshold, the misaligned one fails at least one
        assert build_scorers([name], BuildContext(models={"lexical": model}))[0].accept(s[name][:1]).all(), name
    assert not all(build_scorers([n], BuildContext(models={"lexical": model}))[0].accept(s[n][1:2])[0] for n in LEX)


def test_lexical_save_load_roundtrip(model, tmp_path):
    model.save(tmp_path / "lex.npz")
    loaded = LexicalModel.load(tmp_path / "lex.npz")
    src, tgt = ["A big cat eats in the street.", "x"], ["Velký kočka jí v ulici.", ""]
    a, b = model.features(src, tgt), loaded.features(src, tgt)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert np.isnan(a["mean_s2t"][1])  # a pair without words gets NaN, not a crash


def test_lexical_is_deterministic():
    pairs = toy_pairs(100, seed=3)
    src, tgt = [p[0] for p in pairs], [p[1] for p in pairs]
    a = LexicalModel.fit(src, tgt).features(src, tgt)
    b = LexicalModel.fit(src, tgt).features(src, tgt)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_missing_inputs_skip_scorers_with_a_note(caplog):
    caplog.set_level(logging.WARNING)
    names = plan_scorers(("copy", "bt_chrf", "mt_logprob", "embedding"), {"src_text": 3, "tgt_text": 3})
    assert names == ["copy"]
    text = caplog.text
    assert "bt_chrf skipped" in text and "mt_logprob skipped" in text and "embedding skipped" in text


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from clcm.testing.tiny_bert import build_tiny_bert

    texts = [t for p in toy_pairs(200) for t in p]
    return str(build_tiny_bert(tmp_path_factory.mktemp("bert"), texts, vocab_size=120))


def test_embedding_scorers_with_tiny_bert(tiny_bert):
    options = {"embedding": {"model": tiny_bert}, "embedding_bt": {"model": tiny_bert}}
    emb, emb_bt = build_scorers(("embedding", "embedding_bt"), BuildContext(options=options))
    b = {
        "src_text": ["A red dog runs in the park.", "A blue cat sits in the street."],
        "tgt_text": ["A red dog runs in the park.", "Modrý kočka sedí v ulici."],
        "bt_text": ["A red dog runs in the park.", None],
    }
    s, s_bt = emb.score(b), emb_bt.score(b)
    assert s.dtype == np.float32 and s[0] == pytest.approx(1.0, abs=1e-5) and -1 <= s[1] <= 1
    assert s_bt[0] == pytest.approx(1.0, abs=1e-5) and np.isnan(s_bt[1])
    np.testing.assert_array_equal(s, emb.score(b))  # deterministic (cached or not)


def test_embedding_without_model_is_an_error_not_a_crash_later():
    with pytest.raises(UsageError, match="embedder"):
        build_scorers(("embedding",))


def test_crossfit_scores_each_pair_with_a_model_that_never_saw_its_source(tmp_path):
    from clcm.filtering.lexical import CrossFitLexical, fold_of

    pairs = toy_pairs(300) + [("A purple zebra dances in the park.", "Fialová zebra tančí v parku.")]
    src, tgt = [p[0] for p in pairs], [p[1] for p in pairs]
    cf = CrossFitLexical.fit(src, tgt, folds=2, stem=0)
    k = fold_of(src[-1], 2)
    zebra = cf.models[k].src_vocab.index["zebra"]  # one vocabulary; the word is unknown to the model that never saw it
    assert not cf.models[k].known_src[zebra] and cf.models[1 - k].known_src[zebra]
    crossed = cf.features(src[-2:], tgt[-2:])  # routed per pair to the model of its own fold
    for j, i in enumerate((len(src) - 2, len(src) - 1)):
        own = cf.models[fold_of(src[i], 2)].features([src[i]], [tgt[i]])
        assert all(crossed[name][j] == own[name][0] for name in own)
    cf.save(tmp_path / "cf.npz")
    again = CrossFitLexical.load(tmp_path / "cf.npz").features(src[:50], tgt[:50])
    for name, values in cf.features(src[:50], tgt[:50]).items():
        np.testing.assert_array_equal(values, again[name])
