"""The translator interface every backend implements, and the settings that define a translation.

A :class:`Translator` is bound to one model and one language direction; ``translate(texts)`` returns one
:class:`Translation` (text + mean token log-prob) per input, in input order. Backends are loaded by
:func:`clcm.translation.load_translator` from a :class:`ModelSpec`.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clcm.configs import check_config, option

BACKENDS = ("hf", "ct2")
DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class DecodeSettings:
    """Decoding settings; part of the translation cache key (a change re-translates).

    Args:
        beam_size: 1 = greedy (fastest; the default because captions are short and simple).
        max_length_factor: output budget as a factor of the source length in tokens (captions rarely grow 2x).
        max_length_extra: tokens added to that budget, so very short sources can still be translated.
        max_length: hard cap on generated tokens per text.
        min_length: generated tokens before EOS is allowed (0; benchmarks set it = max to fix the work).
        max_batch_tokens: source-token budget per batch (length-bucketed batches).
        max_batch_size: most texts per batch.
    """

    beam_size: int = option(1, ge=1, le=64)
    max_length_factor: float = option(2.0, ge=0, le=100)
    max_length_extra: int = option(10, ge=0, le=100_000)
    max_length: int = option(256, ge=1, le=100_000)
    min_length: int = option(0, ge=0, le=100_000)
    max_batch_tokens: int = option(4096, ge=1)
    max_batch_size: int = option(64, ge=1)

    def __post_init__(self) -> None:
        check_config(self)

    def length_budget(self, src_tokens: int) -> int:
        """Generated-token budget of a source of ``src_tokens`` tokens (rounded up to a multiple of 8, so that
        batches can share one budget while each text's budget depends only on the text itself)."""
        bucket = -(-src_tokens // 8) * 8
        budget = math.ceil(self.max_length_factor * bucket) + self.max_length_extra
        return max(self.min_length, min(self.max_length, budget))

    def cache_fields(self) -> dict[str, Any]:
        """The settings that change outputs (batching does not, so it is left out of the cache key)."""
        d = asdict(self)
        d.pop("max_batch_tokens")
        d.pop("max_batch_size")
        return d


@dataclass(frozen=True)
class ModelSpec:
    """What to load: a model, its backend and device, and the direction it translates.

    Args:
        model: hub id or local directory (a CTranslate2 directory for ``ct2``).
        src_lang, tgt_lang: ISO 639-1 codes of the direction.
        backend: ``hf`` (transformers) or ``ct2`` (CTranslate2).
        device: ``cpu``, ``cuda`` or ``auto`` (cuda when available).
        compute_type: precision; ``auto`` = fp32 (hf) / int8 (ct2) on CPU, fp16 (hf) / int8_float16 (ct2) on GPU.
        revision: hub revision (None = the default branch; a local directory has none).
        settings: decoding settings.
        threads: intra-op threads per worker (1: one worker per core is the fastest layout for captions).
        parallel: batches translated at once by one loaded model (CTranslate2 ``inter_threads``; the transformers
            backend multiplies its torch threads by it): ``--workers``.
        source: the hub id or directory ``model`` was converted from (named in outputs instead of the converted dir).
    """

    model: str
    src_lang: str
    tgt_lang: str
    backend: str = "ct2"
    device: str = "cpu"
    compute_type: str = "auto"
    revision: str | None = None
    settings: DecodeSettings = field(default_factory=DecodeSettings)
    threads: int = 1
    source: str | None = None
    parallel: int = 1

    @property
    def model_ref(self) -> str:
        """``model@revision`` as written to pair rows (``mt_model``/``bt_model``) and the cache key."""
        if self.source:
            return f"{self.source}@{self.revision or 'main'}"
        if self.revision:
            return f"{self.model}@{self.revision}"
        return f"{self.model}@{local_fingerprint(self.model) if os.path.isdir(self.model) else 'main'}"

    def cache_fields(self) -> dict[str, Any]:
        """Everything that changes a translation: model, backend/precision, languages, decoding settings."""
        return {
            "model": self.model_ref,
            "backend": self.backend,
            "compute_type": self.compute_type,
            "src": self.src_lang,
            "tgt": self.tgt_lang,
            **self.settings.cache_fields(),
        }


@functools.lru_cache(maxsize=32)
def local_fingerprint(path: str) -> str:
    """``local-<sha256[:12]>`` of a model directory's file names and contents (so a rebuilt model is new)."""
    h = hashlib.sha256()
    for f in sorted(Path(path).rglob("*")):
        if f.is_file() and not f.name.startswith("."):
            h.update(str(f.relative_to(path)).encode())
            with open(f, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
    return f"local-{h.hexdigest()[:12]}"


@dataclass(frozen=True)
class Translation:
    """One translation: the text, its mean token log-prob under the model, and its length in tokens."""

    text: str
    logprob: float
    tokens: int


class Translator(ABC):
    """A loaded model translating one direction. Subclasses set ``spec`` and implement :meth:`translate`."""

    spec: ModelSpec

    @abstractmethod
    def translate(self, texts: Sequence[str]) -> list[Translation]:
        """Translate ``texts`` (any number; the backend batches by length), keeping input order."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.model!r}, {self.spec.src_lang}->{self.spec.tgt_lang})"
