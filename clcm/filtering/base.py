"""The scorer interface and the registry of built-in scorers.

A scorer turns a batch of pairs (a dict of equal-length column lists, PAIR_SCHEMA names) into one float32 score per
pair. It declares its direction (is a higher score cleaner or noisier?), a default threshold calibrated for 5-20
word captions, and the reason a pair dropped by it is counted under. Scorers are pure Python and Beam-agnostic;
``clcm.pipelines.score`` applies them to batches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

HIGHER_IS_BETTER = "higher_is_better"
LOWER_IS_BETTER = "lower_is_better"

PairBatch = Mapping[str, Sequence[Any]]  # column name -> values, one per pair


class Scorer(ABC):
    """One noise signal. Subclasses set the class attributes and implement :meth:`score`.

    Attributes:
        name: registry key; the output column is ``score_<name>``.
        direction: HIGHER_IS_BETTER or LOWER_IS_BETTER.
        default_threshold: accept boundary for captions (used by hard rules and reports).
        reason: ``reject_reason`` of a pair a hard rule on this scorer drops.
        requires: columns that must be present (with some non-null values) for the scorer to run at all.
    """

    name: ClassVar[str]
    direction: ClassVar[str] = HIGHER_IS_BETTER
    default_threshold: ClassVar[float]
    reason: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ("src_text", "tgt_text")

    @abstractmethod
    def score(self, batch: PairBatch) -> np.ndarray:
        """One float32 score per pair (NaN where this pair lacks an input, e.g. a null ``bt_text``)."""

    def accept(self, scores: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Boolean mask of pairs this scorer accepts at ``threshold`` (default: its own); NaN is accepted."""
        t = self.default_threshold if threshold is None else threshold
        with np.errstate(invalid="ignore"):
            bad = scores < t if self.direction == HIGHER_IS_BETTER else scores > t
        return ~bad

    @classmethod
    def missing_inputs(cls, available: Mapping[str, int]) -> list[str]:
        """The required columns with no non-null value (``available``: column -> non-null count)."""
        return [c for c in cls.requires if not available.get(c)]

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description for manifests."""
        return {"name": self.name, "direction": self.direction, "threshold": self.default_threshold}


def column(batch: PairBatch, name: str) -> list[Any]:
    values = batch.get(name)
    if values is None:
        n = len(next(iter(batch.values()))) if batch else 0
        return [None] * n
    return list(values)


def cached_map(fn: Any, texts: Sequence[Any], cache: dict[Any, float], max_size: int = 200_000) -> np.ndarray:
    """Apply ``fn`` once per unique input (captions repeat a lot), remembering results across batches."""
    out = np.empty(len(texts), dtype=np.float32)
    for i, t in enumerate(texts):
        v = cache.get(t)
        if v is None:
            v = cache[t] = float(fn(t))
        out[i] = v
    if len(cache) > max_size:
        cache.clear()
    return out
