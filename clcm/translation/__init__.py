"""Translator backends (transformers ``hf``, CTranslate2 ``ct2``), language codes and length-bucketed batching.

Heavy libraries are imported only when a backend is loaded.
"""

from __future__ import annotations

from clcm.errors import UsageError
from clcm.translation.base import BACKENDS, DecodeSettings, ModelSpec, Translation, Translator
from clcm.translation.languages import default_model

__all__ = [
    "BACKENDS",
    "DecodeSettings",
    "ModelSpec",
    "Translation",
    "Translator",
    "default_model",
    "load_translator",
]


def load_translator(spec: ModelSpec) -> Translator:
    """Load the backend ``spec.backend`` for ``spec``; raises ModelError when the model or device is unusable."""
    if spec.backend == "hf":
        from clcm.translation.hf import HFTranslator

        return HFTranslator(spec)
    if spec.backend == "ct2":
        from clcm.translation.ct2 import CT2Translator

        return CT2Translator(spec)
    raise UsageError(f"unknown backend {spec.backend!r}: expected one of {', '.join(BACKENDS)}")
