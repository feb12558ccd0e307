"""Score pipeline: pair shards -> scored shards (one ``score_<name>`` column per scorer + ``noise_score``).

Flow:
1. preflight (driver): read the pair shards' text columns, find which scorers have inputs (others are skipped with
   a logged note), fit the IBM-1 lexical model on the corpus and train the combiner on synthetic noise made from a
   sample of it; both are saved into the output directory (``lexical_model.npz``, ``combiner.json``);
   (cross-fitted: every pair is scored by an IBM-1 model that never saw its source, see CrossFitLexical);
2. Beam: shard files -> ``ReadPairBatches`` (record batches of ``batch_size`` rows: elements are batches, not
   rows) -> ``ScoreBatches`` (each worker builds the scorers once in ``setup``, like a RunInference model handler,
   and loads the saved models) -> ``WriteShards`` (deterministic ``scored-*`` shards keyed by ``pair_id``);
3. the manifest (counts, shards, scorers, skipped scorers, combiner summary).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq

from clcm.errors import InputError, OutputError, UsageError
from clcm.filtering.combiner import Combiner
from clcm.filtering.lexical import CrossFitLexical
from clcm.filtering.registry import DEFAULT_SCORERS, LEXICAL_SCORERS, SCORERS
from clcm.filtering.scoring import ScorerSpec, plan_scorers, score_batch, train_combiner
from clcm.filtering.synthetic_noise import Pair
from clcm.pipelines.options import make_pipeline_options, runner_name
from clcm.pipelines.sinks import WriteShards
from clcm.schemas import AccountingError, Manifest, input_record, write_manifest
from clcm.schemas.io import SchemaError, check_schema_version, parquet_files
from clcm.schemas.tables import PAIR_SCHEMA, score_column, scored_pair_schema

log = logging.getLogger(__name__)

LEXICAL_FILE = "lexical_model.npz"
COMBINER_FILE = "combiner.json"
SCORED_PREFIX = "scored"
ROWS_PER_SHARD = 50_000  # default shard size when --shards is not given
PREFLIGHT_COLUMNS = ("src_text", "tgt_text", "bt_text", "src_lang", "tgt_lang", "mt_logprob")


@dataclass(frozen=True)
class ScoreConfig:
    """Settings of ``clcm-data score``.

    Args:
        inputs: a pair shard file or a directory of pair shards (``*.parquet``).
        out_dir: output directory.
        scorers: scorer names to run (default: all that need no pretrained model, plus the embedders if given).
        embedder: HF encoder id or directory for the embedding scorers (None: they are skipped).
        device: device for the embedder (cpu / cuda).
        batch_size: pairs per Beam element (scorers are batched; one element per batch keeps overhead low).
        num_shards: output shards (None: one per 50,000 pairs).
        combiner_pairs: corpus pairs sampled as the combiner's clean class (noisy class: 1.5x as many corruptions).
        seed: seed of the combiner's sampling, corruptions and weights.
        workers: DirectRunner worker processes.
    """

    inputs: str
    out_dir: str
    scorers: tuple[str, ...] = DEFAULT_SCORERS
    embedder: str | None = None
    device: str = "cpu"
    batch_size: int = 1024
    num_shards: int | None = None
    combiner_pairs: int = 4000
    seed: int = 0
    workers: int = 1


# Shards that hold pair rows, by the stage that wrote them: translate/import, filter (kept), score.
PAIR_SHARD_PREFIXES = ("pairs-", "kept-", "scored-")


def _input_files(inputs: str) -> list[Path]:
    try:
        files = parquet_files(inputs)
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from exc
    if Path(inputs).is_dir():  # a translate/import/filter output dir also holds rejects or dropped shards
        for prefix in PAIR_SHARD_PREFIXES:
            if chosen := [f for f in files if f.name.startswith(prefix)]:
                files = chosen
                break
    if not files:
        raise InputError(f"no pair shards (*.parquet) in {inputs}")
    for f in files:
        schema = pq.read_schema(f)
        try:
            check_schema_version(schema, f)
        except SchemaError as exc:
            raise InputError(str(exc)) from exc
        missing = [n for n in PAIR_SCHEMA.names if n not in schema.names]
        if missing:
            raise InputError(f"{f} is not a pair table (missing columns {missing}); score reads `pairs-*` shards")
    return files


class ReadPairBatches(beam.DoFn):
    """Shard path -> dicts of column lists (PAIR_SCHEMA columns), ``batch_size`` rows each."""

    def __init__(self, batch_size: int) -> None:
        self._batch_size = batch_size

    def process(self, path: str) -> Iterator[dict[str, list[Any]]]:
        pf = pq.ParquetFile(path)
        for rb in pf.iter_batches(batch_size=self._batch_size, columns=PAIR_SCHEMA.names):
            yield rb.to_pydict()


class ScoreBatches(beam.DoFn):
    """Add score columns and ``noise_score`` to a batch; emits one dict row per pair (for the shard writer)."""

    def __init__(self, spec: ScorerSpec, combiner_path: str) -> None:
        self._spec = spec
        self._combiner_path = combiner_path
        self._scored = beam.metrics.Metrics.counter("score", "pairs_scored")

    def setup(self) -> None:
        self._scorers = self._spec.build()
        self._combiner = Combiner.load(self._combiner_path)

    def process(self, batch: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
        scores = score_batch(self._scorers, batch)
        noise = self._combiner.predict(scores)
        n = len(batch["pair_id"])
        cols = {score_column(k): [None if np.isnan(x) else float(x) for x in v] for k, v in scores.items()}
        for i in range(n):
            row = {k: v[i] for k, v in batch.items()}
            row.update({k: v[i] for k, v in cols.items()})
            row["noise_score"] = float(noise[i])
            yield row
        self._scored.inc(n)


def scorer_record(name: str) -> dict[str, Any]:
    """Manifest entry of a scorer: direction, default threshold, reason."""
    cls = SCORERS[name]
    return {"name": name, "direction": cls.direction, "threshold": cls.default_threshold, "reason": cls.reason}


def _corpus_pairs(files: Sequence[Path]) -> tuple[list[Pair], dict[str, int]]:
    """All pairs' texts (for the lexical fit and the combiner sample) and non-null counts per column."""
    pairs: list[Pair] = []
    available = {c: 0 for c in PREFLIGHT_COLUMNS}
    for f in files:
        t = pq.read_table(f, columns=list(PREFLIGHT_COLUMNS))
        for c in PREFLIGHT_COLUMNS:
            available[c] += len(t) - t.column(c).null_count
        d = t.to_pydict()
        pairs.extend(
            Pair(s, g, b, sl, tl)
            for s, g, b, sl, tl in zip(
                d["src_text"], d["tgt_text"], d["bt_text"], d["src_lang"], d["tgt_lang"], strict=True
            )
        )
    return pairs, available


