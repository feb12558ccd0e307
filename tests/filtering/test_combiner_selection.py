"""Synthetic noise, the combiner (trained and fallback) and the selection rules (accounting, reasons, NRF)."""

from __future__ import annotations

import numpy as np
import pytest
from toy_corpus import toy_pairs

from clcm.filtering.base import HIGHER_IS_BETTER, LOWER_IS_BETTER
from clcm.filtering.combiner import RULE_FLOOR, Combiner, fit_combiner, fold_of
from clcm.filtering.langid import LangIdScorer
from clcm.filtering.selection import FRACTION_REASON, NOISE_REASON, SelectionConfig, select
from clcm.filtering.synthetic_noise import (
    CORRUPTIONS,
    Pair,
    code_mixed,
    corrupt,
    repetition_loop,
    word_drop,
    word_swap,
)

PAIRS = [Pair(s, t, s, "en", "cs") for s, t in toy_pairs(50)]


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_every_corruption_changes_the_target(kind):
    rng = np.random.default_rng(0)
    changed = [CORRUPTIONS[kind](p, PAIRS, rng) for p in PAIRS[:20]]
    assert sum(c.tgt != p.tgt for c, p in zip(changed, PAIRS, strict=False)) >= 15
    assert all(c.src == p.src and c.tgt_lang == "cs" for c, p in zip(changed, PAIRS, strict=False))


def test_drop_and_swap_change_one_to_three_content_words_and_keep_punctuation_and_case():
    rng = np.random.default_rng(0)
    cores = lambda words: [w.strip(".,").lower() for w in words]  # noqa: E731
    counts = []
    for p in PAIRS[:40]:
        t = p.tgt.split()
        dropped, swapped = word_drop(p, PAIRS, rng).tgt, word_swap(p, PAIRS, rng).tgt
        assert 1 <= len(t) - len(dropped.split()) <= 3 and all(w in cores(t) for w in cores(dropped.split()))
        changed = [(a, b) for a, b in zip(t, swapped.split(), strict=True) if a != b]
        assert 1 <= len(changed) <= 3 and all(sum(ch.isalpha() for ch in a) >= 4 for a, _ in changed)
        counts.append(len(changed))
        # an omission or a wrong word, not a truncation or a broken sentence: final stop and capital stay
        for noisy in (dropped, swapped):
            assert noisy[-1] == p.tgt[-1] and noisy[0].isupper() == p.tgt[0].isupper(), (p.tgt, noisy)
        assert "." not in swapped[:-1]
    assert counts.count(1) > len(counts) / 2 and max(counts) > 1  # mostly one word, sometimes more


def test_loops_cover_the_end_of_the_sentence_without_final_punctuation_and_many_lengths():
    rng = np.random.default_rng(0)
    loops = [repetition_loop(p, PAIRS, rng).tgt for p in PAIRS for _ in range(4)]
    open_ended = [t for t in loops if not t.endswith(".")]
    assert len(open_ended) > len(loops) / 4  # a decoder that ran to max length ends mid-loop
    extra = sorted(len(t.split()) - 5 for t in loops)  # toy targets have 5 words
    assert extra[0] <= 2 and extra[-1] >= 12


def test_code_mixed_targets_mix_in_foreign_words():
    rng = np.random.default_rng(0)
    own = {w.strip(".").lower() for q in PAIRS for w in q.tgt.split()}
    english = {w.strip(".").lower() for q in PAIRS for w in q.src.split()}
    kinds = set()
    for p in PAIRS:
        mixed = code_mixed(p, PAIRS, rng).tgt.split()
        assert len(mixed) == len(p.tgt.split())
        foreign = [w.strip(".").lower() for w in mixed if w.strip(".").lower() not in own]
        assert 1 <= len(foreign) < len(mixed)
        kinds.add("source words" if all(w in english for w in foreign) else "pseudo-language")
    assert kinds == {"source words", "pseudo-language"}


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


DIRS = {"good": HIGHER_IS_BETTER, "bad": LOWER_IS_BETTER}


def _keys(n, tag):
    return [f"{tag} source {i}" for i in range(n)]


