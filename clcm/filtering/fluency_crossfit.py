"""Cross-fitting of the fluency LMs: K models over one vocabulary, model k counted without the targets of fold k.

An LM that saw a sentence finds it fluent, whatever its quality, so a pair is scored by the model that never saw its
target text. All K share one key set: a fold's counts are the total minus that fold's own, kept as one integer
matrix (folds x keys) that the folds' LMs and bigram tables read in place (``tables``: what the model file holds,
nothing else). Synthetic corruptions are scored by the fold of the target they were made from (batch column
``orig_tgt_text``), so they are scored like corpus pairs and not by a model that saw their clean original.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clcm.errors import ModelError
from clcm.filtering import id_seqs
from clcm.filtering.fluency_model import (
    RESERVED,
    SUFFIX_ORDER,
    UNK,
    FluencyModel,
    keep_frequent,
    max_ids,
    ngram_windows,
    suffixes,
)
from clcm.filtering.lexical_crossfit import fold_of
from clcm.filtering.lexical_model import DEFAULT_FOLDS, words
from clcm.filtering.model_files import load_model, save_model
from clcm.filtering.ngram import encode, whole_counts


class CrossFitFluency:
    """K fluency models over one vocabulary; model k counted without the targets of fold k (fold of the text)."""

    def __init__(self, vocabs: tuple[list[str], list[str]], tables: dict[str, np.ndarray]) -> None:
        """``vocabs``: (words, suffixes) with RESERVED first; ``tables``: ``{word,suffix}_keys`` (sorted n-gram keys)
        and ``{word,suffix}_counts`` (folds x keys, integers: model k's counts, without the targets of fold k)."""
        self.vocabs, self.tables = vocabs, tables
        self.index = [{w: i for i, w in enumerate(v)} for v in vocabs]
        self.models = FluencyModel.folds(
            tables["word_keys"], tables["word_counts"], len(vocabs[0]),
            tables["suffix_keys"], tables["suffix_counts"], len(vocabs[1]),
        )  # fmt: skip
        self.fit_seconds = 0.0

    @classmethod
    def fit(cls, tgt_texts: Sequence[str], *, folds: int = DEFAULT_FOLDS) -> CrossFitFluency:
        start = time.perf_counter()
        fold = np.array([fold_of(t, folds) for t in tgt_texts], dtype=np.int64)
        vocabs: tuple[list[str], list[str]] = (list(RESERVED), list(RESERVED))
        index: list[dict[str, int]] = [{w: i for i, w in enumerate(RESERVED)} for _ in range(2)]
        seqs = [  # word ids, then ending ids, of every text (flat; no token list is kept)
            id_seqs.encode(tgt_texts, lambda t: [index[0].setdefault(w, len(index[0])) for w in words(t)]),
            id_seqs.encode(tgt_texts, lambda t: [index[1].setdefault(w, len(index[1])) for w in suffixes(words(t))]),
        ]
        for v in range(2):
            vocabs[v].extend(list(index[v])[len(RESERVED) :])
        tables: dict[str, np.ndarray] = {}
        for name, v, order in (("word", 0, 2), ("suffix", 1, SUFFIX_ORDER)):
            seqs[v] = keep_frequent(vocabs[v], seqs[v], max_ids(order))
            windows, seq = ngram_windows(seqs[v], order)
            keys, inverse = np.unique(encode(windows, len(vocabs[v])), return_inverse=True)
            held = np.bincount(fold[seq] * len(keys) + inverse, minlength=folds * len(keys)).reshape(folds, -1)
            tables |= {f"{name}_keys": keys, f"{name}_counts": whole_counts(held.sum(axis=0) - held)}
        model = cls(vocabs, tables)
        model.fit_seconds = time.perf_counter() - start
        return model

    def analyse(
        self, tgt_texts: Sequence[str], fold_texts: Sequence[str | None]
    ) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """``{suffix, gap, swap}`` per target and, per target word, its ``swap`` term (how much worse the word fits
        than a typical filler); ``fold_texts[i]`` (or the target itself when None) picks the fold."""
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
        return out, per_row

    def features(self, tgt_texts: Sequence[str], fold_texts: Sequence[str | None]) -> dict[str, np.ndarray]:
        """The per-target features of :meth:`analyse`."""
        return self.analyse(tgt_texts, fold_texts)[0]

    def save(self, path: str | Path) -> None:
        save_model(path, self.tables, {"word_vocab": self.vocabs[0], "suffix_vocab": self.vocabs[1]})

    @classmethod
    def load(cls, path: str | Path) -> CrossFitFluency:
        tables, strings = load_model(path)
        for name in ("word", "suffix"):  # older files: the total and each fold's own counts
            if f"{name}_held" in tables and f"{name}_total" in tables:
                tables[f"{name}_counts"] = whole_counts(tables.pop(f"{name}_total") - tables.pop(f"{name}_held"))
        missing = sorted({"word_keys", "word_counts", "suffix_keys", "suffix_counts"} - set(tables))
        if missing or {"word_vocab", "suffix_vocab"} - set(strings):
            raise ModelError(f"{path}: not a fluency model file (no {', '.join(missing) or 'vocabularies'})")
        return cls((strings["word_vocab"], strings["suffix_vocab"]), tables)