def run(config: ScoreConfig, beam_args: Sequence[str] = (), *, runner: Any = None) -> Manifest:
    """Score ``config.inputs`` into ``config.out_dir``; returns the written manifest.

    Args:
        config: the score settings.
        beam_args: Beam flags passed through (``--runner ...``).
        runner: a runner instance (tests pass ``FnApiRunner()``); default from ``beam_args`` / DirectRunner.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    files = _input_files(config.inputs)
    out = Path(config.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {out}: {exc}") from exc
    pairs, available = _corpus_pairs(files)
    unknown = [n for n in config.scorers if n not in SCORERS]
    if unknown:
        raise UsageError(f"unknown scorer(s) {unknown}; known: {sorted(SCORERS)}")
    names = plan_scorers(config.scorers, available, config.embedder)
    skipped = [n for n in config.scorers if n not in names]
    lexical_path = None
    extra: dict[str, Any] = {"skipped_scorers": skipped}
    if any(n in LEXICAL_SCORERS for n in names):
        model = CrossFitLexical.fit([p.src for p in pairs], [p.tgt for p in pairs])
        lexical_path = str(out / LEXICAL_FILE)
        model.save(lexical_path)
        extra["lexical_model"] = {"file": LEXICAL_FILE, "fit_seconds": round(model.fit_seconds, 2)}
    spec = ScorerSpec(tuple(names), lexical_model=lexical_path, embedder=config.embedder, device=config.device)
    timings["preflight"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    combiner = train_combiner(spec.build(), pairs, seed=config.seed, n_clean=config.combiner_pairs)
    combiner.save(out / COMBINER_FILE)
    extra["combiner"] = {"file": COMBINER_FILE, "kind": combiner.kind, **combiner.info}
    timings["combiner"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    schema = scored_pair_schema(names)
    n_shards = config.num_shards or max(1, -(-len(pairs) // ROWS_PER_SHARD))
    for stale in out.glob(f"{SCORED_PREFIX}-*.parquet"):  # a re-run must not mix old shards in
        stale.unlink()
    options = make_pipeline_options(beam_args, workers=config.workers)
    with beam.Pipeline(runner=runner, options=options) as p:
        _ = (
            p
            | "ShardFiles" >> beam.Create([str(f) for f in files])
            | "ReadPairBatches" >> beam.ParDo(ReadPairBatches(config.batch_size))
            | "ScoreBatches" >> beam.ParDo(ScoreBatches(spec, str(out / COMBINER_FILE)))
            | "WriteScored" >> WriteShards(str(out), SCORED_PREFIX, schema, n_shards, key=lambda r: r["pair_id"])
        )
    timings["beam"] = time.perf_counter() - t2

    shards = []
    for f in sorted(out.glob(f"{SCORED_PREFIX}-*.parquet")):
        rec = input_record(f)
        shards.append({"name": f.name, "rows": pq.ParquetFile(f).metadata.num_rows, "sha256": rec["sha256"],
                       "bytes": rec["bytes"], "table": "scored_pairs"})  # fmt: skip
    scored = sum(s["rows"] for s in shards)
    if scored != len(pairs):
        raise AccountingError(f"read {len(pairs)} pairs but wrote {scored} scored rows")
    cfg = asdict(config) | {"scorers": list(config.scorers), "active_scorers": names}
    manifest = Manifest(
        command="score",
        config=cfg,
        counts={"read": len(pairs), "scored": scored, "rejected": {}},
        inputs=[input_record(f) for f in files],
        shards=shards,
        models=[{"role": "embedder", "id": config.embedder, "revision": None, "licence": None}]
        if config.embedder and set(names) & {"embedding", "embedding_bt"}
        else [],
        runner=runner_name(options) if runner is None else type(runner).__name__,
        timings={k: round(v, 3) for k, v in timings.items()},
        extra=extra | {"scorers": [scorer_record(n) for n in names]},
    )
    write_manifest(out, manifest)
    log.info("scored %d pairs with %s -> %s", scored, ", ".join(names), out)
    return manifest
