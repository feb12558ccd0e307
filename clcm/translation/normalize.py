"""Source-text normalisation before de-duplication and translation (NFC, whitespace, Moses punctuation)."""

from __future__ import annotations

import functools
import re
import unicodedata

_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=16)
def _moses(lang: str):  # noqa: ANN202 - sacremoses has no type hints
    from sacremoses import MosesPunctNormalizer

    return MosesPunctNormalizer(lang=lang)


def normalize_text(text: str, lang: str) -> str:
    """Unicode NFC, Moses punctuation normalisation for ``lang``, whitespace collapsed and stripped.

    Two captions that differ only in these respects translate identically, so they are translated once.
    """
    text = unicodedata.normalize("NFC", text)
    text = _moses(lang).normalize(text)
    return _SPACES.sub(" ", text).strip()
