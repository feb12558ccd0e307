"""The target-side fluency scorers: vectorised n-gram models (against a plain-dict reference), gap/swap features,
cross-fitting folds, persistence, and the joint lexical+fluency scorer."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from toy_corpus import toy_pairs

from clcm.errors import ModelError
from clcm.filtering.base import BuildContext
from clcm.filtering.fluency_crossfit import CrossFitFluency
from clcm.filtering.fluency_model import EOS, UNK, ngram_windows, suffixes
from clcm.filtering.lexical import LexicalModel, fold_of, words
from clcm.filtering.model_files import save_model
from clcm.filtering.ngram import DISCOUNT, BigramTable, KneserNeyLM, encode
from clcm.filtering.scoring import build_scorers

FLUENCY = ("fluency_suffix", "fluency_gap", "fluency_swap")
TARGETS = [t for _, t in toy_pairs(400)]
MULTI30K_LIKE = [  # varied enough that higher orders, back-off and unseen contexts all occur
    "Muž v modrém tričku stojí na ulici.", "Žena v červeném kabátě jde po ulici.", "Dva psi běží po trávě.",
    "Malá holčička si hraje s míčem na pláži.", "Muž stojí vedle modrého auta.", "Pes skáče do vody.",
    "Skupina lidí stojí na ulici.", "Žena drží malého psa.", "Chlapec v modrém skáče do vody.",
]  # fmt: skip


@pytest.fixture(scope="module")
def model() -> CrossFitFluency:
    return CrossFitFluency.fit(TARGETS, folds=2)


class ReferenceKneserNey:
    """Textbook interpolated Kneser-Ney over tuples in dicts (slow, obviously right) to check the numpy one."""

    def __init__(self, sentences: list[list[int]], order: int) -> None:
        self.order = order
        padded = [[0] * (order - 1) + s + [EOS] for s in sentences]
        self.top = Counter(tuple(p[i - order + 1 : i + 1]) for p in padded for i in range(order - 1, len(p)))
        self.cont = {}
        longer = set(self.top)
        for length in range(order - 1, 0, -1):
            self.cont[length] = Counter(g[1:] for g in longer)
            longer = set(self.cont[length])
        self.vocab_size = len(self.cont[1]) + 1 if order > 1 else len(self.top) + 1

    def prob(self, history: tuple[int, ...], word: int) -> float:
        p = 1.0 / self.vocab_size
        for length in range(1, self.order + 1):
            table = self.top if length == self.order else self.cont[length]
            ctx = history[len(history) - (length - 1) :] if length > 1 else ()
            rows = {g: c for g, c in table.items() if g[:-1] == ctx}
            total = sum(rows.values())
            if total:
                p = max(rows.get((*ctx, word), 0) - DISCOUNT, 0) / total + DISCOUNT * len(rows) / total * p
        return p


def _ids(texts: list[str]) -> tuple[list[list[int]], int]:
    index = {"<s>": 0, "</s>": 1, "<unk>": 2}
    seqs = [[index.setdefault(w, len(index)) for w in words(t)] for t in texts]
    return seqs, len(index)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_kneser_ney_matches_the_reference_and_is_a_distribution(order):
    seqs, radix = _ids(MULTI30K_LIKE)
    windows, _ = ngram_windows([np.array(s) for s in seqs], order)
    keys, counts = np.unique(encode(windows, radix), return_counts=True)
    lm, ref = KneserNeyLM(keys, counts, order, radix), ReferenceKneserNey(seqs, order)
    rng = np.random.default_rng(0)
    histories = [tuple(w[:-1]) for w in windows[:6]] + [tuple(rng.integers(0, radix, order - 1)) for _ in range(4)]
    for h in histories:
        words_ = np.arange(radix)  # every id; UNK (2) is never counted: it stands for any unseen word
        p = lm.prob(np.tile(np.array(h, dtype=np.int64), (len(words_), 1)), words_)
        np.testing.assert_allclose(p, [ref.prob(h, int(w)) for w in words_], rtol=1e-12)
        predicted = set(lm.levels[0][0].tolist())  # words seen after some history; the rest share the unseen mass
        assert UNK not in predicted
        assert p[sorted(predicted)].sum() + p[UNK] == pytest.approx(1.0, abs=1e-12), h


def test_between_is_the_probability_of_one_word_between():
    # ids: a=3 x=4 y=5 b=6 c=7 d=8; sentences a x b / a y b / a x c / d b (no BOS/EOS needed here)
    pairs = [(3, 4), (4, 6), (3, 5), (5, 6), (3, 4), (4, 7), (8, 6)]
    keys, counts = np.unique([a * 10 + b for a, b in pairs], return_counts=True)
    table = BigramTable(keys, counts, 10)
    # p(x|a) = 2/3, p(y|a) = 1/3; p(b|x) = 1/2, p(b|y) = 1
    got = table.between(np.array([3, 3, 8]), np.array([6, 9, 6]))
    np.testing.assert_allclose(got, [2 / 3 * 1 / 2 + 1 / 3 * 1, 0.0, 0.0])


def test_fluency_scores_rank_broken_targets_below_clean(model):
    tgt = [
        "Červený pes běží v parku.",  # clean
        "Červený pes v parku.",  # the verb dropped: "pes" is never followed by "v"
        "Červený pes běží v kočka.",  # a subject swapped in where a place belongs
        "Parku v běží pes červený.",  # word endings in an impossible order
    ]
    b = {"src_text": ["A red dog runs in the park."] * 4, "tgt_text": tgt}
    s = {sc.name: sc.score(b) for sc in build_scorers(FLUENCY, BuildContext(models={"fluency": model}))}
    assert s["fluency_gap"][1] > s["fluency_gap"][0] + 3
    assert s["fluency_swap"][2] > s["fluency_swap"][0] + 3
    assert s["fluency_suffix"][3] < s["fluency_suffix"][0] - 1
    for name in FLUENCY:  # the clean target passes every default threshold
        assert build_scorers([name], BuildContext(models={"fluency": model}))[0].accept(s[name][:1]).all(), name


def test_each_target_is_scored_by_the_model_that_never_saw_it(model):
    text = TARGETS[0]
    k = fold_of(text, 2)
    first_bigram = encode(np.array([[0, model.index[0][words(text)[0]]]]), len(model.vocabs[0]))
    pos = np.searchsorted(model.tables["word_keys"], first_bigram)
    starts = [fold_of(t, 2) == k for t in TARGETS if words(t)[:1] == words(text)[:1]]  # texts with that bigram
    counts = model.tables["word_counts"][:, pos].ravel()
    assert counts[k] == starts.count(False)  # fold k's model is counted without this sentence's (fold's) bigrams
    assert counts[1 - k] == starts.count(True) >= 1
    own = model.models[k].analyse(*_encoded(model, [text]))[0]
    assert model.features([text], [None])["gap"][0] == pytest.approx(own["gap"][0])
    # a corruption is scored by the fold of the target it was made from (orig_tgt_text), not by its own text
    noisy = "Červený pes v parku."
    expected = model.models[k].analyse(*_encoded(model, [noisy]))[0]["gap"][0]
    assert model.features([noisy], [text])["gap"][0] == pytest.approx(expected)


def _encoded(model: CrossFitFluency, texts: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    toks = [words(t) for t in texts]
    return (
        [np.array([model.index[0].get(w, 2) for w in t]) for t in toks],
        [np.array([model.index[1].get(w, 2) for w in suffixes(t)]) for t in toks],
    )


def test_fluency_save_load_roundtrip_and_empty_text(model, tmp_path):
    model.save(tmp_path / "flu.npz")
    loaded = CrossFitFluency.load(tmp_path / "flu.npz")
    texts = ["Velký kočka jí v ulici.", "", "?!", "Neznámé slovo."]
    a, b = model.features(texts, [None] * 4), loaded.features(texts, [None] * 4)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        assert np.isnan(a[k][1]) and np.isnan(a[k][2]) and not np.isnan(a[k][3])  # no words: NaN, not a crash


def test_fluency_model_files_of_the_total_and_held_layout_load_and_bad_ones_are_refused(model, tmp_path):
    counts = {n: model.tables[f"{n}_counts"] for n in ("word", "suffix")}
    folds = len(model.models)
    old = {}
    for n, c in counts.items():  # the earlier layout: the corpus total and each fold's own (held-out) counts
        total = c.sum(axis=0) // (folds - 1)
        old |= {f"{n}_keys": model.tables[f"{n}_keys"], f"{n}_total": total, f"{n}_held": total - c}
    vocabs = {"word_vocab": model.vocabs[0], "suffix_vocab": model.vocabs[1]}
    save_model(tmp_path / "old.npz", old, vocabs)
    loaded = CrossFitFluency.load(tmp_path / "old.npz")
    for n, c in counts.items():
        np.testing.assert_array_equal(loaded.tables[f"{n}_counts"], c)
    texts = ["Červený pes běží v parku.", "Pes v parku."]
    assert loaded.features(texts, [None, None])["gap"].tolist() == model.features(texts, [None, None])["gap"].tolist()
    save_model(tmp_path / "bad.npz", {"word_keys": old["word_keys"]}, vocabs)
    with pytest.raises(ModelError, match="not a fluency model file"):
        CrossFitFluency.load(tmp_path / "bad.npz")


def test_fold_models_read_the_count_matrix_in_place(model):
    """The folds' top-level LM counts and bigram tables are views of ``tables``, not copies (memory)."""
    word, suffix = model.tables["word_counts"], model.tables["suffix_counts"]
    for k, m in enumerate(model.models):
        assert np.shares_memory(m.bigram_lm.levels[-1][1], word[k]) and np.shares_memory(m.bigrams.counts, word[k])
        assert np.shares_memory(m.suffix_lm.levels[-1][1], suffix[k])
    assert not any(isinstance(v, np.ndarray) and v.dtype.kind == "f" for v in vars(model.models[0].bigrams).values()
                   if v is not model.models[0].bigrams.totals)  # fmt: skip