def test_combiner_learns_and_roundtrips(tmp_path):
    rng = np.random.default_rng(0)
    clean, noisy = _toy_scores(rng, 300, 0.0), _toy_scores(rng, 300, 1.0)
    comb = fit_combiner(clean, noisy, DIRS, seed=0, epochs=300)
    assert comb.kind == "mlp" and len(comb.folds) == 3
    test_clean, test_noisy = _toy_scores(rng, 100, 0.0), _toy_scores(rng, 100, 1.0)
    assert comb.predict(test_noisy).mean() > 0.9 > 0.6 > comb.predict(test_clean).mean()
    comb.save(tmp_path / "c.json")
    keys = _keys(100, "t")
    loaded = Combiner.load(tmp_path / "c.json")
    np.testing.assert_array_equal(loaded.predict(test_clean, keys), comb.predict(test_clean, keys))
    again = fit_combiner(clean, noisy, DIRS, seed=0, epochs=300)
    np.testing.assert_array_equal(again.predict(test_clean, keys), comb.predict(test_clean, keys))  # deterministic


def test_combiner_scores_do_not_depend_on_the_batch():
    """Tied pairs (a small corpus repeats its captions) sit on a step of the calibration table; the last bits of a
    matrix product, which differ with the batch size, must not move them."""
    rng = np.random.default_rng(7)
    clean = {k: np.round(v, 1) for k, v in _toy_scores(rng, 300, 0.0).items()}  # many exact ties
    comb = fit_combiner(clean, _toy_scores(rng, 300, 1.0), DIRS, clean_keys=_keys(300, "c"), seed=0, epochs=200)
    keys = _keys(300, "c")
    whole = comb.predict(clean, keys)
    parts = np.concatenate([comb.predict({k: v[i : i + 7] for k, v in clean.items()}, keys[i : i + 7])
                            for i in range(0, 300, 7)])  # fmt: skip
    np.testing.assert_array_equal(whole, parts)


def test_combiner_falls_back_to_average_and_handles_nan():
    rng = np.random.default_rng(1)
    comb = fit_combiner(_toy_scores(rng, 10, 0.0), _toy_scores(rng, 10, 1.0), DIRS)
    assert comb.kind == "average"
    p = comb.predict({"good": np.array([1.0, 0.0, np.nan]), "bad": np.array([0.0, 1.0, np.nan])})
    assert p[0] < 0.5 < p[1] and 0 <= p[2] <= 1


def test_combiner_is_monotone_and_one_sided_so_no_extreme_value_looks_clean():
    """Moving any score away from the clean median, in either direction and far past the training range, never
    lowers noise_score (a target far too long, a worst word that is 'too good' on a short target)."""
    rng = np.random.default_rng(2)
    clean, noisy = _toy_scores(rng, 300, 0.0), _toy_scores(rng, 300, 1.0)
    comb = fit_combiner(clean, noisy, DIRS, seed=0, epochs=300)
    base = {"good": np.full(9, 1.0), "bad": np.full(9, 0.0)}
    steps = np.array([0.0, 0.3, 1.0, 3.0, 10.0, 100.0, 1e4, -1.0, -1e4])
    for name in DIRS:
        for sign in (1.0, -1.0):
            moved = dict(base, **{name: base[name] + sign * np.abs(steps)})
            p = comb.predict(moved)
            assert np.all(np.diff(p[1:7]) >= -1e-7), (name, sign, p)  # from 0.3 (past every fold's median) on
    far = comb.predict({"good": np.array([1.0, -1e6]), "bad": np.array([1e6, 0.0])})
    assert far.min() > 0.99  # no clipping: far beyond every training value is far noisier


def test_a_decisive_rule_is_never_out_voted():
    """A pair every other scorer calls perfectly clean but langid calls another language scores as noise."""
    rng = np.random.default_rng(3)
    n = 300
    clean = {"langid": rng.uniform(0.9, 1.0, n), "lexical": rng.normal(-3, 0.5, n)}
    # the synthetic noise never shows a wrong language: the network alone learns to ignore langid
    noisy = {"langid": rng.uniform(0.9, 1.0, n), "lexical": rng.normal(-8, 0.5, n)}
    dirs = {"langid": LangIdScorer.direction, "lexical": HIGHER_IS_BETTER}
    comb = fit_combiner(clean, noisy, dirs, seed=0, epochs=300)
    assert comb.rules == {"langid": LangIdScorer.default_threshold}  # only the decisive scorers present
    p = comb.predict({"langid": np.array([0.0, 0.39, 0.41, 0.95]), "lexical": np.array([-2.0, -2.0, -2.0, -2.0])})
    assert p[0] >= p[1] >= RULE_FLOOR > p[2] and p[3] < 0.9
    no_rules = fit_combiner(clean, noisy, dirs, seed=0, epochs=300, rules={})
    assert no_rules.predict({"langid": np.array([0.0]), "lexical": np.array([-2.0])})[0] < RULE_FLOOR


