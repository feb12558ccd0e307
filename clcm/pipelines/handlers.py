"""Beam ModelHandler for clcm translators: a model loads once per worker and translates batches of texts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from clcm.pipelines.options import WORKER_ENV
from clcm.translation import ModelSpec, Translator, load_translator


class TranslatorModelHandler(ModelHandler[str, PredictionResult, Translator]):
    """RunInference handler: ``str`` source texts in, ``PredictionResult(text, Translation)`` out.

    Args:
        spec: the model and direction to load (on the worker, once).
        batch_size: texts per RunInference batch; the translator cuts it into length-sorted sub-batches.
        share_across_processes: one model copy per machine shared by worker processes (large models on GPU).
        progress: show a progress bar of translated texts (local runs).
    """

    def __init__(
        self, spec: ModelSpec, *, batch_size: int = 512, share_across_processes: bool = False, progress: bool = False
    ) -> None:
        super().__init__(min_batch_size=batch_size, max_batch_size=batch_size, env_vars=dict(WORKER_ENV))
        self.spec = spec
        self._share = share_across_processes
        self._progress = progress
        self._bar: Any = None

    def load_model(self) -> Translator:
        return load_translator(self.spec)

    def run_inference(
        self, batch: Sequence[str], model: Translator, inference_args: dict[str, Any] | None = None
    ) -> Iterable[PredictionResult]:
        results = model.translate(batch)
        if self._progress:
            self._tick(len(batch))
        return [
            PredictionResult(text, t, model_id=self.spec.model_ref) for text, t in zip(batch, results, strict=True)
        ]

    def _tick(self, n: int) -> None:
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(desc=f"translate {self.spec.src_lang}->{self.spec.tgt_lang}", unit="text", leave=False)
        self._bar.update(n)

    def get_num_bytes(self, batch: Sequence[str]) -> int:
        return sum(len(t.encode("utf-8")) for t in batch)

    def get_metrics_namespace(self) -> str:
        return "clcm.translate"

    def share_model_across_processes(self) -> bool:
        return self._share

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_bar"] = None  # progress bars do not pickle
        return state
