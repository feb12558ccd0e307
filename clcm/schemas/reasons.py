"""Reject reasons: the closed vocabulary of why a record did not become an output row.

Counts in manifests and reports are keyed by these strings, so they must stay stable.
"""

from __future__ import annotations

INVALID_UTF8 = "invalid_utf8"
EMPTY_TEXT = "empty_text"  # empty or whitespace-only text
MISSING_FIELD = "missing_field"
DUPLICATE_ID = "duplicate_id"
LENGTH_MISMATCH = "length_mismatch"  # parallel files with different line counts
UNKNOWN_LANG = "unknown_lang"
MALFORMED = "malformed"  # a line/row that does not parse in the declared format
NUL_BYTE = "nul_byte"
TOO_LONG = "too_long"
TRANSLATION_FAILED = "translation_failed"
# translate: caption not in --src-lang or not human-written (MT captions are not re-translated)
NOT_SOURCE = "not_source"
MISSING_SOURCE = "missing_source"  # a translation line whose source caption is absent or was rejected

ALL_REASONS: tuple[str, ...] = (
    INVALID_UTF8,
    EMPTY_TEXT,
    MISSING_FIELD,
    DUPLICATE_ID,
    LENGTH_MISMATCH,
    UNKNOWN_LANG,
    MALFORMED,
    NUL_BYTE,
    TOO_LONG,
    TRANSLATION_FAILED,
    MISSING_SOURCE,
    NOT_SOURCE,
)