def test_lexical_fluency_needs_both_signals_on_the_same_word(model):
    pairs = toy_pairs(400)
    lexical = LexicalModel.fit([p[0] for p in pairs], [p[1] for p in pairs], stem=0)
    scorer = build_scorers(["lexical_fluency"], BuildContext(models={"lexical": lexical, "fluency": model}))[0]
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
    with pytest.raises(ValueError, match="model 'fluency' is not given"):
        build_scorers(["lexical_fluency"], BuildContext(models={"lexical": lexical}))


def test_many_word_endings_fit_by_keeping_the_frequent_ones():
    # CJK captions: \w+ "words" are whole phrases, so endings are many; 60k distinct ones exceed what a 4-gram key
    # over int64 can index (46,340 ids) and used to crash the fit.
    chars = [chr(0x4E00 + i) for i in range(300)]
    texts = [f"{chars[i % 300]}{chars[(i // 300) % 300]} 猫" for i in range(60_000)] + ["狗在跑 猫"] * 50
    model = CrossFitFluency.fit(texts, folds=2)
    assert len(model.vocabs[1]) == 46_340 and "猫" in model.index[1]
    f = model.features(["狗在跑 猫", "狗在跑 狗"], [None, None])
    assert np.isfinite(f["suffix"]).all() and np.isfinite(f["gap"]).all()


def test_fold_bigram_tables_share_their_keys_and_equal_tables_of_their_own():
    model = CrossFitFluency.fit(MULTI30K_LIKE, folds=3)  # varied: each fold lacks some bigrams
    keys, counts = model.tables["word_keys"], model.tables["word_counts"]
    tables = BigramTable.several(keys, counts, len(model.vocabs[0]))
    assert tables[0].keys is tables[1].keys and tables[0].by_second is tables[1].by_second
    radix = len(model.vocabs[0])
    a, b = np.divmod(np.arange(radix * radix), radix)  # every pair of words
    for shared, c in zip(tables, counts, strict=True):
        alone = BigramTable(keys, c, radix)  # only this fold's bigrams (count > 0)
        assert len(alone.keys) < len(shared.keys)
        got = shared.between(a, b)
        assert (got > 0).sum() > 10
        np.testing.assert_array_equal(got, alone.between(a, b))
