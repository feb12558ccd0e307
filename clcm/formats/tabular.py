"""User tables (JSONL, TSV, Parquet): caption rows or pair rows, by column name.

**Caption rows** need ``text``, ``lang`` (ISO 639-1) and ``media_id``; optional: ``caption_index`` (default: the
count of earlier rows with the same media_id and lang), ``caption_id`` (default ``{media_id}#{lang}#{k}``),
``split``, ``dataset`` (default ``--dataset``), ``origin`` (``human``/``mt``, default human).

**Pair rows** are rows with a ``tgt_text`` column/key. They need ``tgt_text``, ``tgt_lang``, ``src_text`` (or
``text``), ``src_lang`` (or ``lang``) and ``media_id``; optional: ``caption_index``, ``caption_id``, ``pair_id``
(default ``{caption_id}>{tgt_lang}``), ``split``, ``dataset``, ``bt_text``, ``mt_model``, ``bt_model``,
``mt_logprob``, ``bt_logprob``, ``tgt_origin`` (``mt``/``human``, default mt).

Other columns are ignored (and listed in the manifest). Formats:

- JSONL: one JSON object per line (UTF-8). A line that is not a JSON object is a ``malformed`` reject.
- TSV: a header line of column names, then tab-separated fields; an empty field is null (an empty text field is
  ``empty_text``). Quoting as Python's csv module and pandas write it: a field that starts with ``"`` is quoted
  (it may then hold tabs, and ``""`` for a quote); a quoted field cannot span lines. A line with the wrong number of
  fields or bad quoting (``"Look" he said`` unquoted) is ``malformed``.
- Parquet: any Parquet file (e.g. our own caption/pair shards); nulls are nulls.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from clcm import storage
from clcm.errors import InputError
from clcm.formats.records import (
    ImportSink,
    RecordError,
    check_id,
    check_index,
    check_unicode,
    decode_line,
    iter_lines,
)
from clcm.schemas import caption_id, pair_id
from clcm.schemas import reasons as R

CAPTION_COLUMNS = ("caption_id", "media_id", "caption_index", "lang", "text", "split", "dataset", "origin")
PAIR_COLUMNS = (
    "pair_id", "caption_id", "media_id", "caption_index", "split", "dataset", "src_lang", "src_text", "text", "lang",
    "tgt_lang", "tgt_text", "bt_text", "mt_model", "bt_model", "mt_logprob", "bt_logprob", "tgt_origin",
)  # fmt: skip
TEXT_FIELDS = ("text", "src_text", "tgt_text")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

Record = tuple[int, Any, "dict[str, Any] | RecordError"]  # (line/row number, raw, record or why it is unusable)


def iter_jsonl(path: str) -> Iterator[Record]:
    for n, raw in iter_lines(path):
        try:
            line = decode_line(raw)
            if not line.strip():
                raise RecordError(R.MALFORMED, "blank line")
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordError(R.MALFORMED, f"bad JSON: {exc}") from None
            except RecursionError:
                raise RecordError(R.MALFORMED, "bad JSON: nested too deeply") from None
            if not isinstance(rec, dict):
                raise RecordError(R.MALFORMED, f"a JSON {type(rec).__name__}, not an object")
            if _SURROGATE_ESCAPE.search(line):  # a \ud800-style escape: valid only as half of a pair
                check_unicode(json.dumps(rec, ensure_ascii=False), "record")
        except RecordError as err:
            yield n, raw, err
            continue
        yield n, raw, rec


def _tsv_fields(line: str) -> list[str]:
    try:
        (fields,) = csv.reader([line], delimiter="\t", quotechar='"', doublequote=True, strict=True)
    except csv.Error as exc:
        raise RecordError(R.MALFORMED, f"bad TSV quoting: {exc}") from None
    return fields


def iter_tsv(path: str) -> Iterator[Record]:
    lines = iter_lines(path)
    try:
        _, head = next(lines)
        header = _tsv_fields(head.decode("utf-8"))
    except StopIteration:
        return
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: the header line is not UTF-8 ({exc})") from None
    except RecordError as err:
        raise InputError(f"{path}: the header line: {err.detail}") from None
    if len(set(header)) != len(header) or not all(header):
        raise InputError(f"{path}: the header line must name each column once: {header}")
    for n, raw in lines:
        try:
            fields = _tsv_fields(decode_line(raw))
            if len(fields) != len(header):
                raise RecordError(R.MALFORMED, f"{len(fields)} tab-separated fields, the header has {len(header)}")
        except RecordError as err:
            yield n, raw, err
            continue
        yield n, raw, {h: (v if v or h in TEXT_FIELDS else None) for h, v in zip(header, fields, strict=True)}


def _parquet_rows(batch: Any) -> Iterator[tuple[Any, dict[str, Any] | RecordError]]:
    """(raw, record) per row; a string cell that is not UTF-8 makes that one row an invalid_utf8 reject."""
    try:
        rows = batch.to_pylist()
    except UnicodeDecodeError:
        for i in range(batch.num_rows):
            try:
                (rec,) = batch.slice(i, 1).to_pylist()
            except UnicodeDecodeError as exc:
                yield None, RecordError(R.INVALID_UTF8, f"a string cell is not UTF-8 (byte {exc.start})")
            else:
                yield rec, rec
        return
    for rec in rows:
        yield rec, rec


def iter_parquet(path: str) -> Iterator[Record]:
    import pyarrow as pa

    from clcm.schemas.io import parquet_file

    if not storage.is_file(path):
        raise InputError(f"input file not found: {path}")
    try:
        pf = parquet_file(path)
        n = 0
        for batch in pf.iter_batches(batch_size=8192):
            for raw, rec in _parquet_rows(batch):
                n += 1
                yield n, raw, rec
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read Parquet {path}: {exc}") from exc


READERS = {"jsonl": iter_jsonl, "tsv": iter_tsv, "parquet": iter_parquet}


def _opt_str(rec: dict[str, Any], key: str) -> str | None:
    v = rec.get(key)
    if v is None or isinstance(v, str):
        return v if v is None else check_unicode(v, key)
    raise RecordError(R.MALFORMED, f"{key!r} is not a string: {v!r}")


def _opt_float(rec: dict[str, Any], key: str) -> float | None:
    v = rec.get(key)
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise RecordError(R.MALFORMED, f"{key!r} is not a number: {v!r}") from None
    if isinstance(v, bool) or math.isnan(f):
        raise RecordError(R.MALFORMED, f"{key!r} is not a number: {v!r}")
    return f


class RowBuilder:
    """Turns user records into caption/pair rows, numbering captions of the same media item when no index is given."""

    def __init__(self, dataset: str | None) -> None:
        self.dataset = dataset
        self._k: Counter[tuple[str, str]] = Counter()

    def _index(self, rec: dict[str, Any], media: str, lang: Any) -> int:
        if rec.get("caption_index") is not None:
            return check_index(rec["caption_index"])
        key = (media, str(lang))
        k = self._k[key]
        self._k[key] += 1
        return k

    def caption(self, rec: dict[str, Any]) -> dict[str, Any]:
        media = check_id(rec.get("media_id"), "media_id")
        lang = rec.get("lang")
        k = self._index(rec, media, lang)
        cid = check_id(rec["caption_id"], "caption_id") if rec.get("caption_id") is not None else None
        return dict(
            caption_id=cid or caption_id(media, str(lang), k), media_id=media, caption_index=k, lang=lang,
            text=rec.get("text"), split=_opt_str(rec, "split"), dataset=_opt_str(rec, "dataset") or self.dataset,
            origin=rec.get("origin") or "human",
        )  # fmt: skip

    def pair(self, rec: dict[str, Any]) -> dict[str, Any]:
        media = check_id(rec.get("media_id"), "media_id")
        src_lang = rec.get("src_lang", rec.get("lang"))
        tgt_lang = rec.get("tgt_lang")
        k = self._index(rec, media, src_lang)
        cid = check_id(rec["caption_id"], "caption_id") if rec.get("caption_id") is not None else None
        cid = cid or caption_id(media, str(src_lang), k)
        pid = check_id(rec["pair_id"], "pair_id") if rec.get("pair_id") is not None else pair_id(cid, str(tgt_lang))
        return dict(
            pair_id=pid, caption_id=cid, media_id=media, caption_index=k, split=_opt_str(rec, "split"),
            dataset=_opt_str(rec, "dataset") or self.dataset, src_lang=src_lang,
            src_text=rec.get("src_text", rec.get("text")), tgt_lang=tgt_lang, tgt_text=rec.get("tgt_text"),
            bt_text=rec.get("bt_text"), mt_model=_opt_str(rec, "mt_model"), bt_model=_opt_str(rec, "bt_model"),
            mt_logprob=_opt_float(rec, "mt_logprob"), bt_logprob=_opt_float(rec, "bt_logprob"),
            tgt_origin=rec.get("tgt_origin") or "mt",
        )  # fmt: skip


def import_tabular(
    fmt: str, inputs: Sequence[str], sink: ImportSink, dataset: str | None = None
) -> tuple[list[str], list[str]]:
    """Import JSONL/TSV/Parquet files into ``sink``. Returns the files read and the ignored column names."""
    reader = READERS[fmt]
    builder = RowBuilder(dataset)
    ignored: set[str] = set()
    files: list[str] = []
    for path in inputs:
        if storage.is_dir(path):
            raise InputError(f"{fmt} input must be a file, got a directory: {path}")
        files.append(path)
        for n, raw, rec in reader(path):
            sink.count_read()
            if isinstance(rec, RecordError):
                sink.reject_error(path, n, raw, rec)
                continue
            is_pair = "tgt_text" in rec
            ignored.update(set(rec) - set(PAIR_COLUMNS if is_pair else CAPTION_COLUMNS))
            raw_text = raw if isinstance(raw, bytes) else json.dumps(raw, ensure_ascii=False, default=str)
            try:
                row = builder.pair(rec) if is_pair else builder.caption(rec)
            except RecordError as err:
                sink.reject_error(path, n, raw_text, err)
                continue
            (sink.add_pair if is_pair else sink.add_caption)(row, path, n, raw_text)
    return files, sorted(ignored)
