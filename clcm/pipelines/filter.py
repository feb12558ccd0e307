"""Filter stage: re-threshold persisted scores (never re-scores) into kept / dropped shards, a report and plots.

Flow: read ``scored/`` shards (Arrow, column-wise) -> :func:`clcm.filtering.selection.select` over the whole
corpus (keep-fraction and per-media rules are global decisions) -> for every input shard, a ``kept/kept-*`` and a
``dropped/dropped-*`` shard with ``keep``, ``reject_reason`` and ``nrf_selected`` set -> ``report.json``, PNG plots and
``_manifest.json`` (``scored == kept + sum(dropped)``). This stage is a single pass of vectorised Arrow/numpy work
and needs no Beam. An empty kept set is a logged warning (exit code 0), not an error: the dropped shards and the
report say why every pair went.

Every path may be an object-store URL: files go through :mod:`clcm.storage`. The input records of the manifest take
each scored shard's sha256 from the score stage's manifest (the writer hashed the bytes it wrote) instead of
hashing it again (:func:`clcm.schemas.manifest.input_records`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from clcm import storage
from clcm.configs import check_config
from clcm.errors import InputError, UsageError
from clcm.filtering.report import build_report, write_plots, write_report
from clcm.filtering.selection import SelectionConfig, select
from clcm.schemas import Manifest, input_records, layout, write_manifest
from clcm.schemas.io import SchemaError, check_writable_dir, read_table, write_table
from clcm.schemas.tables import score_column, score_names_of, scored_pair_schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FilterConfig:
    """Settings of ``clcm-data filter``.

    Args:
        scored: the ``clcm-data score`` output directory (its ``scored/`` shards), a shard directory, a scored
            file or a glob.
        out_dir: output directory.
        selection: the selection rules.
        plots: write the PNG plots.
    """

    scored: str
    out_dir: str
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    plots: bool = True

    def __post_init__(self) -> None:
        check_config(self)


def _scored_files(path: str) -> list[str]:
    try:
        return layout.input_files(path, layout.SCORED_INPUTS, what="scored shards")
    except InputError as exc:
        raise InputError(f"{exc}; run `clcm-data score` first") from None


def read_scored(path: str, files: list[str] | None = None) -> tuple[list[pa.Table], list[str]]:
    """The scored shards of ``path`` (``files``: its shards, if already listed; one table per shard, cast to one
    schema) and their scorer names."""
    files = _scored_files(path) if files is None else files
    tables = []
    names: list[str] | None = None
    for f in files:
        try:
            t = read_table(f)
        except SchemaError as exc:
            raise InputError(str(exc)) from exc
        if "noise_score" not in t.schema.names:
            raise InputError(f"{f} is not a scored table (no noise_score column)")
        n = score_names_of(t.schema)
        if names is not None and n != names:
            raise InputError(f"{f} has score columns {n}, other shards have {names}")
        names = n
        tables.append(t.cast(scored_pair_schema(n)))
    return tables, names or []


def stated_clean_rejection(scored: str, threshold: float | None) -> dict[str, Any] | None:
    """The score stage's estimate of the share of clean pairs with noise_score above ``threshold`` (None: no
    threshold or no combiner in the score stage's ``models/``)."""
    from clcm.filtering.combiner import FILE_NAME, Combiner

    if threshold is None:
        return None
    base = scored if storage.is_dir(scored) else storage.parent(scored)
    candidates = [layout.model_path(d, FILE_NAME) for d in (base, storage.parent(base))]
    path = next((c for c in [*candidates, storage.join(base, FILE_NAME)] if storage.is_file(c)), None)
    if path is None:
        return None
    try:
        rate = Combiner.load(path).expected_clean_rejection(threshold)
    except (ValueError, TypeError, KeyError):  # a combiner of an older version: no calibration table
        return None
    return None if rate is None else {"threshold": threshold, "rate": rate, "source": storage.basename(path),
            "note": "estimated by the score stage on its held-out corpus sample, the sample's own noise removed; "
                    "among the pairs the hard rules keep"}  # fmt: skip


