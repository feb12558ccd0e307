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
INVALID_TEXT = "invalid_text"  # text that is not valid Unicode (a lone surrogate such as "\\ud800")
INVALID_MEDIA_ID = "invalid_media_id"  # export: a media id NRCCR caption ids cannot hold (whitespace, '#')
LINE_BREAK = "line_break"  # export: a line-based format (NRCCR) cannot hold text with a line break
UNSAFE_NAME = "unsafe_name"  # export: a split/language that cannot be part of a file name
INVALID_IMAGE = "invalid_image"  # features: an image file that does not decode
NOT_AN_IMAGE = "not_an_image"  # features: a file without an image suffix in an image or frame folder
NO_FRAMES = "no_frames"  # features: a video folder without frames

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
    INVALID_TEXT,
    INVALID_MEDIA_ID,
    LINE_BREAK,
    UNSAFE_NAME,
    INVALID_IMAGE,
    NOT_AN_IMAGE,
    NO_FRAMES,
)
