"""Cross-fitting of the IBM-1 lexical model: K models, each fitted without one fold of the corpus.

IBM-1 memorises the pairs it is fitted on: a seen pair looks far cleaner than an unseen one, whatever its quality.
Cross-fitting scores every pair (and every synthetic corruption the combiner trains on, which keeps its source's
fold) with a model that never saw that source sentence, so corpus pairs and synthetic noise are scored alike and
noisy corpus pairs cannot explain themselves away.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clcm.filtering.lexical_fit import fit_models
from clcm.filtering.lexical_model import (
    DEFAULT_FOLDS,
    DEFAULT_STEM,
    Analysis,
    LexicalModel,
    vocab_strings,
    vocabs_of,
)
from clcm.filtering.model_files import load_model, save_model


def fold_of(text: str, folds: int) -> int:
    """Cross-fitting fold of a pair, from its source text (corruptions of a pair keep its fold)."""
    return zlib.crc32(text.encode("utf-8")) % folds


class CrossFitLexical:
    """K IBM-1 models, model k fitted on every pair outside fold k; a pair is scored by the model of its fold."""

    def __init__(self, models: Sequence[LexicalModel]) -> None:
        self.models = list(models)
        self.fit_seconds = sum(m.fit_seconds for m in self.models)

    @classmethod
    def fit(
        cls,
        src_texts: Sequence[str],
        tgt_texts: Sequence[str],
        *,
        folds: int = DEFAULT_FOLDS,
        iters: int = 12,
        cov_floor: float = 0.05,
        stem: int = DEFAULT_STEM,
    ) -> CrossFitLexical:
        """Fit ``folds`` models (see :meth:`LexicalModel.fit`) that share one vocabulary and co-occurrence table."""
        fold = np.array([fold_of(s, folds) for s in src_texts], dtype=np.int64)
        return cls(fit_models(src_texts, tgt_texts, fold, folds, iters=iters, cov_floor=cov_floor, stem=stem))

    def analyse(self, src_texts: Sequence[str], tgt_texts: Sequence[str]) -> Analysis:
        """:meth:`LexicalModel.analyse`, each pair from the model that did not see its source."""
        fold = np.array([fold_of(s, len(self.models)) for s in src_texts], dtype=np.int64)
        src_ids, tgt_ids = self.models[0].ids(src_texts, tgt_texts) if self.models else ([], [])
        out: dict[str, np.ndarray] = {}
        shortfalls: list[np.ndarray] = [np.zeros(0)] * len(src_texts)
        for k, model in enumerate(self.models):
            idx = np.flatnonzero(fold == k)
            if not len(idx):
                continue
            part = model.analyse_ids([src_ids[i] for i in idx], [tgt_ids[i] for i in idx])
            for name, values in part.features.items():
                out.setdefault(name, np.full(len(src_texts), np.nan, dtype=np.float32))[idx] = values
            for i, values in zip(idx, part.target_shortfalls, strict=True):
                shortfalls[i] = values
        return Analysis(out, shortfalls)

    def features(self, src_texts: Sequence[str], tgt_texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The per-pair features of :meth:`analyse`."""
        return self.analyse(src_texts, tgt_texts).features

    def save(self, path: str | Path) -> None:
        """One file; a key table the folds share (as :func:`fit_models` makes them) is written once."""
        arrays: dict[str, Any] = {"folds": np.int64(len(self.models))}
        for k, m in enumerate(self.models):
            arrays |= m.to_arrays(f"fold{k}_")
        for tag in ("s2t", "t2s"):
            keys = {id(getattr(m, tag).keys) for m in self.models}
            if len(self.models) > 1 and len(keys) == 1:
                arrays[f"{tag}_keys"] = getattr(self.models[0], tag).keys
                for k in range(len(self.models)):
                    del arrays[f"fold{k}_{tag}_keys"]
        save_model(path, arrays, vocab_strings(self.models[0]))

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], strings: dict[str, list[str]]) -> CrossFitLexical:
        src_vocab, tgt_vocab = vocabs_of(strings)
        folds = range(int(arrays["folds"]))
        return cls([LexicalModel.from_arrays(arrays, src_vocab, tgt_vocab, f"fold{k}_") for k in folds])

    @classmethod
    def load(cls, path: str | Path) -> CrossFitLexical:
        return cls.from_arrays(*load_model(path))


def load_lexical(path: str | Path) -> LexicalModel | CrossFitLexical:
    """A saved single or cross-fitted lexical model."""
    arrays, strings = load_model(path)
    if "folds" in arrays:
        return CrossFitLexical.from_arrays(arrays, strings)
    return LexicalModel.from_arrays(arrays, *vocabs_of(strings))
