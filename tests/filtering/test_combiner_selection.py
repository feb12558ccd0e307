"""Synthetic noise, the combiner (trained and fallback) and the selection rules (accounting, reasons, NRF)."""

from __future__ import annotations

import numpy as np
import pytest
from toy_corpus import toy_pairs

from clcm.filtering.base import HIGHER_IS_BETTER, LOWER_IS_BETTER
from clcm.filtering.combiner import Combiner, fit_combiner
from clcm.filtering.langid import LangIdScorer
from clcm.filtering.selection import FRACTION_REASON, NOISE_REASON, SelectionConfig, select
from clcm.filtering.synthetic_noise import CORRUPTIONS, Pair, corrupt, word_drop, word_swap

PAIRS = [Pair(s, t, s, "en", "cs") for s, t in toy_pairs(50)]


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_every_corruption_changes_the_target(kind):
    rng = np.random.default_rng(0)
    changed = [CORRUPTIONS[kind](p, PAIRS, rng) for p in PAIRS[:20]]
    assert sum(c.tgt != p.tgt for c, p in zip(changed, PAIRS, strict=False)) >= 15
    assert all(c.src == p.src and c.tgt_lang == "cs" for c, p in zip(changed, PAIRS, strict=False))


def test_drop_and_swap_change_exactly_one_content_word_and_keep_punctuation_and_case():
    rng = np.random.default_rng(0)
    cores = lambda words: [w.strip(".,").lower() for w in words]  # noqa: E731
    for p in PAIRS[:20]:
        t = p.tgt.split()
        dropped, swapped = word_drop(p, PAIRS, rng).tgt, word_swap(p, PAIRS, rng).tgt
        assert len(dropped.split()) == len(t) - 1 and all(w in cores(t) for w in cores(dropped.split()))
        changed = [(a, b) for a, b in zip(t, swapped.split(), strict=True) if a != b]
        assert len(changed) == 1 and sum(ch.isalpha() for ch in changed[0][0]) >= 4
        # an omission or a wrong word, not a truncation or a broken sentence: final stop and capital stay
        for noisy in (dropped, swapped):
            assert noisy[-1] == p.tgt[-1] and noisy[0].isupper() == p.tgt[0].isupper(), (p.tgt, noisy)
        assert "." not in swapped[:-1]


def test_corruptions_remember_the_target_they_were_made_from():
    noisy, types = corrupt(PAIRS, 80, seed=3)
    targets = {p.tgt for p in PAIRS}
    assert all(n.orig_tgt in targets for n in noisy)
    # a misaligned target is another corpus sentence: scored by that sentence's fold, like the sentence itself
    assert all((n.tgt == n.orig_tgt) == (t == "misaligned") for n, t in zip(noisy, types, strict=True))
    assert "misaligned" in types


def test_corrupt_is_seeded():
    a, ta = corrupt(PAIRS, 40, seed=5)
    b, tb = corrupt(PAIRS, 40, seed=5)
    c, _ = corrupt(PAIRS, 40, seed=6)
    assert a == b and ta == tb and a != c
    assert set(ta) <= set(CORRUPTIONS)


def _toy_scores(rng, n, shift):
    return {"good": rng.normal(1.0 - shift, 0.3, n), "bad": rng.normal(shift, 0.3, n)}


def test_combiner_learns_and_roundtrips(tmp_path):
    rng = np.random.default_rng(0)
    clean, noisy = _toy_scores(rng, 300, 0.0), _toy_scores(rng, 300, 1.0)
    dirs = {"good": HIGHER_IS_BETTER, "bad": LOWER_IS_BETTER}
    comb = fit_combiner(clean, noisy, dirs, seed=0, epochs=300)
    assert comb.kind == "mlp"
    test_clean, test_noisy = _toy_scores(rng, 100, 0.0), _toy_scores(rng, 100, 1.0)
    assert comb.predict(test_noisy).mean() > 0.8 > 0.2 > comb.predict(test_clean).mean()
    comb.save(tmp_path / "c.json")
    np.testing.assert_array_equal(Combiner.load(tmp_path / "c.json").predict(test_clean), comb.predict(test_clean))
    again = fit_combiner(clean, noisy, dirs, seed=0, epochs=300)
    np.testing.assert_array_equal(again.predict(test_clean), comb.predict(test_clean))  # deterministic


def test_combiner_falls_back_to_average_and_handles_nan():
    rng = np.random.default_rng(1)
    dirs = {"good": HIGHER_IS_BETTER, "bad": LOWER_IS_BETTER}
    comb = fit_combiner(_toy_scores(rng, 10, 0.0), _toy_scores(rng, 10, 1.0), dirs)
    assert comb.kind == "average"
    p = comb.predict({"good": np.array([1.0, 0.0, np.nan]), "bad": np.array([0.0, 1.0, np.nan])})
    assert p[0] < 0.5 < p[1] and 0 <= p[2] <= 1


def test_selection_threshold_fraction_rules_and_accounting():
    noise = np.array([0.1, 0.9, 0.2, 0.3, 0.05, 0.6])
    scores = {"langid": np.array([0.99, 0.99, 0.1, 0.99, 0.99, 0.99])}
    media = ["m1", "m1", "m2", "m2", "m3", "m3"]
    sel = select(noise, scores, media, SelectionConfig(threshold=0.5, keep_fraction=0.5, rules={"langid": None}))
    assert sel.reason == [None, NOISE_REASON, "wrong_language", FRACTION_REASON, None, NOISE_REASON]
    assert sel.keep.tolist() == [True, False, False, False, True, False]
    assert sel.keep.sum() + sum(r is not None for r in sel.reason) == len(noise)
    assert sel.rule_thresholds == {"langid": LangIdScorer.default_threshold}  # None: the scorer's own


def test_min_per_media_rescues_but_not_hard_rule_drops():
    noise = np.array([0.9, 0.8, 0.95, 0.1])
    scores = {"langid": np.array([0.99, 0.99, 0.0, 0.99])}
    sel = select(noise, scores, ["a", "a", "b", "c"], SelectionConfig(threshold=0.5, rules={"langid": 0.5},
                                                                   min_per_media=1))  # fmt: skip
    assert sel.keep.tolist() == [False, True, False, True]  # a: best of the two; b: wrong language stays out
    assert sel.reason == [NOISE_REASON, None, "wrong_language", None]


def test_nrf_selection_uses_quality_scores_or_noise():
    noise = np.array([0.1, 0.2, 0.3, 0.4])
    sel = select(noise, {}, list("abcd"), SelectionConfig(threshold=None, nrf_fraction=0.5))
    assert sel.nrf_selected.tolist() == [True, True, False, False]
    q = {"embedding": np.array([0.1, 0.9, 0.8, 0.2]), "bt_chrf": np.array([0.2, 0.9, 0.7, 0.1])}
    sel = select(noise, q, list("abcd"), SelectionConfig(threshold=0.35, nrf_fraction=0.5))
    assert sel.keep.tolist() == [True, True, True, False]
    assert sel.nrf_selected.tolist() == [False, True, True, False]  # top 2 of 3 kept by z(emb) + z(chrf)
    assert not (sel.nrf_selected & ~sel.keep).any()


def test_combiner_without_combinable_scorers_gives_nan():
    comb = fit_combiner({}, {}, {})
    assert np.isnan(comb.predict({"mt_logprob": np.zeros(3)})).all()
