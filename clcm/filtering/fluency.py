"""Target-side n-gram language models fitted on the corpus itself, for the fluency scorers (no weights needed).

A dropped or swapped content word often leaves the target ungrammatical at one spot: two words meet that never
follow each other, or a word sits between neighbours that it does not fit. Three features catch that:
- ``suffix``: mean log-prob of the word-ending sequence (last 2 letters of longer words) under an interpolated
  Kneser-Ney 4-gram: case and agreement endings of an inflected language (Czech ``-ém -ku``) that do not match;
- ``gap``: the largest log-ratio, over adjacent words (a, b), of "some word between a and b"
  (sum_x p(x|a) p(b|x)) to "b right after a" (KN bigram): a missing word;
- ``swap``: the largest log-ratio, over words w between a and b, of "some word between a and b" to
  p(w|a) p(b|w): a word that fits its neighbours worse than a typical filler (a swapped-in word).

The models are count tables over integer ids (:mod:`clcm.filtering.ngram`, numpy only). Like the lexical model they
are cross-fitted: K models, model k counted without the targets of fold k, a pair scored by the model that never saw
its target text (an LM that saw a sentence finds it fluent, whatever its quality). All K share one key set: a fold's
counts are the total minus that fold's own. Synthetic corruptions are scored by the fold of the target they were made
from (batch column ``orig_tgt_text``), so they are scored like corpus pairs and not by a model that saw their clean
original.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clcm.filtering.base import HIGHER_IS_BETTER, LOWER_IS_BETTER, PairBatch, Scorer, column
from clcm.filtering.lexical import DEFAULT_FOLDS, CrossFitLexical, LexicalModel, fold_of, words
from clcm.filtering.lexical import load_cached as load_lexical
from clcm.filtering.ngram import BigramTable, KneserNeyLM, encode

BOS, EOS, UNK = 0, 1, 2  # reserved ids of every vocabulary
RESERVED = ("<s>", "</s>", "<unk>")
GAP_FLOOR = 1e-6  # probability floor of "a word between a and b" when a and b share no middle word
SURPRISE_WEIGHT = 0.5  # lexical_fluency: weight of the LM surprise (log-ratio) against the lexical shortfall
SUFFIX_ORDER = 4  # over ~300 endings a 4-gram is dense enough on 29k captions (3 and 5 measured worse)


def suffixes(tokens: list[str]) -> list[str]:
    """Word endings: the last 2 letters of words longer than 3, short words (mostly function words) as they are."""
    return [w[-2:] if len(w) > 3 else w for w in tokens]


def ngram_windows(seqs: Sequence[np.ndarray], order: int) -> tuple[np.ndarray, np.ndarray]:
    """Every n-gram of every sequence padded with order-1 BOS and one EOS: (windows (n, order), sequence index)."""
    padded = [np.concatenate((np.full(order - 1, BOS), s, [EOS])).astype(np.int64) for s in seqs]
    if not padded:
        return np.zeros((0, order), dtype=np.int64), np.zeros(0, dtype=np.int64)
    lens = np.array([len(p) for p in padded])
    flat = np.concatenate(padded)
    seq = np.repeat(np.arange(len(padded)), lens)
    pos = np.flatnonzero(np.arange(len(flat)) - (np.cumsum(lens) - lens)[seq] >= order - 1)
    return np.stack([flat[pos - order + 1 + j] for j in range(order)], axis=1), seq[pos]


def max_ids(order: int) -> int:
    """The most ids whose ``order``-grams fit KneserNeyLM's int64 keys (4-grams: 46,340; bigrams: 2**31 - 1)."""
    r = int(2 ** (62 / order)) + 1
    while r**order >= 2**62:
        r -= 1
    return r


def _keep_frequent(vocab: list[str], seqs: list[np.ndarray], limit: int) -> list[np.ndarray]:
    """Cut ``vocab`` (in place) to its ``limit`` most frequent entries (reserved ids kept, ties by first appearance);
    the others become UNK. Needed where endings are many, e.g. CJK captions (a "word" is a whole phrase)."""
    if len(vocab) <= limit:
        return seqs
    counts = np.bincount(np.concatenate(seqs), minlength=len(vocab)) if seqs else np.zeros(len(vocab), np.int64)
    counts[: len(RESERVED)] = np.iinfo(np.int64).max  # reserved ids stay, in place
    kept = np.sort(np.argsort(-counts, kind="stable")[:limit])
    new_id = np.full(len(vocab), UNK, dtype=np.int64)
    new_id[kept] = np.arange(len(kept))
    vocab[:] = [vocab[i] for i in kept]
    return [new_id[s] for s in seqs]


