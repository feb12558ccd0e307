"""Launching the translate pipeline: check inputs and models up front, run Beam, write the manifest.

Checks that can fail on a user mistake (no inputs, a non-caption table, a model that does not load, a GPU that
is not there) run here, before any worker starts, so they surface as one clear ClcmError instead of a Beam stack.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import replace
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq

from clcm import storage
from clcm.errors import ModelError
from clcm.hub import check_model, check_path
from clcm.pipelines.cache import default_cache_dir
from clcm.pipelines.options import default_runner, make_pipeline_options, runner_name
from clcm.pipelines.rounds import end_round, merge_rounds, round_count, round_dir, runs_in_process, scratch_dir
from clcm.pipelines.sinks import shard_records
from clcm.pipelines.sources import caption_files, check_caption_files, partition_captions
from clcm.pipelines.translate import (
    ROWS_PER_SHARD,
    LangPlan,
    TranslateConfig,
    build_pipeline,
    config_record,
    metric_counts,
    now,
    resolve_plans,
)
from clcm.schemas import (
    MANIFEST_NAME,
    AccountingError,
    Manifest,
    check_counts,
    check_not_empty,
    input_records,
    layout,
)
from clcm.schemas.io import check_writable_dir, shard_count
from clcm.schemas.paths import inside
from clcm.schemas.tables import PAIR_SCHEMA, REJECT_SCHEMA
from clcm.translation import ModelSpec

log = logging.getLogger(__name__)


def _ct2_cache_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "clcm", "ct2")


def preflight(spec: ModelSpec, models_dir: str | None = None) -> ModelSpec:
    """Fail early (ModelError) on a missing device or an unloadable model; convert hub/transformers models for ct2.

    Args:
        spec: the model as configured.
        models_dir: where ct2 conversions go: shared storage every worker reads (the output directory's
            ``models/ct2``; a FileSystems URL is converted locally, then uploaded). None: ``~/.cache/clcm/ct2``.

    Returns the spec to load on workers (for ``ct2``, pointing at a converted directory).
    """
    from clcm.translation.hf import resolve_device

    check_path(spec.model, what="translation model")
    if spec.backend == "ct2":
        import ctranslate2

        from clcm.translation.ct2 import is_ct2_dir

        resolve_device(spec.device, ctranslate2.get_cuda_device_count() > 0)
        if not is_ct2_dir(spec.model):
            safe = spec.model.strip("/").replace("/", "--")
            revision = (spec.revision or "main").replace("/", "--")  # a revision may hold '/' (refs/pr/1)
            out = _convert_once(spec, models_dir or _ct2_cache_root(), f"{safe}@{revision}")
            spec = replace(spec, model=out, source=spec.model)
        return spec
    import torch
    from transformers import AutoConfig

    resolve_device(spec.device, torch.cuda.is_available())
    check_model(spec.model, revision=None if os.path.isdir(spec.model) else spec.revision, what="translation model")
    try:
        AutoConfig.from_pretrained(spec.model, revision=None if os.path.isdir(spec.model) else spec.revision)
    except Exception as exc:  # noqa: BLE001 - transformers raises OSError/ValueError variants
        raise ModelError(f"cannot load transformers model {spec.model!r}: {exc}") from exc
    return spec


def _convert_once(spec: ModelSpec, models_dir: str, name: str) -> str:
    """The ct2 conversion of ``spec.model`` in ``models_dir/name`` (converted if not there yet)."""
    import tempfile

    from clcm.pipelines.model_files import upload_dir
    from clcm.translation import ct2

    if not storage.is_url(models_dir):
        out = str(inside(models_dir, name))
        if not ct2.is_ct2_dir(out):
            check_model(spec.model, revision=spec.revision, what="translation model")
            log.info("converting %s to CTranslate2 in %s", spec.model, out)
            ct2.convert_model(spec.model, out, revision=spec.revision)
        return out
    out = storage.join(models_dir, name)
    if not storage.exists(storage.join(out, "model.bin")):
        check_model(spec.model, revision=spec.revision, what="translation model")
        with tempfile.TemporaryDirectory(prefix="clcm-ct2-") as tmp:
            log.info("converting %s to CTranslate2 for %s", spec.model, out)
            ct2.convert_model(spec.model, os.path.join(tmp, name), revision=spec.revision)
            upload_dir(os.path.join(tmp, name), out)
    return out


def _remove_stale(out_dir: str, keep: set[str]) -> None:
    """Delete pair/reject shards of an earlier run that this run did not write (e.g. another shard count)."""
    for kind in ("pairs", "rejects"):
        stale = [p for p in storage.match(layout.shard_pattern(out_dir, kind)) if layout.basename(p) not in keep]
        storage.delete(stale)


def _rejected(out_dir: str) -> Counter[str]:
    """Rejected rows per reason, reading only the ``reason`` column, one row group at a time."""
    counts: Counter[str] = Counter()
    with storage.open_read(layout.shard_path(out_dir, "rejects", 0, 1)) as fh:
        part = pq.ParquetFile(fh)
        for g in range(part.num_row_groups):
            counts.update(part.read_row_group(g, columns=["reason"]).column("reason").to_pylist())
    return counts


def _run_pipeline(
    beam_runner: Any, options: Any, config: TranslateConfig, plans: list[LangPlan], files: list[str], num_shards: int
) -> Any:
    pipeline = beam.Pipeline(runner=beam_runner, options=options)
    build_pipeline(pipeline, config, plans, files, num_shards)
    result = pipeline.run()
    result.wait_until_finish()
    return result


def _run_rounds(
    beam_runner: Any, options: Any, config: TranslateConfig, plans: list[LangPlan], files: list[str], num_shards: int,
    rounds: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    """Translate in ``rounds`` bounded rounds (see :mod:`clcm.pipelines.rounds`): the captions partitioned by id,
    the pipeline run once per partition, then the shards merged; returns the summed metrics and the shard records.

    The pipeline is built once (building it costs ~0.7 CPU-s) and run again for every round: it reads
    ``round-input.parquet`` and writes ``round-output/`` in the scratch directory, and between runs the next
    partition is moved in and the finished round's shards are moved out.
    """
    with scratch_dir() as scratch:
        log.info("translating in %d rounds (--round-rows %d)", rounds, config.round_rows)
        parts = partition_captions(files, rounds, scratch)
        # without the user's cache, a scratch cache still translates a text that recurs in a later round once
        cache = {} if config.use_cache else {"use_cache": True, "cache_dir": os.path.join(scratch, "cache")}
        source, output = os.path.join(scratch, "round-input.parquet"), os.path.join(scratch, "round-output")
        pipeline = beam.Pipeline(runner=beam_runner, options=options)
        round_config = replace(config, out_dir=output, **cache)
        build_pipeline(pipeline, round_config, plans, [source], num_shards, partitioned=True)
        per_lang: dict[str, Any] = {}
        for r, part in enumerate(parts):
            os.replace(part, source)
            result = pipeline.run()
            result.wait_until_finish()
            per_lang = add_counts(per_lang, metric_counts(result, plans))
            os.replace(output, round_dir(scratch, r))
            del result
            end_round(r, rounds)
        shards = merge_rounds(scratch, rounds, config.out_dir, "pairs", PAIR_SCHEMA, num_shards, "pairs")
        shards += merge_rounds(scratch, rounds, config.out_dir, "rejects", REJECT_SCHEMA, 1, "rejects")
    return per_lang, shards


def add_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Nested count dicts added key by key (a key missing on one side counts 0)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = add_counts(a.get(k, {}), v) if isinstance(v, dict) else a.get(k, 0) + v
    return out


def run(config: TranslateConfig, beam_args: list[str] | tuple[str, ...] = (), *, runner: Any = None) -> Manifest:
    """Run the translate pipeline and write ``_manifest.json``; returns the manifest.

    Args:
        config: what to translate and how.
        beam_args: pass-through Beam flags (``--runner DataflowRunner --project ...``).
        runner: a runner name or instance (tests pass ``FnApiRunner()``); default from ``beam_args``/DirectRunner.
    """
    t0 = now()
    beam_log = logging.getLogger("apache_beam")
    if beam_log.level == logging.NOTSET:
        beam_log.setLevel(logging.WARNING)  # Beam's INFO chatter drowns the progress bars
    files = caption_files(list(config.inputs))
    read = check_caption_files(files)
    check_writable_dir(config.out_dir, "output directory")  # object-store URLs are not probed
    cache_root = config.cache_dir or default_cache_dir()
    if config.use_cache:  # found before translating, not when storing the first result
        check_writable_dir(cache_root, "translation cache (--cache-dir)")
    models_dir = storage.join(config.out_dir, "models", "ct2")  # shared storage: every worker reads it
    plans = [LangPlan(p.lang, preflight(p.mt, models_dir), preflight(p.bt, models_dir)) for p in resolve_plans(config)]
    num_shards = shard_count(config.num_shards, read * len(plans), ROWS_PER_SHARD)
    explicit_runner = None if runner is None or isinstance(runner, str) else runner
    # --workers N: N batches translated at once by the one loaded copy of each model (CTranslate2 inter_threads,
    # torch intra-op threads), inside one in-process Beam worker. Not Beam worker threads: the FnApiRunner's
    # multi_threading mode lost a contiguous block of rows at 29,000 captions (caught by the accounting check), and
    # a second worker process would import everything and load every model again.
    options = make_pipeline_options(beam_args, workers=1, runner=runner if isinstance(runner, str) else None)
    beam_runner = explicit_runner or default_runner(options)
    rounds = round_count(read, config.round_rows, runs_in_process(beam_runner, options))
    t1 = now()
    if rounds == 1:
        per_lang = metric_counts(_run_pipeline(beam_runner, options, config, plans, files, num_shards), plans)
        # the records the shard writers left (rows, sha256 and size of the bytes they wrote): no shard is read back
        shards = shard_records(config.out_dir, "pairs", num_shards, "pairs")
        shards += shard_records(config.out_dir, "rejects", 1, "rejects")
    else:
        per_lang, shards = _run_rounds(beam_runner, options, config, plans, files, num_shards, rounds)
    t2 = now()
    names = {layout.shard_name("pairs", i, num_shards) for i in range(num_shards)}
    names.add(layout.shard_name("rejects", 0, 1))
    _remove_stale(config.out_dir, names)
    pairs = sum(s["rows"] for s in shards if s["table"] == "pairs")
    if pairs % len(plans):
        raise AccountingError(f"{pairs} pair rows is not a multiple of {len(plans)} target languages")
    total = {k: sum(d[k] for lang in per_lang.values() for d in lang.values()) for k in ("unique", "cached")}
    total.update({k: sum(d[k] for lang in per_lang.values() for d in lang.values()) for k in ("translated", "tokens")})
    counts = {
        "read": read,
        "kept": pairs // len(plans),
        "rejected": dict(sorted(_rejected(config.out_dir).items())),
        "pairs": pairs,
        **total,
        "per_lang": per_lang,
    }
    check_counts(counts)
    pipeline_s = t2 - t1
    summary = {
        "pairs_per_s": round(pairs / pipeline_s, 2) if pipeline_s else None,
        "tokens_per_s": round(total["tokens"] / pipeline_s, 1) if pipeline_s else None,
        "cache_hits": total["cached"],
        "unique_texts": total["unique"],
        "rounds": rounds,
    }
    manifest = Manifest(
        command="translate",
        config=config_record(config, plans),
        counts=counts,
        inputs=input_records(files),  # the import stage's recorded sha256 where it wrote them
        shards=shards,
        models=[
            {"role": f"{role}:{p.lang}", "id": s.model, "revision": s.revision, "backend": s.backend}
            for p in plans
            for role, s in (("mt", p.mt), ("bt", p.bt))
        ],
        runner=runner_name(options) if explicit_runner is None else type(explicit_runner).__name__,
        timings={"setup_s": round(t1 - t0, 3), "pipeline_s": round(pipeline_s, 3), "total_s": round(now() - t0, 3)},
        extra={"summary": summary},
    )
    data = json.dumps(manifest.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    storage.write_bytes(storage.join(config.out_dir, MANIFEST_NAME), data.encode("utf-8"))
    check_not_empty("translate", counts, config.out_dir)
    return manifest
