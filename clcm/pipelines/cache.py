"""Content-addressed translation cache, shared by every runner through clcm.storage (Beam FileSystems for URLs).

Layout of one settings directory ``{cache_root}/{key[:2]}/{key}/`` (``key`` hashes everything that changes a
translation: model id + revision, backend/precision, languages, decoding settings; see ``ModelSpec.cache_fields``)::

    settings.json                     the cache fields, for humans
    layout.json                       {"version": 2, "buckets": B} (B is fixed once the directory exists)
    buckets/NNNN/part-<sha>.parquet   src_text -> tgt_text, logprob, tokens rows of texts hashing to bucket NNNN

A text lives in bucket ``sha256(text) mod B``, so a lookup reads only the buckets of the texts it looks up (its
cost grows with those texts, not with the cache). A run writes at most one part per bucket it touched; compaction
merges a bucket's parts into one file. Part names carry the sha256 of their bytes: a part is written once, never
modified, and verified on every read; an unreadable, truncated or tampered part is skipped with a warning naming
the file (its texts are simply translated again). Concurrent writers never conflict: a writer only adds files
(atomically), and compaction deletes parts only after the merged file holding all their rows exists, so a reader
that finds a part gone lists the bucket again.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clcm import storage
from clcm.errors import InputError, OutputError
from clcm.schemas import SCHEMA_VERSION, config_hash
from clcm.translation import ModelSpec, Translation

CACHE_SCHEMA = pa.schema(
    [
        pa.field("src_text", pa.string(), nullable=False),
        pa.field("tgt_text", pa.string(), nullable=False),
        pa.field("logprob", pa.float32()),
        pa.field("tokens", pa.int32()),
    ],
    metadata={"schema_version": SCHEMA_VERSION, "table": "translation_cache"},
)
NAMESPACE = "clcm.translate"
DEFAULT_BUCKETS = 256
LAYOUT_VERSION = 2
LAYOUT_NAME = "layout.json"
SETTINGS_NAME = "settings.json"
_HASH_CHARS = 32  # hex digits of the content sha256 in a part's name
# footer key of a part's index: the sorted 32-bit hashes of its source texts (a lookup whose texts are not in
# the index skips the part without decoding a column; a false positive only costs that decoding)
INDEX_KEY = b"clcm_src_hash32"
log = logging.getLogger(__name__)


class CorruptPart(Exception):
    """A part file that cannot be trusted (unreadable, truncated, tampered, wrong schema)."""


def default_cache_dir() -> str:
    """``$CLCM_CACHE_DIR``, else ``$XDG_CACHE_HOME/clcm/translations`` (``~/.cache/clcm/translations``)."""
    if os.environ.get("CLCM_CACHE_DIR"):
        return os.environ["CLCM_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "clcm", "translations")


def cache_key(spec: ModelSpec) -> str:
    """sha256 of the fields that change a translation."""
    return config_hash(spec.cache_fields())


def cache_path(cache_root: str, spec: ModelSpec) -> str:
    key = cache_key(spec)
    return storage.join(cache_root, key[:2], key)


def bucket_of(text: str, buckets: int) -> int:
    """The bucket of a source text (sha256-based: the same on every worker, run and Python version)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % buckets


def _short_hashes(texts: Iterable[str]) -> np.ndarray:
    """32 bits of each text's sha256 (other bits than the bucket's), for a part's index of its source texts."""
    return np.array(
        [int.from_bytes(hashlib.sha256(t.encode("utf-8")).digest()[8:12], "little") for t in texts], dtype="<u4"
    )


def bucket_dir(directory: str, bucket: int) -> str:
    return storage.join(directory, "buckets", f"{bucket:04d}")


def list_parts(directory: str, bucket: int) -> list[str]:
    return storage.match(storage.join(bucket_dir(directory, bucket), "part-*.parquet"))


def read_buckets(directory: str) -> int:
    """The bucket count of a settings directory (``layout.json``; DEFAULT_BUCKETS for a new directory)."""
    try:
        layout = json.loads(storage.read_bytes(storage.join(directory, LAYOUT_NAME)))
    except Exception:  # noqa: BLE001 - no layout yet: a new (or pre-bucket) directory
        return DEFAULT_BUCKETS
    buckets = layout.get("buckets") if isinstance(layout, dict) else None
    if not isinstance(buckets, int) or buckets < 1 or layout.get("version") != LAYOUT_VERSION:
        raise CorruptPart(f"{storage.join(directory, LAYOUT_NAME)}: not a clcm cache layout: {layout!r}")
    return buckets


# -- parts: write, verify, read ---------------------------------------------------------------------------


def part_table(items: Sequence[tuple[str, Translation]]) -> pa.Table:
    return pa.Table.from_pydict(
        {
            "src_text": [s for s, _ in items],
            "tgt_text": [t.text for _, t in items],
            "logprob": [t.logprob for _, t in items],
            "tokens": [t.tokens for _, t in items],
        },
        schema=CACHE_SCHEMA,
    )


def write_part(directory: str, bucket: int, table: pa.Table) -> str:
    """Write one part (rows sorted by source text) under its content-hash name; returns its path."""
    table = table.sort_by("src_text")
    index = np.sort(_short_hashes(table.column("src_text").to_pylist()))
    metadata = {**CACHE_SCHEMA.metadata, INDEX_KEY: base64.b64encode(index.tobytes())}
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(metadata), buf, compression="zstd")
    data = buf.getvalue()
    name = f"part-{hashlib.sha256(data).hexdigest()[:_HASH_CHARS]}.parquet"
    path = storage.join(bucket_dir(directory, bucket), name)
    storage.write_bytes(path, data)
    return path