def run(config: FilterConfig) -> Manifest:
    """Filter ``config.scored`` into ``config.out_dir``; returns the written manifest."""
    start = time.perf_counter()
    files = _scored_files(config.scored)
    tables, names = read_scored(config.scored, files)
    sel_cfg = config.selection
    missing = [r for r in sel_cfg.rules if r not in names]  # default rules on absent columns are just not applied
    if missing:
        raise UsageError(f"hard rule on scorer(s) {missing} but the scored shards only have {names}")
    if sel_cfg.keep_fraction is not None and not 0 < sel_cfg.keep_fraction <= 1:
        raise UsageError(f"--keep-fraction must be in (0, 1], got {sel_cfg.keep_fraction}")
    out = config.out_dir
    check_writable_dir(out, "output directory")
    whole = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    noise = whole.column("noise_score").to_numpy(zero_copy_only=False).astype(np.float64)
    scores = {n: whole.column(score_column(n)).to_numpy(zero_copy_only=False).astype(np.float64) for n in names}
    media = whole.column("media_id").to_pylist()
    sel = select(noise, scores, media, sel_cfg)

    schema = tables[0].schema
    shards, offset = [], 0
    for kind in (layout.KEPT, layout.DROPPED):  # a re-run must not mix old shards in
        storage.delete(storage.match(layout.shard_pattern(out, kind)))
    for i, t in enumerate(tables):
        rows = slice(offset, offset + t.num_rows)
        offset += t.num_rows
        keep = sel.keep[rows]
        t = t.set_column(t.schema.get_field_index("keep"), "keep", pa.array(keep, pa.bool_()))
        t = t.set_column(t.schema.get_field_index("reject_reason"), "reject_reason",
                         pa.array(sel.reason[rows], pa.string()))  # fmt: skip
        t = t.set_column(t.schema.get_field_index("nrf_selected"), "nrf_selected",
                         pa.array(sel.nrf_selected[rows], pa.bool_()))  # fmt: skip
        for kind, mask in ((layout.KEPT, keep), (layout.DROPPED, ~keep)):
            rec = write_table(t.filter(pa.array(mask)), layout.shard_path(out, kind, i, len(tables)), schema)
            shards.append(rec | {"name": layout.shard_record_name(kind, rec["name"]), "table": f"scored_pairs/{kind}"})

    thresholds = {score_column(k): v for k, v in sel.rule_thresholds.items()}
    if sel_cfg.threshold is not None:
        thresholds["noise_score"] = sel_cfg.threshold
    plot_scores = {"noise_score": noise, **{score_column(n): v for n, v in scores.items()}}
    examples = {c: whole.column(c).to_pylist() for c in ("pair_id", "src_text", "tgt_text")}
    cfg = asdict(config) | {"selection": asdict(sel_cfg) | {"rules": dict(sel_cfg.rules)}}
    report = build_report(keep=sel.keep, reason=sel.reason, nrf_selected=sel.nrf_selected, scores=plot_scores,
                          thresholds=thresholds, examples=examples, config=cfg["selection"],
                          clean_rejection=stated_clean_rejection(config.scored, sel_cfg.threshold),
                          rescued=sel.rescued)  # fmt: skip
    plots = write_plots(out, plot_scores, thresholds, report) if config.plots else []
    write_report(out, report)
    if report["kept"] == 0:
        log.warning("filter kept none of %d pairs (dropped: %s); loosen --threshold/--keep-fraction or the rules",
                    report["scored"], report["dropped"])  # fmt: skip
    manifest = Manifest(
        command="filter",
        config=cfg,
        counts={
            "scored": report["scored"],
            "kept": report["kept"],
            "dropped": report["dropped"],
            "nrf_selected": report["nrf_selected"],
            "kept_by_min_per_media": report["kept_by_min_per_media"],
        },  # fmt: skip
        inputs=input_records(files),
        shards=shards,
        timings={"filter": round(time.perf_counter() - start, 3)},
        extra={"report": "report.json", "plots": plots, "keep_rate": report["keep_rate"]},
    )
    write_manifest(out, manifest)
    log.debug("kept %d of %d pairs -> %s", report["kept"], report["scored"], out)  # the CLI prints the summary
    return manifest


def describe(manifest: Manifest) -> dict[str, Any]:
    """One-line summary for the CLI."""
    c = manifest.counts
    keys = ("scored", "kept", "kept_by_min_per_media", "dropped", "nrf_selected")
    return {k: c[k] for k in keys if k in c}
