"""Back-translation consistency: sentence chrF (sacrebleu) between the source and its back-translation."""

from __future__ import annotations

import numpy as np

from clcm.filtering.base import HIGHER_IS_BETTER, TEXT_CACHE_ENTRIES, PairBatch, Scorer, column


class ChrfScorer(Scorer):
    """chrF(bt_text, [src_text]) / 100 in [0, 1]; NaN where a pair has no back-translation."""

    name = "bt_chrf"
    direction = HIGHER_IS_BETTER
    default_threshold = 0.3  # a faithful round trip of a caption keeps well over a third of its character n-grams
    reason = "bt_mismatch"
    requires = ("src_text", "bt_text")

    def __init__(self) -> None:
        from sacrebleu.metrics import CHRF

        self._chrf = CHRF()
        self._cache: dict[tuple[str, str], float] = {}

    def score(self, batch: PairBatch) -> np.ndarray:
        src, bt = column(batch, "src_text"), column(batch, "bt_text")
        out = np.empty(len(src), dtype=np.float32)
        for i, (s, b) in enumerate(zip(src, bt, strict=False)):
            if b is None:
                out[i] = np.nan
                continue
            v = self._cache.get((s, b))
            if v is None:
                v = self._cache[(s, b)] = self._chrf.sentence_score(b, [s]).score / 100.0
            out[i] = v
        if len(self._cache) > TEXT_CACHE_ENTRIES:
            self._cache.clear()
        return out
