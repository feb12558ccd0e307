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


def consecutive_repeats(text: str, max_n: int = 3) -> int:
    """Most immediate back-to-back repeats of one n-gram (n = 1..max_n): "v parku v parku v parku" -> 2."""
    toks = _TOKEN.findall(text.lower())
    best = 0
    for n in range(1, max_n + 1):
        for start in range(n):
            run = 0
            for i in range(start + n, len(toks) - n + 1, n):
                run = run + 1 if toks[i : i + n] == toks[i - n : i] else 0
                best = max(best, run)
    return best


CONSECUTIVE_WEIGHT = 0.2  # one immediate repeat ("za za") scores 0.2: rare in human captions, typical of loops


class RepetitionScorer(Scorer):
    """Repeats the target has beyond the source's: max(repeat-share difference, 0.2 x extra back-to-back repeats).

    Captions legitimately repeat "a"/"the", so only the excess over the source counts.
    """

    name = "repetition"
    direction = LOWER_IS_BETTER
    default_threshold = 0.25  # a loop of 3+ repeats of a short phrase in a 10-word caption goes well past this
    reason = "repetition"

    def score(self, batch: PairBatch) -> np.ndarray:
        src, tgt = column(batch, "src_text"), column(batch, "tgt_text")
        out = np.empty(len(src), dtype=np.float32)
        for i, (s, t) in enumerate(zip(src, tgt, strict=False)):
            share = repeated_fraction(t) - repeated_fraction(s)
            loops = CONSECUTIVE_WEIGHT * (consecutive_repeats(t) - consecutive_repeats(s))
            out[i] = max(0.0, share, loops)
        return out
