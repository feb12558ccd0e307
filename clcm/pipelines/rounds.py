"""Bounded rounds: on the in-process runner a large input is processed in rounds of at most ``round_rows`` rows.

Why: the local runner (Beam's FnApiRunner, clcm's DirectRunner) holds the whole input of every grouping step in
memory until the step runs, so one pipeline's peak grows with its input (translate: ~9 KB per caption, most of it
outside Python objects). A round is one pipeline over a part of the input that writes each shard's rows, sorted by
key, as a run in a local scratch directory (:mod:`clcm.pipelines.runs`); afterwards one streaming k-way merge per
shard writes the final shard. Peak memory is then bounded by one round (and, in the merge, by a batch per run),
not by the corpus.

The result is one pipeline's: every shard holds the same rows in the same key order, in the same row groups
(score: the same bytes; translate: a text may be translated in another batch, so a logprob may differ in its last
float32 digits, as with any other batch size). Distributed runners (Dataflow, Flink, Spark, Portable) shuffle
outside the workers and run the whole input as one pipeline.
"""

from __future__ import annotations

import gc
import logging
import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from clcm import storage
from clcm.memory import release_free_memory
from clcm.pipelines.runs import merge_shard
from clcm.pipelines.sinks import run_path
from clcm.schemas import layout

log = logging.getLogger(__name__)

# Rows per round rise above ``round_rows`` when a corpus would need more rounds than this (each round's partition is
# an open file while the input is partitioned).
MAX_ROUNDS = 256


def runs_in_process(runner: Any, options: Any) -> bool:
    """True when the pipeline runs on the local FnApiRunner (``runner``, the object it runs on) inside this process.

    Not with worker processes (``direct_running_mode multi_processing``): they would start again every round.
    """
    if runner is None:
        return False
    from apache_beam.options.pipeline_options import DirectOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    mode = options.view_as(DirectOptions).direct_running_mode
    return isinstance(runner, FnApiRunner) and mode in (None, "in_memory")


def round_count(rows: int, round_rows: int, in_process: bool) -> int:
    """How many rounds ``rows`` input rows take: 1 off the local runner, for ``round_rows == 0`` or a small input."""
    if not in_process or round_rows <= 0 or rows <= round_rows:
        return 1
    return min(math.ceil(rows / round_rows), MAX_ROUNDS)


@contextmanager
def scratch_dir() -> Iterator[str]:
    """A local scratch directory for the rounds' partitions and shards, removed afterwards (also on failure)."""
    path = tempfile.mkdtemp(prefix="clcm-rounds-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        gc.unfreeze()


def end_round(index: int, rounds: int) -> None:
    """Free a finished round's runner state before the next round starts (it sits in reference cycles) and log.

    The collection's survivors are frozen, so the next round's collection scans only that round's objects
    (a full collection over the loaded models costs ~0.2 CPU-s).
    """
    gc.collect()
    gc.freeze()
    release_free_memory()
    log.info("round %d/%d done", index + 1, rounds)


def round_dir(scratch: str, index: int) -> str:
    """The stage directory round ``index`` writes its shards to."""
    return storage.join(scratch, f"round-{index:04d}")


def merge_rounds(
    scratch: str, rounds: int, out_dir: str, kind: str, schema: pa.Schema, num_shards: int, table: str
) -> list[dict[str, Any]]:
    """Merge every shard of ``kind`` over ``rounds`` rounds into ``out_dir``; the manifest records in shard order
    (``name`` relative to ``out_dir``, ``table`` the manifest's table name)."""
    records = []
    for i in range(num_shards):
        runs = [run_path(round_dir(scratch, r), kind, i, num_shards) for r in range(rounds)]
        rec = merge_shard(runs, layout.shard_path(out_dir, kind, i, num_shards), schema, scratch)
        records.append(rec | {"name": layout.shard_record_name(kind, rec["name"]), "table": table})
    return records


def row_range_rounds(files: dict[str, list[int]], rounds: int) -> list[list[tuple[str, int, int, int]]]:
    """Split files (path -> rows of each row group) into ``rounds`` rounds of consecutive rows, about equal in
    size: each round a list of ``(path, row group, first row, end row)`` (rows counted within the row group)."""
    total = sum(sum(groups) for groups in files.values())
    target = max(1, math.ceil(total / max(rounds, 1)))
    out: list[list[tuple[str, int, int, int]]] = [[]]
    room = target
    for path, groups in files.items():
        for g, n in enumerate(groups):
            start = 0
            while start < n:
                if room == 0:
                    out.append([])
                    room = target
                stop = min(n, start + room)
                out[-1].append((path, g, start, stop))
                room -= stop - start
                start = stop
    return [r for r in out if r]
