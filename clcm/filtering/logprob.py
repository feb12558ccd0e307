"""MT log-prob: the translation model's own mean token log-probability, when the pairs carry it."""

from __future__ import annotations

import numpy as np

from clcm.filtering.base import HIGHER_IS_BETTER, PairBatch, Scorer, column


class LogProbScorer(Scorer):
    """``mt_logprob`` as a score (mean token log-prob; NaN for pairs without one, e.g. human references)."""

    name = "mt_logprob"
    direction = HIGHER_IS_BETTER
    default_threshold = -1.5  # OPUS-MT greedy captions average about -0.3..-0.8 per token; loops/garbage go lower
    reason = "low_mt_logprob"
    requires = ("mt_logprob",)

    def score(self, batch: PairBatch) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in column(batch, "mt_logprob")], dtype=np.float32)
