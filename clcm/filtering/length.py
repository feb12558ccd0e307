"""Length ratio of target to source, on sacremoses tokens, per language pair, robust to very short captions."""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np

from clcm.filtering.base import LOWER_IS_BETTER, TEXT_CACHE_ENTRIES, PairBatch, Scorer, column

# Expected log(target tokens / source tokens) from English; measured on Multi30K train (human translations) for
# de/fr/cs, 0 elsewhere. Pairs not from English use the difference of the two languages' values.
EXPECTED_LOG_RATIO_FROM_EN: dict[str, float] = {"en": 0.0, "de": 0.0, "fr": 0.07, "cs": -0.185}
SMOOTH = 2.0  # added to both token counts: a 2-vs-3 token caption is not an outlier


@lru_cache(maxsize=32)
def _tokenizer(lang: str):  # noqa: ANN202 - sacremoses has no types
    from sacremoses import MosesTokenizer

    return MosesTokenizer(lang=lang)


# Plain text (letter-only words, separated by single spaces, optional ",;:" after a word and one final ".!?"):
# Moses splits exactly those punctuation marks off, so the count is words + marks - unless the final "." follows
# a non-breaking prefix ("bot.", "A."), which Moses keeps attached. Checked against Moses on Multi30K (4 languages).
_PLAIN = re.compile(r"[^\W\d_]+[,;:]?(?: [^\W\d_]+[,;:]?)*[.!?]?")
_PLAIN_TOKEN = re.compile(r"[^\W\d_]+|[,;:.!?]")


@lru_cache(maxsize=32)
def _nonbreaking(lang: str) -> frozenset[str]:
    return frozenset(_tokenizer(lang).NONBREAKING_PREFIXES)


@lru_cache(maxsize=TEXT_CACHE_ENTRIES)
def count_tokens(text: str, lang: str) -> int:
    """Number of Moses tokens of ``text`` (cached: captions repeat; plain captions skip the Moses regex passes)."""
    if _PLAIN.fullmatch(text) and not (text.endswith(".") and text[:-1].rsplit(" ", 1)[-1] in _nonbreaking(lang)):
        return len(_PLAIN_TOKEN.findall(text))
    return len(_tokenizer(lang).tokenize(text, escape=False))


def expected_log_ratio(src_lang: str, tgt_lang: str) -> float:
    e = EXPECTED_LOG_RATIO_FROM_EN
    return e.get(tgt_lang, 0.0) - e.get(src_lang, 0.0)


class LengthRatioScorer(Scorer):
    """|log((n_tgt + 2) / (n_src + 2)) - expected|: 0 = typical length; ~0.7 = half or double the expected."""

    name = "length_ratio"
    direction = LOWER_IS_BETTER
    default_threshold = 0.6  # ~1.8x off the expected ratio; the 99th percentile of Multi30K human pairs is ~0.42
    reason = "length_ratio"
    requires = ("src_text", "tgt_text")

    def score(self, batch: PairBatch) -> np.ndarray:
        src, tgt = column(batch, "src_text"), column(batch, "tgt_text")
        sl, tl = column(batch, "src_lang"), column(batch, "tgt_lang")
        out = np.empty(len(src), dtype=np.float32)
        for i, (s, t, a, b) in enumerate(zip(src, tgt, sl, tl, strict=False)):
            a, b = a or "en", b or "en"
            ratio = math.log((count_tokens(t, b) + SMOOTH) / (count_tokens(s, a) + SMOOTH))
            out[i] = abs(ratio - expected_log_ratio(a, b))
        return out
