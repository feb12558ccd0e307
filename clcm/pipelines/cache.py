"""Content-addressed translation cache, shared by every runner through Beam FileSystems.

Layout: ``{cache_root}/{key[:2]}/{key}/part-<sha>.parquet``, where ``key`` hashes everything that changes a
translation (model id + revision, backend/precision, languages, decoding settings; see ``ModelSpec.cache_fields``)
and each part file holds ``src_text -> tgt_text, logprob, tokens`` rows written by one batch. Parts are written
once under a content-derived name and never modified, so concurrent workers and re-runs never conflict; a re-run
(or a nightly run over a grown corpus) translates only texts with no entry yet.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

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
    return FileSystems.join(cache_root, key[:2], key)


def _part_name(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in sorted(texts):
        h.update(t.encode("utf-8") + b"\0")
    return f"part-{h.hexdigest()[:24]}.parquet"


def load_entries(directory: str) -> dict[str, Translation]:
    """Every cached translation under one settings directory (empty when there is none yet)."""
    entries: dict[str, Translation] = {}
    try:
        matches = FileSystems.match([FileSystems.join(directory, "part-*.parquet")])[0].metadata_list
    except Exception:  # noqa: BLE001 - a missing directory is an empty cache on every filesystem
        return entries
    for meta in sorted(matches, key=lambda m: m.path):
        with FileSystems.open(meta.path) as fh:
            table = pq.read_table(io.BytesIO(fh.read()))
        for src, tgt, lp, n in zip(*(table.column(c).to_pylist() for c in CACHE_SCHEMA.names), strict=True):
            entries[src] = Translation(tgt, float("nan") if lp is None else lp, n or 0)
    return entries


def write_entries(directory: str, items: Sequence[tuple[str, Translation]], settings: dict[str, Any]) -> str:
    """Write one part file of ``(src_text, Translation)`` items; returns its path. Local writes are atomic."""
    table = pa.Table.from_pydict(
        {
            "src_text": [s for s, _ in items],
            "tgt_text": [t.text for _, t in items],
            "logprob": [t.logprob for _, t in items],
            "tokens": [t.tokens for _, t in items],
        },
        schema=CACHE_SCHEMA,
    )
    path = FileSystems.join(directory, _part_name([s for s, _ in items]))
    write_bytes(path, _parquet_bytes(table))
    info = FileSystems.join(directory, "settings.json")
    if not FileSystems.exists(info):
        write_bytes(info, json.dumps(settings, indent=2, sort_keys=True).encode())
    return path


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to a local path atomically (temp + rename) or to a Beam FileSystems URL."""
    if "://" not in path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return
    with FileSystems.create(path) as fh:  # object stores publish a file atomically on close
        fh.write(data)


class LookupDoFn(beam.DoFn):
    """Batches of unique texts in; cache hits as ``(text, Translation)`` on the main output, misses on ``miss``."""

    MISS = "miss"

    def __init__(self, directory: str | None, label: str) -> None:
        self._dir = directory  # None: caching disabled, everything misses
        self._label = label
        self._entries: dict[str, Translation] = {}

    def setup(self) -> None:
        self._entries = load_entries(self._dir) if self._dir else {}
        self._unique = Metrics.counter(NAMESPACE, f"{self._label}_unique")
        self._cached = Metrics.counter(NAMESPACE, f"{self._label}_cached")

    def process(self, batch: Sequence[str]) -> Iterator[Any]:
        self._unique.inc(len(batch))
        hits = 0
        for text in batch:
            hit = self._entries.get(text)
            if hit is None:
                yield beam.pvalue.TaggedOutput(self.MISS, text)
            else:
                hits += 1
                yield text, hit
        self._cached.inc(hits)


class StoreDoFn(beam.DoFn):
    """Batches of new ``(text, Translation)`` results in; one cache part file written per batch."""

    def __init__(self, directory: str, settings: dict[str, Any]) -> None:
        self._dir = directory
        self._settings = settings

    def process(self, batch: Sequence[tuple[str, Translation]]) -> Iterable[str]:
        yield write_entries(self._dir, batch, self._settings)
