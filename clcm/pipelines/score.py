"""Score pipeline: pair shards -> scored shards (one ``score_<name>`` column per scorer + ``noise_score``).

Flow:
1. preflight (driver): one pass over the pair shards, each read once (its bytes hashed for the manifest's input
   record and parsed from the same buffer; memory bounded by one shard and two seeded samples, not the corpus),
   checks they are pair tables and finds which scorers have inputs (others are skipped with a logged note); the scorers
   are built through their build hook with a context holding the corpus sample (up to ``lexical_fit_pairs``), so
   model scorers fit their models (IBM-1, target n-gram LMs; cross-fitted: every pair is scored by a model that
   never saw it) and save them in ``OUT/models/``; the combiner is trained on synthetic noise made from a sample of
   the corpus and saved there too (``models/combiner.json``). Each phase logs a line and its time;
2. Beam: shard files -> ``ReadPairBatches`` (record batches of ``batch_size`` rows: elements are batches, not
   rows) -> ``ScoreBatches`` (each worker builds the scorers once in ``setup``, like a RunInference model handler,
   and loads the saved models; an in-process worker reuses the driver's) -> ``WriteShards`` (deterministic
   ``scored/scored-*`` shards keyed by ``pair_id``). The workers read the shards a second time: unavoidable, the
   fit must finish before scoring starts (and a worker has no driver memory to share);
3. the manifest (counts, scorers, skipped scorers, combiner summary; the shard records the writers left, so no
   scored shard is read back).

Every path may be an object-store URL (``s3://``, ``gs://``): files go through :mod:`clcm.storage`, and the
models the workers load live in ``OUT/models/``.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from clcm import storage
from clcm.configs import MAX_SHARDS, ROUND_ROWS, check_config, max_workers, option
from clcm.errors import InputError
from clcm.filtering.base import BuildContext
from clcm.filtering.combiner import Combiner
from clcm.filtering.registry import DEFAULT_SCORERS, EMBEDDING_SCORERS, SCORERS
from clcm.filtering.scoring import ScorerSpec, build_scorers, check_scorers, plan_scorers, score_batch, train_combiner
from clcm.filtering.synthetic_noise import Pair
from clcm.memory import release_free_memory
from clcm.pipelines.options import default_runner, make_pipeline_options, runner_name
from clcm.pipelines.rounds import (
    end_round,
    merge_rounds,
    round_count,
    round_dir,
    row_range_rounds,
    runs_in_process,
    scratch_dir,
)
from clcm.pipelines.sinks import WriteShards, pair_key, shard_records
from clcm.schemas import AccountingError, Manifest, input_record, layout, write_manifest
from clcm.schemas.io import (
    ROW_GROUP_ROWS,
    SchemaError,
    check_schema_version,
    check_writable_dir,
    parquet_file,
    shard_count,
)
from clcm.schemas.tables import PAIR_SCHEMA, score_column, scored_pair_schema

log = logging.getLogger(__name__)

COMBINER_FILE = "combiner.json"
SCORED_PREFIX = "scored"
ROWS_PER_SHARD = 50_000  # default shard size when --shards is not given
PREFLIGHT_COLUMNS = ("src_text", "tgt_text", "bt_text", "src_lang", "tgt_lang", "mt_logprob")
# Input files up to this size are read once (bytes hashed and parsed from one buffer); a larger one is hashed in a
# stream and parsed from the file (two reads), so the preflight never holds more than this of one file.
ONE_READ_BYTES = 512 << 20


@dataclass(frozen=True)
class ScoreConfig:
    """Settings of ``clcm-data score``.

    Args:
        inputs: a stage directory (its ``pairs/``, else ``kept/``, else ``scored/`` shards), a shard directory, a
            pair shard file or a glob (see :func:`clcm.schemas.layout.input_files`).
        out_dir: output directory.
        scorers: scorer names to run (default: all that need no pretrained model, plus the embedders if given).
        scorer_options: per scorer name, its constructor parameters, e.g. ``{"langid": {"detector": "fast"}}``
            (unknown scorers or keys raise UsageError).
        embedder: encoder of the embedding scorers: ``use`` (built-in multilingual USE, not Czech) or an HF encoder
            id or directory (None: they are skipped); shorthand for ``scorer_options.embedding.model``.
        device: device for the embedder (cpu / cuda).
        batch_size: pairs per Beam element (scorers are batched; one element per batch keeps overhead low).
        num_shards: output shards (None: one per 50,000 pairs).
        combiner_pairs: corpus pairs sampled as the combiner's clean class (noisy class: 1.5x as many corruptions).
        lexical_fit_pairs: the IBM-1 model and the fluency LMs are fitted on (a uniform sample of) at most this many
            pairs, so the preflight's memory does not grow with the corpus; pairs outside the sample are scored like
            any other (cross-fitting already scores every pair with a model that never saw it).
        seed: seed of the combiner's sampling, corruptions and weights.
        workers: DirectRunner worker processes.
        round_rows: on the local runner with one worker, pairs scored per round (see
            :mod:`clcm.pipelines.rounds`: memory stays flat as the corpus grows); 0 = one round.
    """

    inputs: str
    out_dir: str
    scorers: tuple[str, ...] = DEFAULT_SCORERS
    scorer_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    embedder: str | None = None
    device: str = "cpu"
    batch_size: int = option(1024, ge=1)
    num_shards: int | None = option(None, ge=1, le=MAX_SHARDS)
    combiner_pairs: int = option(4000, ge=1)
    lexical_fit_pairs: int = option(1_000_000, ge=1)
    seed: int = 0
    workers: int = option(1, ge=1, le=max_workers)
    round_rows: int = option(ROUND_ROWS, ge=0)

    def __post_init__(self) -> None:
        check_config(self)

    def options(self) -> dict[str, dict[str, Any]]:
        """``scorer_options`` with ``embedder`` filled in as the embedding scorers' ``model`` (unless set there)."""
        out = {n: dict(o) for n, o in self.scorer_options.items()}
        if self.embedder:
            for n in EMBEDDING_SCORERS:
                out.setdefault(n, {}).setdefault("model", self.embedder)
        return out


