"""`clcm-data translate` and `convert-model`: the Beam MT + back-translation pipeline."""

from __future__ import annotations

from clcm.cli.common import not_built


def translate_cmd() -> None:
    """Translate and back-translate captions into pair shards (Apache Beam; hf or ct2 backend)."""
    not_built("clcm-data translate", "issue 3")


def convert_model_cmd() -> None:
    """Convert a transformers seq2seq model to CTranslate2."""
    not_built("clcm-data convert-model", "issue 3")
