"""Copy / untranslated rate: the share of target words copied verbatim from the source."""

from __future__ import annotations

import re

import numpy as np

from clcm.filtering.base import LOWER_IS_BETTER, PairBatch, Scorer, column

_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)  # letters only, 2+ chars: numbers and "a" are fine to copy


class CopyScorer(Scorer):
    """Fraction of target words (letters, 2+ chars, lower-cased) that also occur in the source."""

    name = "copy"
    direction = LOWER_IS_BETTER
    default_threshold = 0.5  # names/brands copy legitimately, but rarely half a caption
    reason = "untranslated"

    def score(self, batch: PairBatch) -> np.ndarray:
        src, tgt = column(batch, "src_text"), column(batch, "tgt_text")
        out = np.empty(len(src), dtype=np.float32)
        for i, (s, t) in enumerate(zip(src, tgt, strict=False)):
            tw = _WORD.findall(t.lower())
            if not tw:
                out[i] = 0.0
                continue
            sw = set(_WORD.findall(s.lower()))
            out[i] = sum(w in sw for w in tw) / len(tw)
        return out
