"""Reading caption Parquet (local paths or object-store URLs) into a pipeline, and checking it up front."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq

from clcm import storage
from clcm.errors import InputError
from clcm.schemas import CAPTION_SCHEMA, layout, truncate_raw

SOURCE = "_source"  # extra keys carried with each row until it is written or rejected
LINE = "_line"


def caption_files(inputs: list[str]) -> list[str]:
    """Expand inputs (files, glob patterns, stage or shard directories) into sorted caption shard paths.

    Which files of a directory are captions is decided by :func:`clcm.schemas.layout.input_files`.

    Raises:
        InputError: an input matches nothing.
    """
    return layout.input_files(inputs, layout.CAPTION_INPUTS, what="caption Parquet files")


def _open_parquet(path: str) -> pq.ParquetFile:
    return pq.ParquetFile(io.BytesIO(storage.read_bytes(path)))


def check_caption_files(files: list[str]) -> int:
    """Check every file has the caption columns; return the total row count (from Parquet metadata).

    Raises:
        InputError: a file is not Parquet or lacks caption columns (e.g. a pairs table given as captions).
    """
    total = 0
    for path in files:
        try:
            pf = _open_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid/OSError for non-Parquet input
            raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
        missing = [n for n in CAPTION_SCHEMA.names if n not in pf.schema_arrow.names]
        if missing:
            raise InputError(f"{path}: not a caption table (missing columns {missing}); run `clcm-data import` first")
        total += pf.metadata.num_rows
    return total


class ReadCaptionFile(beam.DoFn):
    """A caption Parquet path in; its rows out as dicts with ``_source`` and 1-based ``_line``."""

    def process(self, path: str) -> Iterator[dict[str, Any]]:
        pf = _open_parquet(path)
        line = 0
        for batch in pf.iter_batches(batch_size=8192, columns=CAPTION_SCHEMA.names):
            for row in batch.to_pylist():
                line += 1
                row[SOURCE] = path
                row[LINE] = line
                yield row


def reject_row(row: dict[str, Any], reason: str, detail: str | None = None) -> dict[str, Any]:
    """A REJECT_SCHEMA row (stage ``translate``) for a caption row."""
    raw = {k: v for k, v in row.items() if not k.startswith("_")}
    return {
        "source": row.get(SOURCE, "?"),
        "line": row.get(LINE),
        "caption_id": row.get("caption_id"),
        "raw": truncate_raw(json.dumps(raw, ensure_ascii=False, default=str)),
        "reason": reason,
        "detail": detail,
        "stage": "translate",
    }
