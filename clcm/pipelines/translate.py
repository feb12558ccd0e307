"""The translate pipeline: caption Parquet -> pseudo-parallel pairs (source, MT, back-translation).

Flow (one Beam pipeline, any runner):

    ReadCaptions -> Validate (rejects: not_source, empty_text, nul_byte, too_long) -> DedupIds (duplicate_id)
    -> GroupByText (normalised source text: each unique text is translated once)
    -> per target language: MT (cache lookup -> RunInference on misses -> cache store)
       -> distinct MT outputs -> BackTranslate (same cached path, reversed direction) -> join MT with BT
    -> JoinCaptions (re-join every caption id to its text's translations) -> pairs/ + rejects/ shards

Every caption ends in exactly one place: ``len(langs)`` pair rows, or one reject row with a reason. The launcher
then writes ``_manifest.json`` from the files written (read, kept, rejected per reason) and Beam metrics (unique,
cached and translated texts, generated tokens).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import apache_beam as beam

from clcm.configs import MAX_SHARDS, ROUND_ROWS, check_config, max_workers, option
from clcm.errors import UsageError
from clcm.pipelines.cache import NAMESPACE, cache_path, default_cache_dir, prepare
from clcm.pipelines.cache_steps import LookupCache, StoreCache
from clcm.pipelines.handlers import Translate
from clcm.pipelines.sinks import WriteShards, decode_row, encode_row, pair_key
from clcm.pipelines.sources import LINE, SOURCE, ReadCaptionFile, reject_row
from clcm.schemas import CAPTION_SCHEMA, PAIR_SCHEMA, REJECT_SCHEMA, pair_id, reasons
from clcm.translation import DecodeSettings, ModelSpec
from clcm.translation.base import BACKENDS, DEVICES
from clcm.translation.normalize import normalize_text

# after dedup a caption travels as just these fields (not its whole row dict), encoded into one bytes object (as
# before dedup): a local runner holds every caption in memory at each grouping, so element size sets the peak
CAPTION_FIELDS = ("caption_id", "media_id", "caption_index", "split", "dataset", "text")
ROWS_PER_SHARD = 50_000  # auto shard count: small enough to stream, large enough to avoid tiny files


@dataclass(frozen=True)
class TranslateConfig:
    """Configuration of one translate run.

    Args:
        inputs: caption Parquet files, shard directories or glob patterns (local or object-store URLs).
        out_dir: output directory for pair/reject shards and the manifest.
        tgt_langs: target languages; one pair row per caption per language.
        src_lang: language of the captions to translate (other captions are rejected as ``not_source``).
        model: MT model (hub id or directory) for every target language; None = the default per pair.
        bt_model: back-translation model; None = ``model`` when given (multilingual models), else the default.
        backend: ``ct2`` (fastest) or ``hf``.
        device, compute_type, threads: see :class:`clcm.translation.ModelSpec`.
        settings: decoding settings (part of the cache key).
        cache_dir: translation cache root; None = ``$CLCM_CACHE_DIR`` or ``~/.cache/clcm/translations``.
        use_cache: read and write the cache (False translates everything and stores nothing).
        num_shards: pair shards; 0 = one per 50,000 pairs.
        workers: batches translated at once by the one loaded copy of each model (the model's ``parallel``);
            the pipeline keeps one in-process Beam worker (``--direct_running_mode multi_processing
            --direct_num_workers N`` in the Beam flags gives worker processes instead).
        batch_size: unique texts per Beam element (the translator cuts length-sorted sub-batches).
        round_rows: on the local runner, captions per round (see :mod:`clcm.pipelines.rounds`: memory stays flat
            as the corpus grows; a text recurring in a later round is a cache hit there); 0 = one round.
        max_source_chars: longer captions are rejected as ``too_long`` (runaway inputs, not captions).
        progress: progress bars while translating.
    """

    inputs: tuple[str, ...]
    out_dir: str
    tgt_langs: tuple[str, ...]
    src_lang: str = "en"
    model: str | None = None
    bt_model: str | None = None
    backend: str = "ct2"
    device: str = "cpu"
    compute_type: str = "auto"
    threads: int = option(1, ge=1, le=max_workers)
    settings: DecodeSettings = field(default_factory=DecodeSettings)
    cache_dir: str | None = None
    use_cache: bool = True
    num_shards: int = option(0, ge=0, le=MAX_SHARDS)
    workers: int = option(1, ge=1, le=max_workers)
    batch_size: int = option(512, ge=1)
    round_rows: int = option(ROUND_ROWS, ge=0)
    max_source_chars: int = option(1000, ge=1)
    progress: bool = False

    def __post_init__(self) -> None:
        check_config(self)
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown backend {self.backend!r}: expected one of {', '.join(BACKENDS)}")
        if self.device not in DEVICES:
            raise UsageError(f"unknown device {self.device!r}: expected one of {', '.join(DEVICES)}")
        if not self.tgt_langs:
            raise UsageError("no target language given (--lang)")
        if self.src_lang in self.tgt_langs:
            raise UsageError(f"target language {self.src_lang!r} is the source language")


@dataclass(frozen=True)
class LangPlan:
    """The resolved MT and BT models of one target language."""

    lang: str
    mt: ModelSpec
    bt: ModelSpec


class ValidateDoFn(beam.DoFn):
    """Caption rows in; ``(caption_id, (source, line, norm, values))`` out, or a reject row on ``reject``."""

    REJECT = "reject"

    def __init__(self, src_lang: str, max_chars: int) -> None:
        self._src = src_lang
        self._max = max_chars

    def process(self, row: dict[str, Any]) -> Iterator[Any]:
        if row.get("lang") != self._src or row.get("origin") != "human":
            detail = f"lang={row.get('lang')!r} origin={row.get('origin')!r}; translating {self._src!r} human captions"
            yield beam.pvalue.TaggedOutput(self.REJECT, reject_row(row, reasons.NOT_SOURCE, detail))
            return
        text = row.get("text") or ""
        if "\x00" in text:
            yield beam.pvalue.TaggedOutput(self.REJECT, reject_row(row, reasons.NUL_BYTE))
            return
        norm = normalize_text(text, self._src)
        if not norm:
            yield beam.pvalue.TaggedOutput(self.REJECT, reject_row(row, reasons.EMPTY_TEXT))
        elif len(norm) > self._max:
            detail = f"{len(norm)} characters > --max-source-chars {self._max}"
            yield beam.pvalue.TaggedOutput(self.REJECT, reject_row(row, reasons.TOO_LONG, detail))
        else:
            # one encoded bytes object, not the row dict: (source, line, norm, caption values in CAPTION_SCHEMA order)
            values = tuple(row[k] for k in CAPTION_SCHEMA.names)
            yield row["caption_id"], encode_row((row[SOURCE], row[LINE], norm, values))


class DedupIdsDoFn(beam.DoFn):
    """``(caption_id, [encoded (source, line, norm, values)])`` in; the first (by source, line) out as
    ``(norm, encoded CAPTION_FIELDS values)``; later ones rejected."""

    REJECT = "reject"

    def process(self, element: tuple[str, Sequence[bytes]]) -> Iterator[Any]:
        _, rows = element
        first, *dups = sorted((decode_row(r) for r in rows), key=lambda r: (r[0], r[1]))
        source, line, norm, values = first
        row = dict(zip(CAPTION_SCHEMA.names, values, strict=True))
        yield norm, encode_row(tuple(row[k] for k in CAPTION_FIELDS))
        for dup_source, dup_line, _, dup_values in dups:
            dup = dict(zip(CAPTION_SCHEMA.names, dup_values, strict=True)) | {SOURCE: dup_source, LINE: dup_line}
            detail = f"caption_id first seen at {source}:{line}"
            yield beam.pvalue.TaggedOutput(self.REJECT, reject_row(dup, reasons.DUPLICATE_ID, detail))


class CachedTranslate(beam.PTransform):
    """Unique texts in, ``(text, Translation)`` out: cache hits are reused, misses translated and stored."""

    def __init__(self, spec: ModelSpec, label: str, config: TranslateConfig) -> None:
        super().__init__()
        self._spec = spec
        self._label = label
        self._cache = cache_path(config.cache_dir or default_cache_dir(), spec) if config.use_cache else None
        # the driver creates the settings directory (and learns its bucket count) before any worker starts
        self._buckets = prepare(self._cache, spec.cache_fields()) if self._cache is not None else 0
        self._batch = config.batch_size
        self._progress = config.progress

    def expand(self, texts: beam.PCollection) -> beam.PCollection:
        looked = texts | "CacheLookup" >> LookupCache(self._cache, self._buckets, self._label)
        new = looked["miss"] | "Translate" >> Translate(
            self._spec, self._label, batch_size=self._batch, progress=self._progress
        )
        if self._cache is not None:
            _ = new | "CacheStore" >> StoreCache(self._cache, self._buckets)
        return (looked["hit"], new) | "Merge" >> beam.Flatten()


def _join_bt(element: tuple[str, dict[str, list]], lang: str) -> Iterator[tuple[str, bytes]]:
    mt_text, groups = element
    ((bt_text, bt_logprob),) = groups["bt"]  # exactly one back-translation per distinct MT text
    for src in groups["mt"]:
        src_text, mt_logprob = decode_row(src)
        yield src_text, encode_row((lang, mt_text, mt_logprob, bt_text, bt_logprob))


class TranslateLang(beam.PTransform):
    """Unique source texts in; ``(text, encoded (lang, mt text, mt logprob, bt text, bt logprob))`` out for one
    target language."""

    def __init__(self, plan: LangPlan, config: TranslateConfig) -> None:
        super().__init__()
        self._plan = plan
        self._config = config

    def expand(self, texts: beam.PCollection) -> beam.PCollection:
        p, c = self._plan, self._config
        mt = texts | "MT" >> CachedTranslate(p.mt, f"mt_{p.lang}", c)
        bt = (
            mt
            | "MTText" >> beam.Map(lambda kv: kv[1].text)
            | "DistinctMT" >> beam.Distinct()
            | "BackTranslate" >> CachedTranslate(p.bt, f"bt_{p.lang}", c)
        )
        # grouped as compact values (one bytes object, a plain tuple), not Translation objects
        by_tgt = mt | "KeyByMT" >> beam.Map(lambda kv: (kv[1].text, encode_row((kv[0], kv[1].logprob))))
        bt_values = bt | "BTValue" >> beam.Map(lambda kv: (kv[0], (kv[1].text, kv[1].logprob)))
        return (
            {"mt": by_tgt, "bt": bt_values}
            | "JoinBT" >> beam.CoGroupByKey()
            | "EmitJoined" >> beam.FlatMap(_join_bt, p.lang)
        )


class _PairRowsDoFn(beam.DoFn):
    def __init__(self, src_lang: str, refs: dict[str, tuple[str, str]]) -> None:
        self._src = src_lang
        self._refs = refs

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[dict[str, Any]]:
        _, groups = element
        by_lang = {lang: rest for lang, *rest in map(decode_row, groups["tr"])}
        for captions in groups["rows"]:
            for caption in captions:
                row = dict(zip(CAPTION_FIELDS, decode_row(caption), strict=True))
                text = row.pop("text")
                for lang, (mt_text, mt_logprob, bt_text, bt_logprob) in sorted(by_lang.items()):
                    mt_ref, bt_ref = self._refs[lang]
                    yield {
                        "pair_id": pair_id(row["caption_id"], lang),
                        **row,
                        "src_lang": self._src,
                        "src_text": text,
                        "tgt_lang": lang,
                        "tgt_text": mt_text,
                        "bt_text": bt_text,
                        "mt_model": mt_ref,
                        "bt_model": bt_ref,
                        "mt_logprob": _finite(mt_logprob),
                        "bt_logprob": _finite(bt_logprob),
                        "tgt_origin": "mt",
                    }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


class TranslateCaptions(beam.PTransform):
    """Caption file paths in; ``{"pairs": rows, "rejects": rows}`` out (see the module docstring)."""

    def __init__(self, config: TranslateConfig, plans: Sequence[LangPlan], *, partitioned: bool = False) -> None:
        super().__init__()
        self._config = config
        self._plans = list(plans)
        self._partitioned = partitioned

    def expand(self, files: beam.PCollection) -> dict[str, beam.PCollection]:
        c = self._config
        rows = files | "ReadCaptions" >> beam.ParDo(ReadCaptionFile(self._partitioned))
        valid = rows | "Validate" >> beam.ParDo(ValidateDoFn(c.src_lang, c.max_source_chars)).with_outputs(
            ValidateDoFn.REJECT, main="ok"
        )
        deduped = (
            valid.ok
            | "GroupById" >> beam.GroupByKey()
            | "DedupIds" >> beam.ParDo(DedupIdsDoFn()).with_outputs(DedupIdsDoFn.REJECT, main="ok")
        )
        groups = deduped.ok | "GroupByText" >> beam.GroupByKey()
        texts = groups | "UniqueTexts" >> beam.Keys()
        per_lang = [texts | f"Translate[{p.lang}]" >> TranslateLang(p, c) for p in self._plans]
        translations = per_lang | "FlattenLangs" >> beam.Flatten()
        refs = {p.lang: (p.mt.model_ref, p.bt.model_ref) for p in self._plans}
        pairs = (
            {"rows": groups, "tr": translations}
            | "JoinCaptions" >> beam.CoGroupByKey()
            | "PairRows" >> beam.ParDo(_PairRowsDoFn(c.src_lang, refs))
        )
        rejects = (valid[ValidateDoFn.REJECT], deduped[DedupIdsDoFn.REJECT]) | "FlattenRejects" >> beam.Flatten()
        return {"pairs": pairs, "rejects": rejects}


def reject_key(row: dict[str, Any]) -> str:
    """Sort key of a reject row: input order (file, line)."""
    return f"{row['source']}\x00{row['line'] or 0:012d}"


def build_pipeline(
    pipeline: beam.Pipeline,
    config: TranslateConfig,
    plans: Sequence[LangPlan],
    files: Sequence[str],
    num_shards: int,
    *,
    partitioned: bool = False,
) -> None:
    """Add the translate pipeline with its sinks to ``pipeline`` (``partitioned``: ``files`` are a round's caption
    partitions, see :func:`clcm.pipelines.sources.partition_captions`, and the shards are written as sorted runs)."""
    out = (
        pipeline
        | "CaptionFiles" >> beam.Create(list(files))
        | "TranslateCaptions" >> TranslateCaptions(config, plans, partitioned=partitioned)
    )
    # a round writes sorted runs, merged into the shards afterwards
    sink = {"runs": True} if partitioned else {"records": True}
    _ = out["pairs"] | "WritePairs" >> WriteShards(config.out_dir, "pairs", PAIR_SCHEMA, num_shards, pair_key, **sink)
    _ = out["rejects"] | "WriteRejects" >> WriteShards(config.out_dir, "rejects", REJECT_SCHEMA, 1, reject_key, **sink)


def config_record(config: TranslateConfig, plans: Sequence[LangPlan]) -> dict[str, Any]:
    """The resolved config as written to the manifest (models resolved to ``id@revision``)."""
    d = asdict(config)
    d["inputs"] = list(config.inputs)
    d["tgt_langs"] = list(config.tgt_langs)
    d["resolved_models"] = {p.lang: {"mt": p.mt.model_ref, "bt": p.bt.model_ref} for p in plans}
    return d


def metric_counts(result: Any, plans: Sequence[LangPlan]) -> dict[str, Any]:
    """unique / cached / translated / tokens per language and direction, from Beam counters (0 when absent)."""
    from apache_beam.metrics.metric import MetricsFilter

    values: Counter[str] = Counter()
    try:
        for r in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
            values[r.key.metric.name] += r.committed if r.committed is not None else r.attempted
    except Exception:  # noqa: BLE001 - some runners do not report metrics
        return {}
    per: dict[str, Any] = {}
    for p in plans:
        per[p.lang] = {
            d: {k: values[f"{d}_{p.lang}_{k}"] for k in ("unique", "cached", "translated", "tokens")}
            for d in ("mt", "bt")
        }
    return per


def resolve_plans(config: TranslateConfig) -> list[LangPlan]:
    """MT/BT model specs per target language (defaults per pair; local dirs get a content revision)."""
    from clcm.translation.base import local_fingerprint
    from clcm.translation.languages import default_model

    def spec(model: str, src: str, tgt: str) -> ModelSpec:
        s = ModelSpec(
            model,
            src,
            tgt,
            backend=config.backend,
            device=config.device,
            compute_type=config.compute_type,
            settings=config.settings,
            threads=config.threads,
            parallel=config.workers,
        )
        return replace(s, revision=local_fingerprint(model)) if os.path.isdir(model) else s

    plans = []
    for lang in config.tgt_langs:
        mt = config.model or default_model(config.src_lang, lang)
        bt = config.bt_model or config.model or default_model(lang, config.src_lang)
        plans.append(LangPlan(lang, spec(mt, config.src_lang, lang), spec(bt, lang, config.src_lang)))
    return plans


def now() -> float:
    return time.perf_counter()
