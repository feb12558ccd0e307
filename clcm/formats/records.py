"""Record validation for imports: every input record becomes a caption row, a pair row, or a reject row.

Readers call :meth:`ImportSink.count_read` once per input record (independently of what happens to it), then
exactly one of :meth:`~ImportSink.add_caption`, :meth:`~ImportSink.add_pair`, :meth:`~ImportSink.fold` or
:meth:`~ImportSink.reject`. The manifest check ``read == kept + sum(rejected)`` then catches any lost record.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import IO, Any

from clcm import storage
from clcm.errors import InputError
from clcm.schemas import is_known_lang, truncate_raw
from clcm.schemas import reasons as R

log = logging.getLogger(__name__)
STAGE = "import"
ORIGINS = ("human", "mt")


class RecordError(ValueError):
    """A record that cannot become a row: carries its reject ``reason`` and a human-readable ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_bytes)`` of a text file (gzip when it ends in ``.gz``), 1-based.

    Universal newlines, as Python's text mode: ``\\n``, ``\\r\\n`` and a lone ``\\r`` (classic Mac) each end a line,
    and line numbers count those lines. Bytes are not decoded here, so one bad line cannot kill the file. A missing
    or unreadable file is an InputError. ``path`` may be an object-store URL (read through :mod:`clcm.storage`).
    """
    path = os.fspath(path)
    if not storage.is_file(path):
        raise InputError(f"input file not found: {path}")
    try:
        with _open_binary(path) as fh:
            n = 0
            for chunk in fh:  # split on \n by the file object; a lone \r inside a chunk splits it further
                if chunk.endswith(b"\n"):
                    chunk = chunk[:-1]
                if chunk.endswith(b"\r"):
                    chunk = chunk[:-1]
                for line in chunk.split(b"\r") if b"\r" in chunk else (chunk,):
                    n += 1
                    yield n, line
    except (OSError, EOFError) as exc:  # permission denied, truncated or not-gzip data, ...
        raise InputError(f"cannot read {path}: {exc}") from exc


@contextlib.contextmanager
def _open_binary(path: str) -> Iterator[IO[bytes]]:
    """A binary reader of a local file or URL, gunzipped when the name ends in ``.gz``."""
    with storage.open_read(path) as fh:
        yield gzip.GzipFile(fileobj=fh, mode="rb") if path.endswith(".gz") else fh  # type: ignore[misc]


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """Input paths as strings, a glob pattern (``s3://b/in/*.jsonl``, which no shell expands) replaced by the files
    it matches (sorted; listed through :mod:`clcm.storage`). A pattern that matches nothing is an InputError."""
    out: list[str] = []
    for p in map(os.fspath, inputs):
        if any(c in p for c in "*?[") and not storage.exists(p):
            found = storage.match(p)
            if not found:
                raise InputError(f"no input files match {p}")
            out.extend(found)
        else:
            out.append(p)
    return out


def unique_paths(paths: Sequence[str | os.PathLike]) -> list[str]:
    """``paths`` without repeats of the same file (same path, or a link to it; the same URL): read twice, every
    caption would be doubled (under new ids where ids are numbered). A repeat is dropped with a warning."""
    out: list[str] = []
    seen: dict[object, str] = {}
    for p in map(os.fspath, paths):
        try:
            st = None if storage.is_url(p) else os.stat(p)
        except OSError:  # missing/unreadable: the reader reports it
            out.append(p)
            continue
        key = p if st is None else (st.st_dev, st.st_ino)
        if key in seen:
            log.warning("input %s is the same file as %s: read once", p, seen[key])
            continue
        seen[key] = p
        out.append(p)
    return out


def decode_line(raw: bytes) -> str:
    """Decode one line as UTF-8, raising RecordError(invalid_utf8) with the offending byte offset."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(R.INVALID_UTF8, f"invalid UTF-8 at byte {exc.start}") from None


def check_unicode(value: str, field: str) -> str:
    """``value`` if it can be written as UTF-8; a lone surrogate (JSON ``"\\ud800"``) is RecordError(invalid_text)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start]
        raise RecordError(R.INVALID_TEXT, f"{field!r} holds a lone surrogate {bad!r} at {exc.start}") from None
    return value


def check_text(text: Any, field: str = "text") -> str:
    """Return ``text`` if it is usable caption text; else raise RecordError (missing, NUL byte, empty, invalid)."""
    if text is None:
        raise RecordError(R.MISSING_FIELD, f"missing field {field!r}")
    if not isinstance(text, str):
        raise RecordError(R.MALFORMED, f"{field!r} is not a string: {type(text).__name__}")
    check_unicode(text, field)
    if "\x00" in text:
        raise RecordError(R.NUL_BYTE, f"{field!r} contains a NUL byte")
    if not text.strip():
        raise RecordError(R.EMPTY_TEXT, f"{field!r} is empty or whitespace-only")
    return text


def check_lang(code: Any, field: str = "lang") -> str:
    """Return ``code`` if it is a known ISO 639-1 code; else raise RecordError (missing / unknown_lang)."""
    if code is None or code == "":
        raise RecordError(R.MISSING_FIELD, f"missing field {field!r}")
    if not isinstance(code, str) or not is_known_lang(code):
        raise RecordError(R.UNKNOWN_LANG, f"{field!r} is {code!r}, not an ISO 639-1 code")
    return code


def check_id(value: Any, field: str) -> str:
    """An id field (media_id, caption_id): a non-empty string (integers are accepted and converted)."""
    if value is None or value == "":
        raise RecordError(R.MISSING_FIELD, f"missing field {field!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RecordError(R.MALFORMED, f"{field!r} is not a string: {type(value).__name__}")
    check_unicode(value, field)
    if "\x00" in value:
        raise RecordError(R.NUL_BYTE, f"{field!r} contains a NUL byte")
    if value != value.strip() or not value:
        raise RecordError(R.MALFORMED, f"{field!r} has leading/trailing whitespace: {value!r}")
    return value


def check_index(value: Any, field: str = "caption_index") -> int:
    """A caption index: a non-negative int (or its decimal string, as TSV gives it)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 2**31:
        raise RecordError(R.MALFORMED, f"{field!r} must be a non-negative integer, got {value!r}")
    return value


class ImportSink:
    """Collects the rows and rejects of one import, with the counts that must add up."""

    def __init__(self) -> None:
        self.captions: list[dict[str, Any]] = []
        self.pairs: list[dict[str, Any]] = []
        self.rejects: list[dict[str, Any]] = []
        self.read = 0
        self.kept = 0
        self.folded = 0  # kept records merged into another record's row (kept == captions + pairs + folded)
        self.rejected: Counter[str] = Counter()
        self._first_seen: dict[str, str] = {}  # namespaced id -> "source:line" of its first occurrence

    def count_read(self, n: int = 1) -> None:
        self.read += n

    def reject(
        self,
        source: str | os.PathLike,
        line: int | None,
        raw: str | bytes | None,
        reason: str,
        detail: str | None = None,
        caption_id: str | None = None,
    ) -> None:
        """Record one refused input record."""
        if reason not in R.ALL_REASONS:
            raise ValueError(f"unknown reject reason {reason!r}")  # a bug, not a user error
        self.rejects.append(
            {
                "source": str(source),
                "line": line,
                "caption_id": caption_id,
                "raw": truncate_raw(raw),
                "reason": reason,
                "detail": detail,
                "stage": STAGE,
            }
        )
        self.rejected[reason] += 1

    def reject_error(self, source: str | os.PathLike, line: int | None, raw: Any, err: RecordError, **kw: Any) -> None:
        self.reject(source, line, raw, err.reason, err.detail, **kw)

    def claim(self, namespace: str, key: str, source: str | os.PathLike, line: int | None) -> None:
        """Register an id; raise RecordError(duplicate_id) naming the first occurrence if it was seen before."""
        k = f"{namespace}\x00{key}"
        first = self._first_seen.get(k)
        if first is not None:
            raise RecordError(R.DUPLICATE_ID, f"duplicate {namespace} id {key!r}; first at {first}")
        self._first_seen[k] = f"{source}:{line}" if line is not None else str(source)

    def fold(self) -> None:
        """Count a record that was merged into another record's row (e.g. a back-translation line)."""
        self.kept += 1
        self.folded += 1

    def add_caption(self, row: dict[str, Any], source: str | os.PathLike, line: int | None, raw: Any) -> bool:
        """Validate a caption row (CAPTION_SCHEMA fields) and keep it, or reject it. Returns whether it was kept."""
        try:
            row["text"] = check_text(row.get("text"))
            row["lang"] = check_lang(row.get("lang"))
            if row.get("origin") not in ORIGINS:
                raise RecordError(R.MALFORMED, f"origin must be one of {ORIGINS}, got {row.get('origin')!r}")
            self.claim("caption", row["caption_id"], source, line)
        except RecordError as err:
            self.reject_error(source, line, raw, err, caption_id=row.get("caption_id"))
            return False
        self.captions.append(row)
        self.kept += 1
        return True

    def add_pair(self, row: dict[str, Any], source: str | os.PathLike, line: int | None, raw: Any) -> bool:
        """Validate a pair row (PAIR_SCHEMA fields) and keep it, or reject it. Returns whether it was kept."""
        try:
            row["src_text"] = check_text(row.get("src_text"), "src_text")
            row["tgt_text"] = check_text(row.get("tgt_text"), "tgt_text")
            if row.get("bt_text") is not None:
                row["bt_text"] = check_text(row["bt_text"], "bt_text")
            row["src_lang"] = check_lang(row.get("src_lang"), "src_lang")
            row["tgt_lang"] = check_lang(row.get("tgt_lang"), "tgt_lang")
            if row.get("tgt_origin") not in ORIGINS:
                raise RecordError(R.MALFORMED, f"tgt_origin must be one of {ORIGINS}, got {row.get('tgt_origin')!r}")
            self.claim("pair", row["pair_id"], source, line)
        except RecordError as err:
            self.reject_error(source, line, raw, err, caption_id=row.get("caption_id"))
            return False
        self.pairs.append(row)
        self.kept += 1
        return True

    def counts(self) -> dict[str, Any]:
        """Manifest counts: read, kept (of which folded), rejected per reason, and rows per output table."""
        return {
            "read": self.read,
            "kept": self.kept,
            "folded": self.folded,
            "rejected": dict(sorted(self.rejected.items())),
            "rows": {"captions": len(self.captions), "pairs": len(self.pairs), "rejects": len(self.rejects)},
        }
