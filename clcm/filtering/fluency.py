"""The fluency scorers: three columns read from one cross-fitted target n-gram analysis per batch, and
``lexical_fluency``, which reads that analysis together with the lexical one.

The models are :mod:`clcm.filtering.fluency_model`, cross-fitted by :mod:`clcm.filtering.fluency_crossfit`; the
driver fits them on the corpus targets through the build context and saves them as ``fluency_model.npz``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from clcm.filtering.base import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    BuildContext,
    FeaturePass,
    FeatureScorer,
    PairBatch,
    column,
)
from clcm.filtering.fluency_crossfit import CrossFitFluency
from clcm.filtering.lexical import LexicalPass, lexical_pass
from clcm.filtering.lexical_crossfit import CrossFitLexical
from clcm.filtering.lexical_model import DEFAULT_FOLDS, LexicalModel

FLUENCY_FILE = "fluency_model.npz"
SURPRISE_WEIGHT = 0.5  # lexical_fluency: weight of the LM surprise (log-ratio) against the lexical shortfall


class FluencyPass(FeaturePass):
    """One n-gram analysis of a batch's targets: ``suffix``, ``gap``, ``swap`` and the per-word surprises."""

    def __init__(self, model: CrossFitFluency) -> None:
        self.model = model

    def run(self, batch: PairBatch) -> Mapping[str, Any]:
        feats, surprises = self.model.analyse(column(batch, "tgt_text"), column(batch, "orig_tgt_text"))
        return {**feats, "word_surprises": surprises}


def fluency_pass(context: BuildContext) -> FluencyPass:
    """The context's shared fluency pass: the cross-fitted target LMs, fitted on the corpus or loaded."""

    def fit(pairs: Any) -> CrossFitFluency:
        return CrossFitFluency.fit([t for _, t in pairs])

    def share() -> FluencyPass:
        what = f"target n-gram LMs ({DEFAULT_FOLDS} folds)"
        return FluencyPass(context.model("fluency", file=FLUENCY_FILE, fit=fit, load=CrossFitFluency.load,
                                         save=CrossFitFluency.save, what=what))  # fmt: skip

    return context.shared_pass("fluency", share)


class FluencyScorer(FeatureScorer):
    """Base of the fluency scorers: one feature of the shared :class:`FluencyPass`."""

    reason = "disfluent"
    feature: str

    def __init__(self, fluency: FluencyPass | CrossFitFluency) -> None:
        self.passes = (fluency if isinstance(fluency, FluencyPass) else FluencyPass(fluency),)

    @classmethod
    def build(cls, context: BuildContext, **options: Any) -> FluencyScorer:
        return cls(fluency_pass(context), **options)

    def from_features(self, *features: Mapping[str, Any]) -> np.ndarray:
        return np.asarray(features[0][self.feature], dtype=np.float32)


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


class LexicalFluencyScorer(FeatureScorer):
    """A target word that neither the source explains nor its neighbours expect: max over target words of the
    lexical ``gap`` shortfall + ``SURPRISE_WEIGHT`` x its fluency ``swap`` surprise, so both signals must point at the
    *same* word (a swapped-in word); each alone also fires on clean pairs, at different words."""

    name = "lexical_fluency"
    direction = LOWER_IS_BETTER
    default_threshold = 9.0  # clean captions: median about 5.9
    reason = "lexical_mismatch"

    def __init__(
        self, lexical: LexicalPass | LexicalModel | CrossFitLexical, fluency: FluencyPass | CrossFitFluency
    ) -> None:
        self.passes = (
            lexical if isinstance(lexical, LexicalPass) else LexicalPass(lexical),
            fluency if isinstance(fluency, FluencyPass) else FluencyPass(fluency),
        )

    @classmethod
    def build(cls, context: BuildContext, **options: Any) -> LexicalFluencyScorer:
        return cls(lexical_pass(context), fluency_pass(context), **options)

    def from_features(self, *features: Mapping[str, Any]) -> np.ndarray:
        lexical, fluency = features
        shortfalls, surprises = lexical["target_shortfalls"], fluency["word_surprises"]
        out = np.full(len(shortfalls), np.nan, dtype=np.float32)
        for i, (sh, su) in enumerate(zip(shortfalls, surprises, strict=True)):
            if len(sh) and len(sh) == len(su):
                out[i] = float(np.max(sh + SURPRISE_WEIGHT * su))
        return out
