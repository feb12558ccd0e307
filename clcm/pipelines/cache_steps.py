"""The translation cache's Beam steps: texts grouped by bucket, each bucket read (or written) by one worker.

A lookup keys every text by its bucket and groups by key, so each bucket's parts are read once, by one worker,
and only for the buckets that hold a text being looked up; new translations are grouped the same way and written
as one part per bucket, which is compacted once it has ``compact_at`` parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from clcm.pipelines.cache import (
    NAMESPACE,
    bucket_of,
    list_all_parts,
    list_parts,
    lookup_bucket,
    part_table,
    write_part,
)
from clcm.pipelines.cache_admin import compact_bucket
from clcm.translation import Translation

COMPACT_AT = 8  # parts in a bucket that trigger its compaction after a store
MISS = "miss"


class _LookupBucketDoFn(beam.DoFn):
    """``(bucket, texts)`` in; ``(text, Translation)`` hits on the main output, missing texts on ``miss``."""

    def __init__(self, directory: str, label: str) -> None:
        self._dir = directory
        self._label = label

    def setup(self) -> None:
        self._unique = Metrics.counter(NAMESPACE, f"{self._label}_unique")
        self._cached = Metrics.counter(NAMESPACE, f"{self._label}_cached")
        self._corrupt = Metrics.counter(NAMESPACE, "cache_corrupt_parts")
        self._parts = list_all_parts(self._dir)  # one listing per worker, not one per bucket

    def process(self, element: tuple[int, Iterable[str]]) -> Iterator[Any]:
        bucket, texts = element
        texts = list(texts)
        found, bad = lookup_bucket(self._dir, bucket, texts, self._parts.get(bucket, ()))
        self._unique.inc(len(texts))
        self._cached.inc(len(found))
        self._corrupt.inc(len(bad))
        for text in texts:
            hit = found.get(text)
            if hit is None:
                yield beam.pvalue.TaggedOutput(MISS, text)
            else:
                yield text, hit


class _CountUnique(beam.DoFn):
    def __init__(self, label: str) -> None:
        self._label = label

    def setup(self) -> None:
        self._unique = Metrics.counter(NAMESPACE, f"{self._label}_unique")

    def process(self, text: str) -> Iterator[str]:
        self._unique.inc()
        yield text


class LookupCache(beam.PTransform):
    """Unique texts in; ``{"hit": (text, Translation), "miss": text}`` out.

    Args:
        directory: the settings directory, or None (caching off: every text misses).
        buckets: its bucket count (``cache.prepare``).
        label: metric prefix (``mt_cs``).
    """

    def __init__(self, directory: str | None, buckets: int, label: str) -> None:
        super().__init__()
        self._dir = directory
        self._buckets = buckets
        self._label = label

    def expand(self, texts: beam.PCollection) -> dict[str, beam.PCollection]:
        if self._dir is None:
            misses = texts | "CountUnique" >> beam.ParDo(_CountUnique(self._label))
            return {"hit": texts | "NoHits" >> beam.Filter(lambda _: False), "miss": misses}
        n = self._buckets
        looked = (
            texts
            | "KeyByBucket" >> beam.Map(lambda t: (bucket_of(t, n), t))
            | "GroupByBucket" >> beam.GroupByKey()
            | "ReadBuckets" >> beam.ParDo(_LookupBucketDoFn(self._dir, self._label)).with_outputs(MISS, main="hit")
        )
        return {"hit": looked.hit, "miss": looked[MISS]}


class _StoreBucketDoFn(beam.DoFn):
    def __init__(self, directory: str, compact_at: int) -> None:
        self._dir = directory
        self._compact_at = compact_at

    def process(self, element: tuple[int, Iterable[tuple[str, Translation]]]) -> Iterator[str]:
        bucket, items = element
        yield write_part(self._dir, bucket, part_table(sorted(dict(items).items())))
        if self._compact_at and len(list_parts(self._dir, bucket)) >= self._compact_at:
            compact_bucket(self._dir, bucket)


class StoreCache(beam.PTransform):
    """New ``(text, Translation)`` results in; one part per touched bucket written (paths out)."""

    def __init__(self, directory: str, buckets: int, compact_at: int = COMPACT_AT) -> None:
        super().__init__()
        self._dir = directory
        self._buckets = buckets
        self._compact_at = compact_at

    def expand(self, results: beam.PCollection) -> beam.PCollection:
        n = self._buckets
        return (
            results
            | "KeyByBucket" >> beam.Map(lambda kv: (bucket_of(kv[0], n), kv))
            | "GroupByBucket" >> beam.GroupByKey()
            | "WriteBuckets" >> beam.ParDo(_StoreBucketDoFn(self._dir, self._compact_at))
        )
