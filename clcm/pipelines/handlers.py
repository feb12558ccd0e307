"""The translate step of the Beam pipelines: batches of texts in, ``(text, Translation)`` out.

A model is loaded at most once per worker process and shared by every thread and every DoFn instance of that
process (a process-wide registry keyed by the model spec), and only when the first batch that needs it arrives:
a re-run served entirely from the cache never imports a backend or loads a model. (Beam's RunInference would load
its model in ``setup`` of every DoFn instance, and importing it imports torch.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from clcm.pipelines.cache import NAMESPACE
from clcm.pipelines.model_files import local_copy
from clcm.pipelines.options import WORKER_ENV
from clcm.translation import ModelSpec, Translation, Translator, load_translator

_MODELS: dict[ModelSpec, Translator] = {}
_LOCK = threading.Lock()


def shared_translator(spec: ModelSpec) -> Translator:
    """This process's translator for ``spec`` (loaded on first use, then shared by all its threads)."""
    model = _MODELS.get(spec)
    if model is None:
        with _LOCK:
            model = _MODELS.get(spec)
            if model is None:
                for key, value in WORKER_ENV.items():  # one thread per worker unless the user says otherwise
                    os.environ.setdefault(key, value)
                local = replace(spec, model=local_copy(spec.model)) if "://" in spec.model else spec
                model = _MODELS[spec] = load_translator(local)
    return model


class TranslateDoFn(beam.DoFn):
    """Batches of texts in; ``(text, Translation)`` out, counting translated texts and generated tokens."""

    def __init__(self, spec: ModelSpec, label: str, *, progress: bool = False) -> None:
        self.spec = spec
        self._label = label
        self._progress = progress
        self._bar: Any = None

    def setup(self) -> None:
        self._translated = Metrics.counter(NAMESPACE, f"{self._label}_translated")
        self._tokens = Metrics.counter(NAMESPACE, f"{self._label}_tokens")

    def process(self, batch: Sequence[str]) -> Iterator[tuple[str, Translation]]:
        results = shared_translator(self.spec).translate(batch)
        self._translated.inc(len(batch))
        self._tokens.inc(sum(r.tokens for r in results))
        if self._progress:
            self._tick(len(batch))
        yield from zip(batch, results, strict=True)

    def _tick(self, n: int) -> None:
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(desc=f"translate {self.spec.src_lang}->{self.spec.tgt_lang}", unit="text", leave=False)
        self._bar.update(n)

    def teardown(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_bar"] = None  # progress bars do not pickle
        return state


class Translate(beam.PTransform):
    """Texts in, ``(text, Translation)`` out: batches of ``batch_size`` texts through the shared translator."""

    def __init__(self, spec: ModelSpec, label: str, *, batch_size: int = 512, progress: bool = False) -> None:
        super().__init__()
        self._spec = spec
        self._label = label
        self._batch = batch_size
        self._progress = progress

    def expand(self, texts: beam.PCollection) -> beam.PCollection:
        return (
            texts
            | "Batch" >> beam.BatchElements(min_batch_size=self._batch, max_batch_size=self._batch)
            | "Translate" >> beam.ParDo(TranslateDoFn(self._spec, self._label, progress=self._progress))
        )