class FluencyModel:
    """One fold's models: word bigram KN LM + ML bigram table (gap/swap), suffix 4-gram KN LM (suffix)."""

    def __init__(
        self, word_keys: np.ndarray, word_counts: np.ndarray, n_words: int,
        suffix_keys: np.ndarray, suffix_counts: np.ndarray, n_suffixes: int,
    ) -> None:  # fmt: skip
        self.bigram_lm = KneserNeyLM(word_keys, word_counts, 2, n_words)
        self.bigrams = BigramTable(word_keys, word_counts, n_words)
        self.suffix_lm = KneserNeyLM(suffix_keys, suffix_counts, SUFFIX_ORDER, n_suffixes)

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


class CrossFitFluency:
    """K fluency models over one vocabulary; model k counted without the targets of fold k (fold of the text)."""

    def __init__(self, vocabs: tuple[list[str], list[str]], tables: dict[str, np.ndarray]) -> None:
        """``vocabs``: (words, suffixes) with RESERVED first; ``tables``: ``{word,suffix}_{keys,total,held}``."""
        self.vocabs, self.tables = vocabs, tables
        self.index = [{w: i for i, w in enumerate(v)} for v in vocabs]
        held_w, held_s = tables["word_held"], tables["suffix_held"]
        self.models = [
            FluencyModel(
                tables["word_keys"],
                tables["word_total"] - held_w[k],
                len(vocabs[0]),
                tables["suffix_keys"],
                tables["suffix_total"] - held_s[k],
                len(vocabs[1]),
            )  # fmt: skip
            for k in range(len(held_w))
        ]
        self.fit_seconds = 0.0
        self._last: tuple[tuple, dict[str, np.ndarray], list[np.ndarray]] | None = None

    @classmethod
    def fit(cls, tgt_texts: Sequence[str], *, folds: int = DEFAULT_FOLDS) -> CrossFitFluency:
        start = time.perf_counter()
        fold = np.array([fold_of(t, folds) for t in tgt_texts], dtype=np.int64)
        tokens = [words(t) for t in tgt_texts]
        vocabs: tuple[list[str], list[str]] = (list(RESERVED), list(RESERVED))
        index: list[dict[str, int]] = [{w: i for i, w in enumerate(RESERVED)} for _ in range(2)]
        seqs: list[list[np.ndarray]] = [[], []]
        for toks in tokens:
            for v, sequence in enumerate((toks, suffixes(toks))):
                ids = [index[v].setdefault(w, len(index[v])) for w in sequence]
                seqs[v].append(np.asarray(ids, dtype=np.int64))
        for v in range(2):
            vocabs[v].extend(list(index[v])[len(RESERVED) :])
        tables: dict[str, np.ndarray] = {}
        for name, v, order in (("word", 0, 2), ("suffix", 1, SUFFIX_ORDER)):
            seqs[v] = _keep_frequent(vocabs[v], seqs[v], max_ids(order))
            windows, seq = ngram_windows(seqs[v], order)
            keys, inverse = np.unique(encode(windows, len(vocabs[v])), return_inverse=True)
            held = np.bincount(fold[seq] * len(keys) + inverse, minlength=folds * len(keys)).reshape(folds, -1)
            tables |= {f"{name}_keys": keys, f"{name}_total": held.sum(axis=0), f"{name}_held": held.astype(np.int32)}
        model = cls(vocabs, tables)
        model.fit_seconds = time.perf_counter() - start
        return model

    def _analyse(self, tgt_texts: Sequence[str], fold_texts: Sequence[str | None]) -> tuple[dict, list[np.ndarray]]:
        key = (tuple(tgt_texts), tuple(fold_texts))
        if self._last is not None and self._last[0] == key:
            return self._last[1], self._last[2]
        n_folds = len(self.models)
        unique: dict[tuple[str, int], int] = {}  # captions repeat: analyse each (text, fold) once
        row_of = [
            unique.setdefault((t or "", fold_of(f if f is not None else (t or ""), n_folds)), len(unique))
            for t, f in zip(tgt_texts, fold_texts, strict=True)
        ]
        items = list(unique)
        feats = {k: np.full(len(items), np.nan) for k in ("suffix", "gap", "swap")}
        surprises: list[np.ndarray] = [np.zeros(0)] * len(items)
        fold = np.array([k for _, k in items], dtype=np.int64)
        for k, model in enumerate(self.models):
            idx = np.flatnonzero(fold == k)
            if not len(idx):
                continue
            toks = [words(items[i][0]) for i in idx]
            word_ids = [np.array([self.index[0].get(w, UNK) for w in t], dtype=np.int64) for t in toks]
            suffix_ids = [np.array([self.index[1].get(w, UNK) for w in suffixes(t)], dtype=np.int64) for t in toks]
            part, part_surprises = model.analyse(word_ids, suffix_ids)
            for name, values in part.items():
                feats[name][idx] = values
            for i, values in zip(idx, part_surprises, strict=True):
                surprises[i] = values
        rows = np.asarray(row_of, dtype=np.int64)
        out = {k: v[rows].astype(np.float32) for k, v in feats.items()}
        per_row = [surprises[r] for r in row_of]
        self._last = (key, out, per_row)
        return out, per_row

    def features(self, tgt_texts: Sequence[str], fold_texts: Sequence[str | None]) -> dict[str, np.ndarray]:
        """``{suffix, gap, swap}`` per target; ``fold_texts[i]`` (or the target itself when None) picks the fold."""
        return self._analyse(tgt_texts, fold_texts)[0]

    def word_surprises(self, tgt_texts: Sequence[str], fold_texts: Sequence[str | None]) -> list[np.ndarray]:
        """Per target, per word: the ``swap`` term (how much worse the word fits than a typical filler)."""
        return self._analyse(tgt_texts, fold_texts)[1]

    def clear_cache(self) -> None:
        self._last = None

    def save(self, path: str | Path) -> None:
        word_vocab, suffix_vocab = (np.array(v, dtype=object) for v in self.vocabs)
        np.savez_compressed(path, word_vocab=word_vocab, suffix_vocab=suffix_vocab, **self.tables)

    @classmethod
    def load(cls, path: str | Path) -> CrossFitFluency:
        with np.load(path, allow_pickle=True) as z:
            vocabs = (list(z["word_vocab"]), list(z["suffix_vocab"]))
            tables = {k: z[k] for k in z.files if not k.endswith("_vocab")}
        return cls(vocabs, tables)


