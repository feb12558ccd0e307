"""Repetition / hallucination loops: n-grams the target repeats beyond what the source does."""

from __future__ import annotations

import re

import numpy as np

from clcm.filtering.base import LOWER_IS_BETTER, PairBatch, Scorer, column

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def repeated_fraction(text: str, max_n: int = 4) -> float:
    """Largest share of an n-gram list (n = 1..max_n) taken by repeats: 1 - distinct / total."""
    toks = _TOKEN.findall(text.lower())
    best = 0.0
    for n in range(1, max_n + 1):
        total = len(toks) - n + 1
        if total < 2:
            break
        grams = {tuple(toks[i : i + n]) for i in range(total)}
        best = max(best, 1.0 - len(grams) / total)
    return best


class RepetitionScorer(Scorer):
    """Target repeat share minus the source's (captions legitimately repeat "a"/"the")."""

    name = "repetition"
    direction = LOWER_IS_BETTER
    default_threshold = 0.25  # a loop of 3+ repeats of a short phrase in a 10-word caption goes well past this
    reason = "repetition"

    def score(self, batch: PairBatch) -> np.ndarray:
        src, tgt = column(batch, "src_text"), column(batch, "tgt_text")
        out = np.empty(len(src), dtype=np.float32)
        for i, (s, t) in enumerate(zip(src, tgt, strict=False)):
            out[i] = max(0.0, repeated_fraction(t) - repeated_fraction(s))
        return out
