"""Cross-lingual embedding similarity with any HF encoder (default LaBSE), mean pooling, cosine.

Two scorers share one loaded encoder per process: ``embedding`` = cos(src, tgt) and ``embedding_bt`` =
cos(src, bt). Texts are embedded once per unique string (cached) in length-sorted batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from clcm.errors import ModelError
from clcm.filtering.base import HIGHER_IS_BETTER, PairBatch, Scorer, column

DEFAULT_EMBEDDER = "sentence-transformers/LaBSE"


class Encoder:
    """Mean-pooled, L2-normalised sentence embeddings from an HF encoder (loaded lazily, CPU or CUDA)."""

    requires = ("torch", "transformers")

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 64, max_length: int = 64) -> None:
        self.model_id, self.device, self.batch_size, self.max_length = model, device, batch_size, max_length
        self._tok: Any = None
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}

    def _load(self) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if self.device == "cuda" and not torch.cuda.is_available():
            raise ModelError("--device cuda was asked for but no CUDA device is available")
        try:
            self._tok = AutoTokenizer.from_pretrained(self.model_id)
            self._model = AutoModel.from_pretrained(self.model_id).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load embedder {self.model_id!r}: {exc}") from exc

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit vectors, in input order."""
        import torch

        if self._model is None:
            self._load()
        todo = sorted({t for t in texts if t not in self._cache}, key=len)
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i : i + self.batch_size]
            enc = self._tok(chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with torch.inference_mode():
                hidden = self._model(**enc).last_hidden_state  # (b, len, dim)
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (b, len, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (b, dim)
            pooled = torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()
            self._cache.update(zip(chunk, pooled, strict=False))
        if len(self._cache) > 200_000:
            keep = {t: self._cache[t] for t in texts}
            self._cache = keep
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)


_ENCODERS: dict[tuple[str, str], Encoder] = {}


def get_encoder(model: str, device: str = "cpu") -> Encoder:
    """One encoder per (model, device) and process."""
    key = (model, device)
    if key not in _ENCODERS:
        _ENCODERS[key] = Encoder(model, device=device)
    return _ENCODERS[key]


class EmbeddingScorer(Scorer):
    """Cosine of source and target embeddings (multilingual encoder)."""

    name = "embedding"
    direction = HIGHER_IS_BETTER
    default_threshold = 0.5  # LaBSE gives ~0.8-0.9 for caption translations and < 0.3 for unrelated captions
    reason = "low_similarity"
    requires = ("src_text", "tgt_text")
    other = "tgt_text"

    def __init__(self, model: str | None = None, device: str = "cpu") -> None:
        if not model:
            raise ValueError(f"scorer {self.name} needs an embedder model (--embedder)")
        self.model, self.device = model, device

    def score(self, batch: PairBatch) -> np.ndarray:
        src, other = column(batch, "src_text"), column(batch, self.other)
        out = np.full(len(src), np.nan, dtype=np.float32)
        idx = [i for i, o in enumerate(other) if o is not None]
        if idx:
            enc = get_encoder(self.model, self.device)
            a = enc.encode([src[i] for i in idx])
            b = enc.encode([other[i] for i in idx])
            out[idx] = (a * b).sum(axis=1)
        return out

    def config(self) -> dict[str, Any]:
        return {**super().config(), "model": self.model}


class EmbeddingBtScorer(EmbeddingScorer):
    """Cosine of source and back-translation embeddings."""

    name = "embedding_bt"
    default_threshold = 0.7  # same language: a faithful round trip stays very close
    reason = "bt_mismatch"
    requires = ("src_text", "bt_text")
    other = "bt_text"
