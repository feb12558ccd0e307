"""The scorer interface, the context scorers are built in, and small helpers shared by scorers.

A scorer turns a batch of pairs (a dict of equal-length column lists, PAIR_SCHEMA names) into one float32 score per
pair. It declares its direction (is a higher score cleaner or noisier?), a default threshold calibrated for 5-20
word captions, and the reason a pair dropped by it is counted under. Scorers are pure Python and Beam-agnostic;
``clcm.pipelines.score`` applies them to batches.

Building: :meth:`Scorer.build` gets a :class:`BuildContext` and the scorer's own options (the config's
``scorer_options.<name>`` keys: its constructor parameters that have a default; unknown keys raise). A scorer that
needs a model fits it there on the driver (``context.fit_pairs``) and saves it into ``context.model_dir``, or, in a
worker, loads it from there; :meth:`BuildContext.model` does both and shares one model among the scorers that use
it. So a new model scorer is one file plus one line in :mod:`clcm.filtering.registry`.

Several columns from one pass: a :class:`FeatureScorer` reads its column from the features of one or more shared
:class:`FeaturePass` objects (e.g. one IBM-1 analysis for six lexical columns); :func:`clcm.filtering.scoring.
score_batch` runs each pass once per batch and hands the result to every column that reads it.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np

from clcm import memory, storage
from clcm.errors import UsageError

HIGHER_IS_BETTER = "higher_is_better"
LOWER_IS_BETTER = "lower_is_better"

PairBatch = Mapping[str, Sequence[Any]]  # column name -> values, one per pair
M = TypeVar("M")
P = TypeVar("P", bound="FeaturePass")
log = logging.getLogger(__name__)


@dataclass
class BuildContext:
    """What scorers are built with.

    Args:
        model_dir: directory of the fitted scorer models, a local path or an object-store URL (written on the
            driver, read by workers through :mod:`clcm.storage`); None keeps fitted models in memory only (tests,
            benchmarks).
        fit_pairs: the corpus (src, tgt) pairs to fit models on (driver); None in a worker (models are loaded).
        device: device of neural scorers (cpu / cuda).
        options: per scorer name, its constructor parameters.
        models: models shared by several scorers, by key (filled by :meth:`model`; tests may preset them).
        fitted: per model key, what was fitted (file, seconds, pairs) for the manifest.
    """

    model_dir: str | os.PathLike | None = None
    fit_pairs: Sequence[tuple[str, str]] | None = None
    device: str = "cpu"
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)
    passes: dict[str, FeaturePass] = field(default_factory=dict)

    def shared_pass(self, key: str, make: Callable[[], P]) -> P:
        """The feature pass ``key`` of this context (made once): the scorers that read it share one pass per batch."""
        if key not in self.passes:
            self.passes[key] = make()
        return self.passes[key]  # type: ignore[return-value]

    def model(
        self, key: str, *, file: str, fit: Callable[[Sequence[tuple[str, str]]], M], load: Callable[[str], M],
        save: Callable[[M, str], None], what: str = "",
    ) -> M:  # fmt: skip
        """The model ``key``: preset or already built in this context; else fitted on ``fit_pairs`` (and saved to
        ``model_dir/file``) on the driver, or loaded from ``model_dir/file`` in a worker."""
        if key in self.models:
            return self.models[key]
        if self.fit_pairs is not None:
            log.info("fitting %s on %d pairs ...", what or key, len(self.fit_pairs))
            start, cpu = time.perf_counter(), time.process_time()
            model = fit(self.fit_pairs)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            info: dict[str, Any] = {"fit_pairs": len(self.fit_pairs), "fit_seconds": round(wall, 2)}
            info["fit_cpu_seconds"] = round(cpu, 2)
            if self.model_dir is not None:
                path = storage.join(self.model_dir, file)
                save(model, path)
                _remember(path, model)  # in-process workers reuse it instead of loading it again
                info["file"] = file
            memory.release_free_memory()  # the fit's temporaries (several times the model) are garbage now
            log.info("fitted %s in %.1f s", what or key, info["fit_seconds"])
            self.fitted[key] = info
        elif self.model_dir is not None:
            model = _load_once(storage.join(self.model_dir, file), load)
        else:
            raise ValueError(f"model {key!r} is not given, nor fittable (no fit_pairs), nor loadable (no model_dir)")
        self.models[key] = model
        return model


_LOADED: dict[tuple[str, int, float], Any] = {}  # (path, size, mtime) -> model: one load per process and file


def _file_key(path: str) -> tuple[str, int, float]:
    size, mtime = storage.stat(path)
    return (path if storage.is_url(path) else os.path.realpath(path)), size, mtime


def _remember(path: str, model: Any) -> None:
    if len(_LOADED) >= 16:  # a long-lived process (tests) scoring many runs
        _LOADED.clear()
    _LOADED[_file_key(path)] = model


def _load_once(path: str, load: Callable[[str], M]) -> M:
    try:
        key = _file_key(path)
    except (OSError, IndexError):  # IndexError: an object store lists no such object
        return load(path)  # the loader reports the missing file
    if key not in _LOADED:
        _remember(path, load(path))
    return _LOADED[key]


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

    @classmethod
    def build(cls, context: BuildContext, **options: Any) -> Scorer:
        """The scorer for ``context`` with its config ``options`` (default: ``cls(**options)``; model scorers
        override this to get their model from ``context``)."""
        return cls(**options)

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Raise UsageError for option keys that are not options: constructor parameters with a default (those
        without one, e.g. a model scorer's model, are what ``build`` passes in)."""
        signature = inspect.signature(cls.__init__).parameters.values()
        params = [p.name for p in signature if p.default is not inspect.Parameter.empty]
        unknown = sorted(set(options) - set(params))
        if unknown:
            raise UsageError(f"scorer {cls.name}: unknown option(s) {unknown}; known: {params or 'none'}")

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


class FeaturePass(ABC):
    """One analysis of a batch whose features several :class:`FeatureScorer` columns read (run once per batch)."""

    @abstractmethod
    def run(self, batch: PairBatch) -> Mapping[str, Any]:
        """Named per-pair features of the batch."""


class FeatureScorer(Scorer):
    """A column computed from the features of shared passes (``passes``, in the order :meth:`from_features` takes)."""

    passes: tuple[FeaturePass, ...]

    @abstractmethod
    def from_features(self, *features: Mapping[str, Any]) -> np.ndarray:
        """The column from each pass's features."""

    def score(self, batch: PairBatch) -> np.ndarray:
        return self.from_features(*(p.run(batch) for p in self.passes))


def column(batch: PairBatch, name: str) -> list[Any]:
    values = batch.get(name)
    if values is None:
        n = len(next(iter(batch.values()))) if batch else 0
        return [None] * n
    return list(values)


# Results kept per text cache (per scorer or detector and process): captions repeat, but a cache must not grow with the
# corpus (memory stays flat); a full cache is emptied and refills.
TEXT_CACHE_ENTRIES = 4096


def cached_map(
    fn: Any, texts: Sequence[Any], cache: dict[Any, float], max_size: int = TEXT_CACHE_ENTRIES
) -> np.ndarray:
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