class FluencyScorer(Scorer):
    """Base of the fluency scorers: a fitted :class:`CrossFitFluency` (or the path of its saved ``.npz``)."""

    reason = "disfluent"
    feature: str

    def __init__(self, model: CrossFitFluency | str | Path | None = None) -> None:
        if model is None:
            raise ValueError(f"scorer {self.name} needs a fitted fluency model (or the path of a saved one)")
        self.model = model if isinstance(model, CrossFitFluency) else _load_cached(str(model))

    def score(self, batch: PairBatch) -> np.ndarray:
        tgt = column(batch, "tgt_text")
        return self.model.features(tgt, column(batch, "orig_tgt_text"))[self.feature]


class SuffixFluencyScorer(FluencyScorer):
    """Mean log-prob of the target's word endings (case/agreement) under a suffix 4-gram LM of the corpus."""

    name = "fluency_suffix"
    direction = HIGHER_IS_BETTER
    default_threshold = -4.5  # clean Czech captions average about -3.1
    feature = "suffix"


class GapFluencyScorer(FluencyScorer):
    """How much likelier a missing word is than the adjacency of two target words, at the worst spot."""

    name = "fluency_gap"
    direction = LOWER_IS_BETTER
    default_threshold = 4.0  # clean captions: median about 0.7
    feature = "gap"


class SwapFluencyScorer(FluencyScorer):
    """How much worse a target word fits its neighbours than a typical filler, at the worst spot."""

    name = "fluency_swap"
    direction = LOWER_IS_BETTER
    default_threshold = 16.0  # clean captions: median about 10.5
    feature = "swap"


class LexicalFluencyScorer(Scorer):
    """A target word that neither the source explains nor its neighbours expect: max over target words of the
    lexical ``gap`` shortfall + ``SURPRISE_WEIGHT`` x its fluency ``swap`` surprise, so both signals must point at the
    *same* word (a swapped-in word); each alone also fires on clean pairs, at different words."""

    name = "lexical_fluency"
    direction = LOWER_IS_BETTER
    default_threshold = 9.0  # clean captions: median about 5.9
    reason = "lexical_mismatch"

    def __init__(
        self,
        lexical: LexicalModel | CrossFitLexical | str | Path | None = None,
        fluency: CrossFitFluency | str | Path | None = None,
    ) -> None:
        if lexical is None or fluency is None:
            raise ValueError(f"scorer {self.name} needs a fitted lexical model and a fitted fluency model")
        self.lexical = lexical if isinstance(lexical, (LexicalModel, CrossFitLexical)) else load_lexical(str(lexical))
        self.fluency = fluency if isinstance(fluency, CrossFitFluency) else _load_cached(str(fluency))

    def score(self, batch: PairBatch) -> np.ndarray:
        src, tgt = column(batch, "src_text"), column(batch, "tgt_text")
        shortfalls = self.lexical.target_shortfalls(src, tgt)
        surprises = self.fluency.word_surprises(tgt, column(batch, "orig_tgt_text"))
        out = np.full(len(tgt), np.nan, dtype=np.float32)
        for i, (sh, su) in enumerate(zip(shortfalls, surprises, strict=True)):
            if len(sh) and len(sh) == len(su):
                out[i] = float(np.max(sh + SURPRISE_WEIGHT * su))
        return out


_MODELS: dict[str, CrossFitFluency] = {}


def _load_cached(path: str) -> CrossFitFluency:
    """One loaded model per path and process (Beam workers score many batches with it)."""
    if path not in _MODELS:
        _MODELS[path] = CrossFitFluency.load(path)
    return _MODELS[path]
