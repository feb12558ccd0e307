"""Stable record ids. Ids are derived from content keys (never row positions), so re-runs and N workers agree."""

from __future__ import annotations

import hashlib


def caption_id(media_id: str, lang: str, caption_index: int) -> str:
    """Default caption id, the NRCCR shape ``<media_id>#<lang>#<k>`` (e.g. ``1000092795#en#0``)."""
    return f"{media_id}#{lang}#{caption_index}"


def pair_id(caption_id: str, tgt_lang: str) -> str:
    """Id of a caption's pair in one target language: ``<caption_id>><tgt_lang>``."""
    return f"{caption_id}>{tgt_lang}"


def text_key(*parts: str) -> str:
    """Content address of a text under some settings: sha256 over the parts, unambiguously joined."""
    h = hashlib.sha256()
    for part in parts:
        b = part.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()