def open_part(path: str) -> pq.ParquetFile:
    """A verified part; raises CorruptPart (naming the reason) when it cannot be trusted.

    A vanished file (compacted away meanwhile) raises FileNotFoundError, for the caller to list again.
    """
    try:
        data = storage.read_bytes(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - some filesystems wrap a missing object in their own error
        if not storage.exists(path):
            raise FileNotFoundError(path) from exc
        raise CorruptPart(f"unreadable: {exc}") from exc
    name = path.rsplit("/", 1)[-1]
    digest = hashlib.sha256(data).hexdigest()[:_HASH_CHARS]
    if name != f"part-{digest}.parquet":
        raise CorruptPart(f"content hash {digest} does not match its name (truncated or modified)")
    try:
        return pq.ParquetFile(pa.BufferReader(data))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several error types for bad bytes
        raise CorruptPart(f"not a Parquet file: {exc}") from exc


def part_rows(part: pq.ParquetFile) -> pa.Table:
    """All rows of an opened part, checked against the cache schema (CorruptPart if they do not fit)."""
    try:
        schema = part.schema_arrow
        if not schema.equals(CACHE_SCHEMA, check_metadata=False):
            raise CorruptPart(f"schema {schema.names} is not the translation-cache schema")
        return part.read(use_threads=False)
    except (OSError, pa.ArrowException, ValueError) as exc:  # a footer that parses over pages that do not
        raise CorruptPart(f"unreadable Parquet data: {exc}") from exc


def read_part(path: str) -> pa.Table:
    """A verified part's table (see :func:`open_part`)."""
    return part_rows(open_part(path))


def warn_corrupt(path: str, exc: CorruptPart) -> None:
    log.warning(
        "skipping translation-cache part %s (%s); its texts are translated again "
        "(`clcm-data cache verify --remove` deletes such parts)",
        path,
        exc,
    )


def translations(table: pa.Table) -> dict[str, Translation]:
    cols = (table.column(c).to_pylist() for c in CACHE_SCHEMA.names)
    return {s: Translation(t, float("nan") if lp is None else lp, n or 0) for s, t, lp, n in zip(*cols, strict=True)}


def list_all_parts(directory: str) -> dict[int, list[str]]:
    """Every part of a settings directory by bucket, in one listing (its cost grows with the number of files,
    which compaction keeps near the bucket count, not with the entries)."""
    parts: dict[int, list[str]] = defaultdict(list)
    for path in storage.match(storage.join(directory, "buckets", "*", "part-*.parquet")):
        parts[int(path.rsplit("/", 2)[-2])].append(path)
    return parts


def lookup_bucket(
    directory: str, bucket: int, texts: Iterable[str], parts: Sequence[str] | None = None
) -> tuple[dict[str, Translation], list[str]]:
    """Cached translations of ``texts`` (all in ``bucket``) and the parts skipped as corrupt.

    ``parts``: the bucket's part paths from an earlier listing (e.g. :func:`list_all_parts` once per worker);
    None lists the bucket. A part that vanished since (compacted away) makes it list the bucket again.
    """
    texts = sorted(set(texts))
    wanted, wanted_hashes = pa.array(texts, type=pa.string()), _short_hashes(texts)
    for attempt in range(3):
        found: dict[str, Translation] = {}
        bad: list[str] = []
        try:
            for path in list_parts(directory, bucket) if parts is None or attempt else parts:
                try:
                    part = open_part(path)
                    index = (part.metadata.metadata or {}).get(INDEX_KEY)
                    if index is not None and not _any_in(wanted_hashes, index):
                        continue  # none of the texts is in this part: no column decoded
                    table = part_rows(part)
                    found.update(translations(table.filter(pc.is_in(table.column("src_text"), value_set=wanted))))
                except CorruptPart as exc:
                    bad.append(path)
                    warn_corrupt(path, exc)
        except FileNotFoundError:
            if attempt == 2:
                raise
            continue  # a part was compacted away while we read: its rows are in a newer part, list again
        return found, bad
    raise AssertionError("unreachable")


def _any_in(hashes: np.ndarray, index: bytes) -> bool:
    values = np.frombuffer(base64.b64decode(index), dtype="<u4")
    pos = np.searchsorted(values, hashes)
    return bool(np.any(values[np.minimum(pos, len(values) - 1)] == hashes)) if len(values) else False


def prepare(directory: str, settings: dict[str, Any]) -> int:
    """Create a settings directory's ``layout.json``/``settings.json`` if missing; returns its bucket count.

    Run by the driver before any worker starts, so an unwritable cache fails (OutputError) before anything is
    translated.
    """
    try:
        buckets = read_buckets(directory)
        layout = storage.join(directory, LAYOUT_NAME)
        if not storage.exists(layout):
            storage.write_bytes(layout, json.dumps({"version": LAYOUT_VERSION, "buckets": buckets}).encode())
        info = storage.join(directory, SETTINGS_NAME)
        if not storage.exists(info):
            storage.write_bytes(info, json.dumps(settings, indent=2, sort_keys=True).encode())
    except CorruptPart as exc:
        raise InputError(f"translation cache: {exc}") from exc
    except OSError as exc:
        raise OutputError(f"cannot write the translation cache {directory}: {exc}") from exc
    return buckets


def write_entries(directory: str, items: Sequence[tuple[str, Translation]], settings: dict[str, Any]) -> list[str]:
    """Store ``(src_text, Translation)`` items: one part per bucket they fall in; returns the part paths."""
    buckets = prepare(directory, settings)
    by_bucket: dict[int, list[tuple[str, Translation]]] = defaultdict(list)
    for item in items:
        by_bucket[bucket_of(item[0], buckets)].append(item)
    return [write_part(directory, b, part_table(rows)) for b, rows in sorted(by_bucket.items())]
