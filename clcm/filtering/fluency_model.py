"""Target-side n-gram language models for the fluency features (numpy count tables, no weights needed).

A dropped or swapped content word often leaves the target ungrammatical at one spot: two words meet that never
follow each other, or a word sits between neighbours that it does not fit. Three features catch that:
- ``suffix``: mean log-prob of the word-ending sequence (last 2 letters of longer words) under an interpolated
  Kneser-Ney 4-gram: case and agreement endings of an inflected language (Czech ``-ém -ku``) that do not match;
- ``gap``: the largest log-ratio, over adjacent words (a, b), of "some word between a and b"
  (sum_x p(x|a) p(b|x)) to "b right after a" (KN bigram): a missing word;
- ``swap``: the largest log-ratio, over words w between a and b, of "some word between a and b" to
  p(w|a) p(b|w): a word that fits its neighbours worse than a typical filler (a swapped-in word).

The models are count tables over integer ids (:mod:`clcm.filtering.ngram`). They are cross-fitted by
:mod:`clcm.filtering.fluency_crossfit`; the scorers are in :mod:`clcm.filtering.fluency`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clcm.filtering.id_seqs import IdSeqs, as_flat
from clcm.filtering.ngram import BigramTable, KneserNeyLM

BOS, EOS, UNK = 0, 1, 2  # reserved ids of every vocabulary
RESERVED = ("<s>", "</s>", "<unk>")
GAP_FLOOR = 1e-6  # probability floor of "a word between a and b" when a and b share no middle word
SUFFIX_ORDER = 4  # over ~300 endings a 4-gram is dense enough on 29k captions (3 and 5 measured worse)


def suffixes(tokens: list[str]) -> list[str]:
    """Word endings: the last 2 letters of words longer than 3, short words (mostly function words) as they are."""
    return [w[-2:] if len(w) > 3 else w for w in tokens]


def ngram_windows(seqs: Sequence[np.ndarray] | IdSeqs, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Every n-gram of every sequence padded with order-1 BOS and one EOS: (windows (n, order), sequence index)."""
    flat = as_flat(seqs)
    if not len(flat):
        return np.zeros((0, order), dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_words = flat.lengths()
    lens = n_words + order  # padded lengths
    starts = np.cumsum(lens) - lens
    padded = np.full(int(lens.sum()), BOS, dtype=np.int64)
    word_seq = np.repeat(np.arange(len(flat)), n_words)
    word_pos = np.arange(len(flat.ids)) - flat.offsets[:-1][word_seq]
    padded[starts[word_seq] + order - 1 + word_pos] = flat.ids
    padded[starts + lens - 1] = EOS
    seq = np.repeat(np.arange(len(flat)), lens)
    pos = np.flatnonzero(np.arange(len(padded)) - starts[seq] >= order - 1)
    return np.stack([padded[pos - order + 1 + j] for j in range(order)], axis=1), seq[pos]


def max_ids(order: int) -> int:
    """The most ids whose ``order``-grams fit KneserNeyLM's int64 keys (4-grams: 46,340; bigrams: 2**31 - 1)."""
    r = int(2 ** (62 / order)) + 1
    while r**order >= 2**62:
        r -= 1
    return r


def keep_frequent(vocab: list[str], seqs: IdSeqs, limit: int) -> IdSeqs:
    """Cut ``vocab`` (in place) to its ``limit`` most frequent entries (reserved ids kept, ties by first appearance);
    the others become UNK. Needed where endings are many, e.g. CJK captions (a "word" is a whole phrase)."""
    if len(vocab) <= limit:
        return seqs
    counts = np.bincount(seqs.ids, minlength=len(vocab)).astype(np.int64)
    counts[: len(RESERVED)] = np.iinfo(np.int64).max  # reserved ids stay, in place
    kept = np.sort(np.argsort(-counts, kind="stable")[:limit])
    new_id = np.full(len(vocab), UNK, dtype=np.int32)
    new_id[kept] = np.arange(len(kept))
    vocab[:] = [vocab[i] for i in kept]
    return IdSeqs(new_id[seqs.ids], seqs.offsets)


class FluencyModel:
    """One fold's models: word bigram KN LM + ML bigram table (gap/swap), suffix 4-gram KN LM (suffix)."""

    def __init__(self, bigram_lm: KneserNeyLM, bigrams: BigramTable, suffix_lm: KneserNeyLM) -> None:
        self.bigram_lm, self.bigrams, self.suffix_lm = bigram_lm, bigrams, suffix_lm

    @classmethod
    def folds(
        cls, word_keys: np.ndarray, word_counts: np.ndarray, n_words: int,
        suffix_keys: np.ndarray, suffix_counts: np.ndarray, n_suffixes: int,
    ) -> list[FluencyModel]:  # fmt: skip
        """One model per row of the count matrices (folds x keys); the folds' LMs share their key arrays."""
        bigram_lms = KneserNeyLM.several(word_keys, word_counts, 2, n_words)
        suffix_lms = KneserNeyLM.several(suffix_keys, suffix_counts, SUFFIX_ORDER, n_suffixes)
        bigram_tables = BigramTable.several(word_keys, word_counts, n_words)
        return [cls(*models) for models in zip(bigram_lms, bigram_tables, suffix_lms, strict=True)]

    def analyse(
        self, word_seqs: Sequence[np.ndarray], suffix_seqs: Sequence[np.ndarray]
    ) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """``{suffix, gap, swap}`` per sequence (NaN for an empty one) and each sequence's per-word ``swap`` terms."""
        n = len(word_seqs)
        out = {k: np.full(n, np.nan) for k in ("suffix", "gap", "swap")}
        lens = np.array([len(s) for s in word_seqs], dtype=np.int64)
        full = np.flatnonzero(lens > 0)
        surprises = [np.zeros(0)] * n
        if not len(full):
            return out, surprises
        steps, step_seq = ngram_windows([word_seqs[i] for i in full], 2)  # (a, b) incl. BOS/EOS, m+1 per sentence
        step_lp = np.log(self.bigram_lm.prob(steps[:, :1], steps[:, 1]))
        junction = np.log(self.bigrams.between(steps[:, 0], steps[:, 1]) + GAP_FLOOR) - step_lp
        gap = np.full(len(full), -np.inf)
        np.maximum.at(gap, step_seq, junction)
        # word j of a sentence sits between steps j and j+1 of that sentence (its steps are contiguous)
        m = lens[full]
        word_seq = np.repeat(np.arange(len(full)), m)
        word_pos = np.arange(len(word_seq)) - np.repeat(np.cumsum(m) - m, m)
        j = (np.cumsum(m + 1) - (m + 1))[word_seq] + word_pos  # the step into each word
        between = np.log(self.bigrams.between(steps[j, 0], steps[j + 1, 1]) + GAP_FLOOR)
        surprise = between - step_lp[j] - step_lp[j + 1]
        swap = np.full(len(full), -np.inf)
        np.maximum.at(swap, word_seq, surprise)
        grams, gram_seq = ngram_windows([suffix_seqs[i] for i in full], SUFFIX_ORDER)
        suffix_lp = np.log(self.suffix_lm.prob(grams[:, :-1], grams[:, -1]))
        suffix = np.bincount(gram_seq, weights=suffix_lp, minlength=len(full)) / np.bincount(gram_seq)
        out["suffix"][full], out["gap"][full], out["swap"][full] = suffix, gap, swap
        for i, values in zip(full, np.split(surprise, np.cumsum(lens[full])[:-1]), strict=True):
            surprises[i] = values
        return out, surprises
