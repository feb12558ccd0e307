"""Target-side n-gram language models fitted on the corpus itself, for the fluency scorers (no weights needed).

A dropped or swapped content word often leaves the target ungrammatical at one spot: two words meet that never
follow each other, or a word sits between neighbours that it does not fit. Three features catch that:
- ``suffix``: mean log-prob of the word-ending sequence (last 2 letters of longer words) under an interpolated
  Kneser-Ney 4-gram: case and agreement endings of an inflected language (Czech ``-ém -ku``) that do not match;
- ``gap``: the largest log-ratio, over adjacent words (a, b), of "some word between a and b"
  (sum_x p(x|a) p(b|x)) to "b right after a" (KN bigram): a missing word;
- ``swap``: the largest log-ratio, over words w between a and b, of "some word between a and b" to
  p(w|a) p(b|w): a word that fits its neighbours worse than a typical filler (a swapped-in word).

Everything is derived from one table of n-gram counts per model (saved as ``.npz``). Like the lexical model, the
LMs are cross-fitted: K models, each fitted without the targets of one fold, a pair scored by the model that never
saw its target text (an LM that saw a sentence finds it fluent, whatever its quality). Synthetic corruptions are
scored by the fold of the target they were made from (batch column ``orig_tgt_text``), so they are scored like
corpus pairs and not by a model that saw their clean original.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clcm.filtering.base import HIGHER_IS_BETTER, LOWER_IS_BETTER, PairBatch, Scorer, column
from clcm.filtering.lexical import DEFAULT_FOLDS, CrossFitLexical, LexicalModel, fold_of, words
from clcm.filtering.lexical import load_cached as load_lexical

BOS, EOS = "<s>", "</s>"
DISCOUNT = 0.75  # the usual Kneser-Ney absolute discount
GAP_FLOOR = 1e-6  # probability floor of "a word between a and b" when a and b share no middle word
SURPRISE_WEIGHT = 0.5  # lexical_fluency: weight of the LM surprise (log-ratio) against the lexical shortfall
SUFFIX_ORDER = 4  # over ~300 endings a 4-gram is dense enough on 29k captions (3 and 5 measured worse)


def suffixes(tokens: list[str]) -> list[str]:
    """Word endings: the last 2 letters of words longer than 3, short words (mostly function words) as they are."""
    return [w[-2:] if len(w) > 3 else w for w in tokens]


class KneserNey:
    """Interpolated Kneser-Ney n-gram LM from a table of top-order n-gram counts (sentences padded with BOS)."""

    def __init__(self, counts: dict[tuple[str, ...], int], order: int) -> None:
        self.order = order
        self.top = counts
        # cont[k] (n-grams of length k+1): number of distinct left extensions among the n-grams one longer. With
        # BOS padding every shorter n-gram occurrence is the suffix of a top-order one, so top counts are enough.
        self.cont: list[Counter] = []
        for k in range(order - 1):
            longer = {gram[order - k - 2 :] for gram in counts}
            self.cont.append(Counter(gram[1:] for gram in longer))
        self.ctx_total: list[Counter] = [Counter() for _ in range(order)]
        self.ctx_types: list[Counter] = [Counter() for _ in range(order)]
        for k in range(order):
            table = counts if k == order - 1 else self.cont[k]
            for gram, c in table.items():
                self.ctx_total[k][gram[:-1]] += c
                self.ctx_types[k][gram[:-1]] += 1
        self.vocab_size = len(self.cont[0]) + 1 if order > 1 else len(counts) + 1

    def prob(self, history: Sequence[str], word: str) -> float:
        p = 1.0 / self.vocab_size
        for k in range(self.order):
            h = tuple(history[len(history) - k :]) if k else ()
            total = self.ctx_total[k].get(h, 0)
            if not total:
                continue
            table = self.top if k == self.order - 1 else self.cont[k]
            p = max(table.get((*h, word), 0) - DISCOUNT, 0) / total + DISCOUNT * self.ctx_types[k][h] / total * p
        return p

    def mean_logprob(self, tokens: list[str]) -> float:
        seq = [BOS] * (self.order - 1) + tokens + [EOS]
        n = self.order - 1
        return sum(math.log(self.prob(seq[i - n : i], seq[i])) for i in range(n, len(seq))) / (len(seq) - n)


def ngram_counts(sentences: Sequence[list[str]], order: int) -> dict[tuple[str, ...], int]:
    counts: Counter = Counter()
    for toks in sentences:
        seq = [BOS] * (order - 1) + toks + [EOS]
        counts.update(tuple(seq[i - order + 1 : i + 1]) for i in range(order - 1, len(seq)))
    return dict(counts)


class FluencyModel:
    """Word bigram statistics (gap/swap) and a suffix 4-gram LM (suffix) for one target language."""

    def __init__(self, word_bigrams: dict[tuple[str, ...], int], suffix_grams: dict[tuple[str, ...], int]) -> None:
        self.word_bigrams, self.suffix_grams = word_bigrams, suffix_grams
        self.bigram = KneserNey(word_bigrams, 2)
        self.suffix_lm = KneserNey(suffix_grams, SUFFIX_ORDER)
        self.successors: dict[str, dict[str, float]] = defaultdict(dict)  # a -> {x: p_ML(x|a)}
        self.predecessors: dict[str, dict[str, float]] = defaultdict(dict)  # b -> {x: p_ML(b|x)}
        totals: Counter = Counter()
        for (a, _), c in word_bigrams.items():
            totals[a] += c
        for (a, b), c in word_bigrams.items():
            self.successors[a][b] = c / totals[a]
            self.predecessors[b][a] = c / totals[a]
        self.fit_seconds = 0.0

    @classmethod
    def fit(cls, tgt_texts: Sequence[str]) -> FluencyModel:
        start = time.perf_counter()
        toks = [words(t) for t in tgt_texts]
        model = cls(ngram_counts(toks, 2), ngram_counts([suffixes(t) for t in toks], SUFFIX_ORDER))
        model.fit_seconds = time.perf_counter() - start
        return model

    def p_between(self, a: str, b: str) -> float:
        """sum_x p(x|a) p(b|x): how likely exactly one word stands between a and b (maximum likelihood)."""
        succ, pred = self.successors.get(a), self.predecessors.get(b)
        if not succ or not pred:
            return 0.0
        if len(succ) > len(pred):
            succ, pred = pred, succ
        return sum(p * pred.get(x, 0.0) for x, p in succ.items())

    def word_surprise(self, tokens: list[str]) -> list[float]:
        """Per word w between a and b: log sum_x p(x|a) p(b|x) - log p(w|a) p(b|w) (the ``swap`` terms)."""
        seq = [BOS, *tokens, EOS]
        step = [math.log(self.bigram.prob([a], b)) for a, b in zip(seq, seq[1:], strict=False)]
        return [
            math.log(self.p_between(a, b) + GAP_FLOOR) - step[j] - step[j + 1]
            for j, (a, b) in enumerate(zip(seq, seq[2:], strict=False))
        ]

    def features(self, text: str) -> tuple[float, float, float]:
        """(suffix mean log-prob, gap, swap) of one target text; NaN for a text without words."""
        toks = words(text)
        if not toks:
            return math.nan, math.nan, math.nan
        seq = [BOS, *toks, EOS]
        gap = max(
            math.log(self.p_between(a, b) + GAP_FLOOR) - math.log(self.bigram.prob([a], b))
            for a, b in zip(seq, seq[1:], strict=False)
        )
        return self.suffix_lm.mean_logprob(suffixes(toks)), gap, max(self.word_surprise(toks))

    def to_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name, table in (("word_bigrams", self.word_bigrams), ("suffix_grams", self.suffix_grams)):
            out[f"{prefix}{name}_keys"] = np.array(["\t".join(g) for g in table], dtype=object)
            out[f"{prefix}{name}_counts"] = np.fromiter(table.values(), dtype=np.int64, count=len(table))
        return out

    @classmethod
    def from_arrays(cls, z: Any, prefix: str = "") -> FluencyModel:
        tables = []
        for name in ("word_bigrams", "suffix_grams"):
            keys, counts = z[f"{prefix}{name}_keys"], z[f"{prefix}{name}_counts"]
            tables.append({tuple(k.split("\t")): int(c) for k, c in zip(keys, counts, strict=True)})
        return cls(*tables)


class CrossFitFluency:
    """K fluency models, model k fitted on the targets outside fold k (fold of the target text)."""

    def __init__(self, models: Sequence[FluencyModel]) -> None:
        self.models = list(models)
        self.fit_seconds = sum(m.fit_seconds for m in self.models)
        self._last: tuple[tuple, dict[str, np.ndarray]] | None = None

    @classmethod
    def fit(cls, tgt_texts: Sequence[str], *, folds: int = DEFAULT_FOLDS) -> CrossFitFluency:
        fold = [fold_of(t, folds) for t in tgt_texts]
        kept = [[t for t, f in zip(tgt_texts, fold, strict=True) if f != k] for k in range(folds)]
        return cls([FluencyModel.fit(texts) for texts in kept])

    def features(self, tgt_texts: Sequence[str], fold_texts: Sequence[str | None]) -> dict[str, np.ndarray]:
        """``{suffix, gap, swap}`` per target; ``fold_texts[i]`` (or the target itself when None) picks the fold."""
        key = (tuple(tgt_texts), tuple(fold_texts))
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        cache: dict[tuple[str, int], tuple[float, float, float]] = {}
        rows = []
        for text, fold_text in zip(tgt_texts, fold_texts, strict=True):
            k = fold_of(fold_text if fold_text is not None else text, len(self.models))
            if (text, k) not in cache:
                cache[(text, k)] = self.models[k].features(text or "")
            rows.append(cache[(text, k)])
        arr = np.asarray(rows, dtype=np.float32).reshape(len(rows), 3)
        out = {"suffix": arr[:, 0], "gap": arr[:, 1], "swap": arr[:, 2]}
        self._last = (key, out)
        return out

    def word_surprises(self, tgt_texts: Sequence[str], fold_texts: Sequence[str | None]) -> list[np.ndarray]:
        """:meth:`FluencyModel.word_surprise` per target (fold as in :meth:`features`)."""
        n = len(self.models)
        return [
            np.asarray(self.models[fold_of(f if f is not None else t, n)].word_surprise(words(t or "")))
            for t, f in zip(tgt_texts, fold_texts, strict=True)
        ]

    def clear_cache(self) -> None:
        self._last = None

    def save(self, path: str | Path) -> None:
        arrays: dict[str, np.ndarray] = {"folds": np.int64(len(self.models))}
        for k, m in enumerate(self.models):
            arrays.update(m.to_arrays(f"fold{k}_"))
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> CrossFitFluency:
        with np.load(path, allow_pickle=True) as z:
            return cls([FluencyModel.from_arrays(z, f"fold{k}_") for k in range(int(z["folds"]))])


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
        fold_texts = batch.get("orig_tgt_text") or [None] * len(tgt)
        return self.model.features(tgt, fold_texts)[self.feature]


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
        fold_texts = batch.get("orig_tgt_text") or [None] * len(tgt)
        shortfalls = self.lexical.target_shortfalls(src, tgt)
        surprises = self.fluency.word_surprises(tgt, fold_texts)
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
