"""The lexical scorers: six columns read from one cross-fitted IBM-1 analysis per batch.

The model is :mod:`clcm.filtering.lexical_model` (IBM-1 both ways + fertility), cross-fitted by
:mod:`clcm.filtering.lexical_crossfit`; the driver fits it on the corpus through the build context and saves it as
``lexical_model.npz``, workers load it. :class:`LexicalPass` is the shared analysis (see ``FeatureScorer``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

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
from clcm.filtering.lexical_crossfit import CrossFitLexical, fold_of, load_lexical  # noqa: F401 (re-exported)
from clcm.filtering.lexical_model import DEFAULT_FOLDS, LexicalModel, words  # noqa: F401 (re-exported)

LEXICAL_FILE = "lexical_model.npz"


class LexicalPass(FeaturePass):
    """One IBM-1 analysis of a batch: the per-pair features and the per-target-word shortfalls."""

    def __init__(self, model: LexicalModel | CrossFitLexical) -> None:
        self.model = model

    def run(self, batch: PairBatch) -> Mapping[str, Any]:
        analysis = self.model.analyse(column(batch, "src_text"), column(batch, "tgt_text"))
        return {**analysis.features, "target_shortfalls": analysis.target_shortfalls}


def lexical_pass(context: BuildContext) -> LexicalPass:
    """The context's shared lexical pass: the cross-fitted IBM-1 model, fitted on the corpus or loaded."""

    def fit(pairs: Any) -> CrossFitLexical:
        return CrossFitLexical.fit([s for s, _ in pairs], [t for _, t in pairs])

    def share() -> LexicalPass:
        what = f"IBM-1 lexical model ({DEFAULT_FOLDS} folds)"
        return LexicalPass(context.model("lexical", file=LEXICAL_FILE, fit=fit, load=load_lexical,
                                         save=CrossFitLexical.save, what=what))  # fmt: skip

    return context.shared_pass("lexical", share)


class LexicalScorer(FeatureScorer):
    """Base of the lexical scorers: the mean or min of some IBM-1 features of the shared :class:`LexicalPass`."""

    direction = HIGHER_IS_BETTER
    reason = "lexical_mismatch"
    features: ClassVar[tuple[str, ...]]
    reduce: ClassVar[str] = "mean"

    def __init__(self, lexical: LexicalPass | LexicalModel | CrossFitLexical) -> None:
        self.passes = (lexical if isinstance(lexical, LexicalPass) else LexicalPass(lexical),)

    @classmethod
    def build(cls, context: BuildContext, **options: Any) -> LexicalScorer:
        return cls(lexical_pass(context), **options)

    def from_features(self, *features: Mapping[str, Any]) -> np.ndarray:
        stacked = np.stack([features[0][f] for f in self.features])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (no words) stay NaN
            out = np.nanmean(stacked, axis=0) if self.reduce == "mean" else np.nanmin(stacked, axis=0)
        return out.astype(np.float32)


class LexicalLikelihoodScorer(LexicalScorer):
    """Mean per-word IBM-1 log-likelihood, averaged over both directions."""

    name = "lexical"
    default_threshold = -7.0  # clean captions average about -3; a misaligned pair about -10
    features = ("mean_s2t", "mean_t2s")


class LexicalWorstWordScorer(LexicalScorer):
    """Log-prob of the worst-explained word on either side (a swapped or foreign word)."""

    name = "lexical_min"
    default_threshold = -10.0
    features = ("min_s2t", "min_t2s")
    reduce = "min"


class LexicalCoverageScorer(LexicalScorer):
    """Share of words with a likely translation on the other side (worse direction): omissions show here."""

    name = "lexical_cov"
    default_threshold = 0.6
    features = ("cov_s2t", "cov_t2s")
    reduce = "min"


class LexicalGapSourceScorer(LexicalScorer):
    """Largest shortfall of a source word's translation in the target vs. its usual (omission / swap)."""

    name = "lexical_gap_src"
    direction = LOWER_IS_BETTER
    default_threshold = 2.0  # a usually well-translated word (best ~ -0.3, weight 0.74) left at ~ -3 or worse
    features = ("gap_t2s",)


class LexicalGapTargetScorer(LexicalScorer):
    """Largest shortfall of a target word's source support vs. its usual (addition / swapped-in word)."""

    name = "lexical_gap_tgt"
    direction = LOWER_IS_BETTER
    default_threshold = 2.0
    features = ("gap_s2t",)


class LexicalLengthScorer(LexicalScorer):
    """Target word count minus the count expected from the source words (per-word fertility learned on the corpus):
    negative = words missing (omission, truncation), positive = words added (repetition, babble)."""

    name = "lexical_length"
    default_threshold = -3.0  # clean captions: residual sd about 1.1 words
    reason = "length_ratio"
    features = ("length_resid",)