def _check_pair_table(schema: pa.Schema, path: str) -> None:
    try:
        check_schema_version(schema, path)
    except SchemaError as exc:
        raise InputError(str(exc)) from exc
    missing = [n for n in PAIR_SCHEMA.names if n not in schema.names]
    if missing:
        raise InputError(f"{path} is not a pair table (missing columns {missing}); score reads pairs/")


def open_inputs(
    files: Sequence[str], records: list[dict[str, Any]], row_groups: dict[str, list[int]]
) -> Iterator[pq.ParquetFile]:
    """Each input shard, read once: its bytes hashed into its manifest input record (appended to ``records``) and
    parsed from the same buffer, checked to be a pair table of this schema version (InputError otherwise); the
    rows of each of its row groups go to ``row_groups[path]`` (for planning rounds)."""
    for f in files:
        try:
            if storage.size(f) <= ONE_READ_BYTES:
                data = storage.read_bytes(f)
                records.append({"path": f, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
                pf = pq.ParquetFile(pa.BufferReader(data))
            else:
                records.append(input_record(f))
                pf = parquet_file(f)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{f} is not a readable Parquet file: {exc}") from exc
        _check_pair_table(pf.schema_arrow, f)
        row_groups[f] = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
        yield pf
        pf = data = None  # this file's buffer goes before the next file is read


class ReadPairBatches(beam.DoFn):
    """A shard path, or ``(path, row group, first row, end row)`` (a round's part of a row group) -> dicts of column
    lists (PAIR_SCHEMA columns), at most ``batch_size`` rows each."""

    def __init__(self, batch_size: int) -> None:
        self._batch_size = batch_size

    def process(self, element: str | tuple[str, int, int, int]) -> Iterator[dict[str, list[Any]]]:
        path, group, start, stop = (element, None, 0, None) if isinstance(element, str) else element
        pf = parquet_file(path)  # local or URL
        groups = None if group is None else [group]
        offset = 0
        for rb in pf.iter_batches(batch_size=self._batch_size, row_groups=groups, columns=PAIR_SCHEMA.names):
            first, offset = offset, offset + rb.num_rows
            lo, hi = max(start, first), offset if stop is None else min(stop, offset)
            if hi > lo:
                yield rb.slice(lo - first, hi - lo).to_pydict()
            if stop is not None and offset >= stop:
                return


class ScoreBatches(beam.DoFn):
    """Add score columns and ``noise_score`` to a batch; emits the batch as one list of dict rows (the shard writer
    takes batches: one grouped element per batch and shard, not one per pair)."""

    def __init__(self, spec: ScorerSpec, combiner_path: str) -> None:
        self._spec = spec
        self._combiner_path = combiner_path
        self._scored = beam.metrics.Metrics.counter("score", "pairs_scored")

    def setup(self) -> None:
        self._scorers = self._spec.build()
        self._combiner = Combiner.load(self._combiner_path)

    def process(self, batch: dict[str, list[Any]]) -> Iterator[list[dict[str, Any]]]:
        scores = score_batch(self._scorers, batch)
        noise = self._combiner.predict(scores, batch["src_text"])
        n = len(batch["pair_id"])
        cols = {score_column(k): [None if np.isnan(x) else float(x) for x in v] for k, v in scores.items()}
        rows = []
        for i in range(n):
            row = {k: v[i] for k, v in batch.items()}
            row.update({k: v[i] for k, v in cols.items()})
            row["noise_score"] = float(noise[i])
            rows.append(row)
        yield rows
        self._scored.inc(n)


def scorer_record(name: str) -> dict[str, Any]:
    """Manifest entry of a scorer: direction, default threshold, reason."""
    cls = SCORERS[name]
    return {"name": name, "direction": cls.direction, "threshold": cls.default_threshold, "reason": cls.reason}


class BottomK:
    """A seeded uniform sample of at most ``k`` items from a stream: the ``k`` items of smallest key, a key being a
    hash of the seed, the sample's name and the item's id. The sample (its items and their order, by key) depends on
    which ids the stream holds, not on their order or on how the stream is cut into batches (shards, row groups):
    re-sharded or re-ordered inputs fit the same models, and rows added to a corpus only displace the sampled rows
    whose keys they beat."""

    def __init__(self, k: int, seed: int, name: str) -> None:
        self.k, self._salt = k, f"{seed}:{name}:".encode()
        self._keys = np.zeros(0, dtype=np.uint64)
        self._items: list[Any] = []

    def key(self, item_id: str) -> int:
        return int.from_bytes(hashlib.blake2b(self._salt + item_id.encode(), digest_size=8).digest(), "little")

    def extend(self, items: Sequence[Any], ids: Sequence[str]) -> None:
        if self.k <= 0 or not items:
            return
        keys = np.concatenate([self._keys, np.fromiter(map(self.key, ids), dtype=np.uint64, count=len(ids))])
        pool = self._items + list(items)
        kept = np.argpartition(keys, self.k - 1)[: self.k] if len(keys) > self.k else np.arange(len(keys))
        order = kept[np.argsort(keys[kept], kind="stable")]
        self._keys, self._items = keys[order], [pool[int(i)] for i in order]

    @property
    def items(self) -> list[Any]:
        return self._items


def _scan_corpus(
    shards: Iterable[pq.ParquetFile], config: ScoreConfig
) -> tuple[list[tuple[str, str]], list[Pair], dict[str, int], int]:
    """One streaming pass over the shards: (lexical-fit (src, tgt) sample, combiner sample, non-null counts, rows).

    Memory is bounded by the two sample sizes (and one shard), not the corpus: record batches are read one at a time.
    """
    lexical = BottomK(config.lexical_fit_pairs, config.seed, "fit")
    combiner = BottomK(config.combiner_pairs, config.seed, "combiner")
    available = {c: 0 for c in PREFLIGHT_COLUMNS}
    rows = 0
    for pf in shards:
        for rb in pf.iter_batches(batch_size=8192, columns=[*PREFLIGHT_COLUMNS, "pair_id"]):  # one batch alive
            for c in PREFLIGHT_COLUMNS:
                available[c] += rb.num_rows - rb.column(c).null_count
            rows += rb.num_rows
            d = rb.to_pydict()
            batch = [Pair(*v) for v in zip(*(d[c] for c in PREFLIGHT_COLUMNS[:5]), strict=True)]
            lexical.extend(list(zip(d["src_text"], d["tgt_text"], strict=True)), d["pair_id"])  # no bt/langs needed
            combiner.extend(batch, d["pair_id"])
    return lexical.items, combiner.items, available, rows


class Phases:
    """Wall and CPU seconds (user+sys of this process and its children) per phase, with a log line at each start."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def __call__(self, key: str, message: str) -> Iterator[None]:
        log.info("%s ...", message)
        t, c = time.perf_counter(), cpu_seconds()
        yield
        self.wall[key], self.cpu[key] = time.perf_counter() - t, cpu_seconds() - c
        log.info("%s: done in %.1f s (%.1f CPU-s)", key, self.wall[key], self.cpu[key])


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its (waited-for) children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run(config: ScoreConfig, beam_args: Sequence[str] = (), *, runner: Any = None) -> Manifest:
    """Score ``config.inputs`` into ``config.out_dir``; returns the written manifest.

    Args:
        config: the score settings.
        beam_args: Beam flags passed through (``--runner ...``).
        runner: a runner instance (tests pass ``FnApiRunner()``); default from ``beam_args`` / DirectRunner.
    """
    phase = Phases()
    options = config.options()
    check_scorers(config.scorers, options)
    files = layout.input_files(config.inputs, layout.PAIR_INPUTS, what="pair shards")
    out = config.out_dir
    check_writable_dir(out, "output directory")
    inputs: list[dict[str, Any]] = []  # the manifest's input records, from the scan's own read of each file
    row_groups: dict[str, list[int]] = {}
    with phase("read", f"reading {len(files)} shard(s)"):
        fit_pairs, combiner_sample, available, n_read = _scan_corpus(open_inputs(files, inputs, row_groups), config)
    names = plan_scorers(config.scorers, available, options)
    skipped = [n for n in config.scorers if n not in names]
    options = {n: o for n, o in options.items() if n in names}
    model_dir = storage.join(out, layout.MODELS)
    context = BuildContext(model_dir=model_dir, fit_pairs=fit_pairs, device=config.device, options=options)
    with phase("fit", f"building {len(names)} scorers (fitting their models on {len(fit_pairs)} pairs)"):
        scorers = build_scorers(names, context)
    del fit_pairs
    context.fit_pairs = None
    n_clean = min(len(combiner_sample), config.combiner_pairs)
    with phase("combiner", f"training the combiner on {n_clean} corpus pairs and their synthetic corruptions"):
        combiner = train_combiner(scorers, combiner_sample, seed=config.seed, n_clean=config.combiner_pairs,
                                  corpus_pairs=n_read)  # fmt: skip
        combiner.save(layout.model_path(out, COMBINER_FILE))
    for info in context.fitted.values():  # manifest paths are relative to the stage directory
        info["file"] = layout.model_record_name(info["file"]) if "file" in info else None
    extra: dict[str, Any] = {"skipped_scorers": skipped, "scorer_models": context.fitted}
    extra["combiner"] = {"file": layout.model_record_name(COMBINER_FILE), "kind": combiner.kind, **combiner.info}
    del scorers, combiner, combiner_sample, context  # the workers load the saved models: the driver keeps none
    gc.collect()
    release_free_memory()

    spec = ScorerSpec(tuple(names), model_dir=model_dir, options=options, device=config.device)
    schema = scored_pair_schema(names)
    n_shards = shard_count(config.num_shards, n_read, ROWS_PER_SHARD)
    storage.delete(storage.match(layout.shard_pattern(out, SCORED_PREFIX)))  # a re-run must not mix old shards in
    beam_options = make_pipeline_options(beam_args, workers=config.workers)
    beam_runner = runner or default_runner(beam_options)
    rounds = round_count(n_read, config.round_rows, runs_in_process(beam_runner, beam_options))
    largest = max((n for sizes in row_groups.values() for n in sizes), default=0)
    if rounds > 1 and largest > max(config.round_rows, ROW_GROUP_ROWS):
        msg = "an input row group holds %d rows: every round that reads part of it decodes its dictionary pages whole"
        log.warning(msg + ", so memory grows with it (clcm writes groups of %d rows)", largest, ROW_GROUP_ROWS)
    score = ScoreBatches(spec, layout.model_path(out, COMBINER_FILE))

    def score_pipeline(elements: list[str] | list[tuple[str, int, int, int]], out_dir: str, final: bool) -> None:
        sink = {"records": True} if final else {"runs": True}  # a round writes sorted runs, merged afterwards
        with beam.Pipeline(runner=beam_runner, options=beam_options) as p:
            _ = (
                p
                | "ShardFiles" >> beam.Create(elements)  # read again here: the fit had to finish before scoring
                | "ReadPairBatches" >> beam.ParDo(ReadPairBatches(config.batch_size))
                | "ScoreBatches" >> beam.ParDo(score)
                | "WriteScored"
                >> WriteShards(out_dir, SCORED_PREFIX, schema, n_shards, key=pair_key, batched=True, **sink)
            )

    with phase("beam", f"scoring {n_read} pairs (Beam, {rounds} round(s))"):
        if rounds == 1:
            score_pipeline(list(files), out, final=True)
            shards = shard_records(out, SCORED_PREFIX, n_shards, table="scored_pairs")  # what the writers wrote
        else:
            with scratch_dir() as scratch:
                plan = row_range_rounds(row_groups, rounds)
                rounds = len(plan)
                for r, elements in enumerate(plan):
                    score_pipeline(elements, round_dir(scratch, r), final=False)
                    end_round(r, rounds)
                shards = merge_rounds(scratch, rounds, out, SCORED_PREFIX, schema, n_shards, "scored_pairs")
    scored = sum(s["rows"] for s in shards)
    if scored != n_read:
        raise AccountingError(f"read {n_read} pairs but wrote {scored} scored rows")
    cfg = asdict(config) | {"scorers": list(config.scorers), "active_scorers": names, "scorer_options": options}
    manifest = Manifest(
        command="score",
        config=cfg,
        counts={"read": n_read, "scored": scored, "rejected": {}},
        inputs=inputs,
        shards=shards,
        models=[
            {"role": "embedder", "id": m, "revision": None, "licence": None}
            for m in dict.fromkeys(options[n]["model"] for n in names if n in EMBEDDING_SCORERS)
        ],
        runner=runner_name(beam_options) if runner is None else type(runner).__name__,
        timings={k: round(v, 3) for k, v in phase.wall.items()},
        extra=extra
        | {
            "scorers": [scorer_record(n) for n in names],
            "cpu_seconds": {k: round(v, 3) for k, v in phase.cpu.items()},
            "rounds": rounds,
        },  # fmt: skip
    )
    write_manifest(out, manifest)
    log.debug("scored %d pairs with %s -> %s", scored, ", ".join(names), out)
    return manifest
