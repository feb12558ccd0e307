"""The target-side fluency scorers: Kneser-Ney LM, gap/swap features, cross-fitting folds, persistence."""

from __future__ import annotations

import math

import numpy as np
import pytest
from toy_corpus import toy_pairs

from clcm.filtering.fluency import CrossFitFluency, FluencyModel, KneserNey, ngram_counts
from clcm.filtering.lexical import LexicalModel, fold_of, words
from clcm.filtering.scoring import build_scorers

FLUENCY = ("fluency_suffix", "fluency_gap", "fluency_swap")
TARGETS = [t for _, t in toy_pairs(400)]


@pytest.fixture(scope="module")
def model() -> CrossFitFluency:
    return CrossFitFluency.fit(TARGETS, folds=2)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_kneser_ney_is_a_distribution(order):
    sentences = [words(t) for t in TARGETS[:60]]
    lm = KneserNey(ngram_counts(sentences, order), order)
    vocab = {g[-1] for g in lm.top}
    for history in (["<s>"] * (order - 1), ["pes", "běží", "v"][-(order - 1) :], ["neznámé"] * (order - 1)):
        total = sum(lm.prob(history, w) for w in vocab) + lm.prob(history, "<unseen>")
        assert total == pytest.approx(1.0, abs=1e-9), history


def test_fluency_scores_rank_broken_targets_below_clean(model):
    tgt = [
        "Červený pes běží v parku.",  # clean
        "Červený pes v parku.",  # the verb dropped: "pes" is never followed by "v"
        "Červený pes běží v kočka.",  # a subject swapped in where a place belongs
        "Parku v běží pes červený.",  # word endings in an impossible order
    ]
    b = {"src_text": ["A red dog runs in the park."] * 4, "tgt_text": tgt}
    s = {sc.name: sc.score(b) for sc in build_scorers(FLUENCY, fluency_model=model)}
    assert s["fluency_gap"][1] > s["fluency_gap"][0] + 3
    assert s["fluency_swap"][2] > s["fluency_swap"][0] + 3
    assert s["fluency_suffix"][3] < s["fluency_suffix"][0] - 1
    for name in FLUENCY:  # the clean target passes every default threshold
        assert build_scorers([name], fluency_model=model)[0].accept(s[name][:1]).all(), name


def test_each_target_is_scored_by_the_model_that_never_saw_it(model):
    text = TARGETS[0]
    k = fold_of(text, 2)
    own = model.models[k].features(text)
    assert model.features([text], [None])["gap"][0] == pytest.approx(own[1])
    # the fold model did not see the sentence, the other one did: the sentence is likelier under the other one
    seen = model.models[1 - k].bigram
    unseen = model.models[k].bigram
    first = words(text)[:2]
    assert seen.top.get(("<s>", first[0]), 0) > 0
    assert seen.prob(first[:1], first[1]) >= unseen.prob(first[:1], first[1])
    # a corruption is scored by the fold of the target it was made from (orig_tgt_text), not its own text
    noisy = "Červený pes v parku."
    via_orig = model.features([noisy], [text])
    assert via_orig["gap"][0] == pytest.approx(model.models[k].features(noisy)[1])


def test_fluency_save_load_roundtrip_and_empty_text(model, tmp_path):
    model.save(tmp_path / "flu.npz")
    loaded = CrossFitFluency.load(tmp_path / "flu.npz")
    texts = ["Velký kočka jí v ulici.", "", "?!"]
    a, b = model.features(texts, [None] * 3), loaded.features(texts, [None] * 3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        assert np.isnan(a[k][1]) and np.isnan(a[k][2])  # no words: NaN, not a crash


def test_gap_is_the_probability_of_one_word_between():
    m = FluencyModel.fit(["a x b", "a y b", "a x c", "d b"])
    # p(x|a) = 2/3, p(y|a) = 1/3; p(b|x) = 1/2, p(b|y) = 1
    assert m.p_between("a", "b") == pytest.approx(2 / 3 * 1 / 2 + 1 / 3 * 1)
    assert m.p_between("a", "zzz") == 0.0
    assert not math.isnan(m.features("a b")[1])


def test_lexical_fluency_needs_both_signals_on_the_same_word(model):
    pairs = toy_pairs(400)
    lexical = LexicalModel.fit([p[0] for p in pairs], [p[1] for p in pairs], stem=0)
    scorer = build_scorers(["lexical_fluency"], lexical_model=lexical, fluency_model=model)[0]
    src = ["A red dog runs in the park."] * 4
    tgt = [
        "Červený pes běží v parku.",  # clean
        "Červený pes běží v kočka.",  # "kočka": no source support AND out of place after "v"
        "Červený pes běží v ulici.",  # a wrong place: no source support, but a fluent one
        "",
    ]
    s = scorer.score({"src_text": src, "tgt_text": tgt})
    assert s[1] > s[2] > s[0]
    assert np.isnan(s[3])
    assert scorer.accept(s[:1]).all() and not scorer.accept(s[1:2]).any()
    with pytest.raises(ValueError, match="lexical model and a fitted fluency"):
        build_scorers(["lexical_fluency"], lexical_model=lexical)