def test_corpus_pairs_a_rule_rejects_are_not_taught_as_clean():
    """A corpus with 20% wrong-language pairs (bad lexical fit too): left in the clean class they would teach the
    network that a bad lexical fit is normal; as rule rejects they are left out, and a misaligned pair stays noisy."""
    rng = np.random.default_rng(6)
    n = 600
    foreign = rng.random(n) < 0.2
    clean = {"langid": np.where(foreign, 0.0, rng.uniform(0.9, 1.0, n)),
             "lexical": np.where(foreign, rng.normal(-8, 0.5, n), rng.normal(-3, 0.5, n))}  # fmt: skip
    noisy = {"langid": rng.uniform(0.9, 1.0, n), "lexical": rng.normal(-6, 1.5, n)}
    dirs = {"langid": LangIdScorer.direction, "lexical": HIGHER_IS_BETTER}
    ruled = fit_combiner(clean, noisy, dirs, seed=0, epochs=300)
    unruled = fit_combiner(clean, noisy, dirs, seed=0, epochs=300, rules={})
    assert ruled.info["rule_rejected_in_sample"] == foreign.sum()
    probe = {"langid": np.array([0.95]), "lexical": np.array([-4.0])}  # a lexical fit worse than any clean pair's
    assert ruled.predict(probe)[0] > unruled.predict(probe)[0] + 0.1


def test_cross_fitting_scores_each_pair_with_a_combiner_that_never_saw_it():
    """A group of odd pairs in the clean class (one source: one fold) looks clean to a combiner trained on them but
    noisy to the cross-fitted one, which scores them with the fold that left them out."""
    rng = np.random.default_rng(4)
    clean, noisy = _toy_scores(rng, 400, 0.0), _toy_scores(rng, 400, 1.0)
    clean = {k: np.concatenate([v, np.full(40, 0.55 if k == "bad" else 0.45)]) for k, v in clean.items()}
    keys = _keys(400, "c") + ["the odd source"] * 40
    odd = {k: v[-40:] for k, v in clean.items()}
    crossfit = fit_combiner(clean, noisy, DIRS, clean_keys=keys, noisy_keys=_keys(400, "n"), seed=0, epochs=400)
    single = fit_combiner(clean, noisy, DIRS, clean_keys=keys, noisy_keys=_keys(400, "n"), seed=0, epochs=400,
                          folds=1)  # fmt: skip
    k = fold_of("the odd source", 3)
    assert crossfit.raw(odd, ["the odd source"] * 40).mean() > single.raw(odd, ["the odd source"] * 40).mean()
    # the fold that scored them is the one trained without them
    np.testing.assert_allclose(crossfit.raw(odd, ["the odd source"] * 40), crossfit._fold_raw(
        np.stack([odd[n] for n in crossfit.names], axis=1), crossfit.folds[k]))  # fmt: skip


def test_noise_score_is_calibrated_to_the_clean_rejection_rate():
    """On a corpus with 20% noise of its own, a threshold t drops about 1 - t of the clean pairs, and the combiner
    states that rate; the noise share estimate is an upper bound near the truth."""
    rng = np.random.default_rng(5)
    n = 3000
    corpus = _toy_scores(rng, n, 0.0)
    is_noise = rng.random(n) < 0.2
    for k, v in _toy_scores(rng, n, 1.0).items():
        corpus[k] = np.where(is_noise, v, corpus[k])
    comb = fit_combiner(corpus, _toy_scores(rng, n, 1.0), DIRS, clean_keys=_keys(n, "c"), seed=0, epochs=300)
    assert 0.15 <= comb.info["noise_share_estimate"] <= 0.3
    fresh_clean = _toy_scores(rng, 4000, 0.0)
    noise = comb.predict(fresh_clean)
    for t in (0.9, 0.95, 0.97):
        assert abs((noise > t).mean() - (1 - t)) < 0.02, t
        assert abs(comb.expected_clean_rejection(t) - (1 - t)) < 0.02


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
    assert sel.rescued.tolist() == [False, True, False, False]  # kept despite its score; c passed on its own


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
