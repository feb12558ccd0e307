"""Sentence-final punctuation lost in translation: the source ends a sentence, the target stops mid-sentence."""

from __future__ import annotations

import numpy as np

from clcm.filtering.base import LOWER_IS_BETTER, PairBatch, Scorer, column

# Latin/Cyrillic/Greek full stops, ellipsis, CJK and Devanagari/Arabic sentence ends, and closing quotes/brackets
# after one. Scripts that end sentences without a mark (e.g. Thai) make every pair 1.0: the combiner then ignores
# the column (no variance), but do not use it as a hard rule there.
SENTENCE_END = ".!?…。！？।؟"
CLOSERS = "\"'”’“‘»«)]"  # Czech/German close with “ and ‘


def ends_sentence(text: str) -> bool:
    return text.rstrip().rstrip(CLOSERS)[-1:] in SENTENCE_END if text.strip() else False


class FinalPunctuationScorer(Scorer):
    """1.0 when the source ends with sentence-final punctuation and the target does not (a cut-off translation).

    Measured on Multi30K en-cs: 4% of val (7% of train) human pairs do this, 95% of truncated outputs.
    """

    name = "final_punct"
    direction = LOWER_IS_BETTER
    default_threshold = 0.5
    reason = "truncated"

    def score(self, batch: PairBatch) -> np.ndarray:
        src, tgt = column(batch, "src_text"), column(batch, "tgt_text")
        return np.array(
            [float(ends_sentence(s or "") and not ends_sentence(t or "")) for s, t in zip(src, tgt, strict=True)],
            dtype=np.float32,
        )
