"""Threshold vs retrieval: train the same model on several selections of one scored corpus, plot SumR vs keep rate.

A filter threshold trades data for cleanliness; the metric a user cares about is retrieval, not noise recall. The
sweep selects, for every point, the pairs with the lowest ``noise_score`` via
:func:`clcm.filtering.selection.select`: a keep fraction F keeps the best F by ``noise_score`` alone (F = 1: every
pair), a threshold T keeps exactly what ``clcm-data filter --threshold T`` keeps (its default hard rules too). It
trains one model per point through the trainer's public entry point (:func:`clcm.training.trainer.train`) on the
**same budget** — the same number of optimiser steps, so a smaller selection gets more epochs — and records the best
validation SumR (and test SumR when test queries are given).
Output: ``sweep.json`` (one row per point), ``sweep.png`` (SumR against keep rate, each point labelled with its
noise_score cut-off) and ``_manifest.json``; each point's pairs and model stay in ``points/<label>/``.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from clcm import storage
from clcm.errors import UsageError
from clcm.filtering.selection import SelectionConfig, select
from clcm.schemas import MANIFEST_NAME, Manifest, input_records, layout, write_manifest, write_table
from clcm.schemas.io import file_sha256, write_text_atomic
from clcm.schemas.tables import score_column

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepConfig:
    """Settings of ``clcm-train sweep``.

    Args:
        scored: scored pair shards (the ``score`` stage's output directory, or one scored file).
        out_dir: output directory.
        train: the base training config; ``shards``, ``out_dir``, ``epochs`` and ``max_steps_per_epoch`` are set
            per point, and ``keep_column`` is ignored (the sweep decides what is kept).
        keep_fractions: keep the best F of the pairs by noise_score, one point per F (1 = every pair).
        thresholds: keep what ``clcm-data filter --threshold T`` keeps (noise_score <= T, default hard rules).
        budget_steps: optimiser steps per point; None = ``train.epochs`` epochs over the largest selection.
        test: test queries; each point's best model is evaluated on them too.
    """

    scored: str
    out_dir: str
    train: Any  # clcm.training.config.TrainConfig (imported lazily: torch)
    keep_fractions: tuple[float, ...] = (1.0, 0.8, 0.6, 0.4)
    thresholds: tuple[float, ...] = ()
    budget_steps: int | None = None
    test: str | None = None

    def points(self) -> list[tuple[str, SelectionConfig]]:
        """(label, selection) per sweep point, keep fractions first, in the order given."""
        for f in self.keep_fractions:
            if not 0 < f <= 1:
                raise UsageError(f"keep fractions must be in (0, 1], got {f}")
        if not self.keep_fractions and not self.thresholds:
            raise UsageError("the sweep needs at least one keep fraction or threshold")
        # keep fractions rank by noise_score alone (keep 1 = every pair); thresholds add the filter's default rules
        points = [(f"keep-{f:g}", SelectionConfig(threshold=None, keep_fraction=f, default_rules=False))
                  for f in self.keep_fractions]  # fmt: skip
        points += [(f"threshold-{t:g}", SelectionConfig(threshold=t)) for t in self.thresholds]
        labels = [p[0] for p in points]
        if len(set(labels)) != len(labels):
            raise UsageError(f"the sweep points repeat: {labels}")
        return points


def _headline(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    if not metrics:
        return None
    t2v, v2t = metrics["t2v"], metrics["v2t"]
    return {
        "sumr": round(float(metrics["sumr"]), 2),
        **{f"t2v_{k}": round(float(t2v[k]), 2) for k in ("r1", "r5", "r10")},
        **{f"v2t_{k}": round(float(v2t[k]), 2) for k in ("r1", "r5", "r10")},
    }


def _epochs(cfg: Any) -> int:
    """The epochs a train config runs: its own, else its objective's default, else the common one (50)."""
    from clcm.training.config import COMMON_DEFAULTS
    from clcm.training.objectives import objective_class

    if cfg.epochs is not None:
        return int(cfg.epochs)
    return int(objective_class(cfg.objective).train_defaults.get("epochs", COMMON_DEFAULTS["epochs"]))


def run(config: SweepConfig) -> dict[str, Any]:
    """Run the sweep; returns the ``sweep.json`` document."""
    from clcm.pipelines.filter import read_scored
    from clcm.training.evaluation import evaluate_checkpoint
    from clcm.training.trainer import train

    start = time.perf_counter()
    points = config.points()
    tables, names = read_scored(config.scored)
    whole = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    schema = tables[0].schema
    noise = whole.column("noise_score").to_numpy(zero_copy_only=False).astype(np.float64)
    scores = {n: whole.column(score_column(n)).to_numpy(zero_copy_only=False).astype(np.float64) for n in names}
    media = whole.column("media_id").to_pylist()
    out = config.out_dir  # a local path or URL
    storage.makedirs(out)
    keeps = {label: select(noise, scores, media, sel).keep for label, sel in points}  # the filter's rules too
    batch = config.train.batch_size
    steps_per_epoch = {label: math.ceil(int(k.sum()) / batch) for label, k in keeps.items()}
    budget = config.budget_steps or _epochs(config.train) * max(steps_per_epoch.values())
    rows = []
    for label, sel in points:
        keep = keeps[label]
        if not keep.any():
            log.warning("sweep point %s keeps no pairs; skipped", label)
            rows.append({"point": label, "pairs": 0, "keep_rate": 0.0, "skipped": "no pairs kept"})
            continue
        point_dir = storage.join(out, "points", label)
        kept = whole.filter(pa.array(keep)).set_column(
            schema.get_field_index("keep"), "keep", pa.array(np.ones(int(keep.sum()), dtype=bool))
        )
        write_table(kept, storage.join(point_dir, "pairs.parquet"), schema)
        epochs = math.ceil(budget / steps_per_epoch[label])
        cfg = config.train.replace(
            shards=storage.join(point_dir, "pairs.parquet"),
            out_dir=storage.join(point_dir, "model"),
            epochs=epochs,
            max_steps_per_epoch=math.ceil(budget / epochs),
            keep_column=None,
        )
        log.info("sweep point %s: %d pairs, %d epochs", label, int(keep.sum()), epochs)
        t0 = time.perf_counter()
        summary = train(cfg)
        best = summary["best"] or {}
        row = {
            "point": label,
            "keep_fraction": sel.keep_fraction,
            "threshold": sel.threshold,
            "pairs": int(keep.sum()),
            "keep_rate": round(float(keep.mean()), 4),
            "max_noise_score": round(float(noise[keep].max()), 4),
            "epochs": epochs,
            "steps": summary["steps"],
            "best_epoch": best.get("epoch"),
            "val": _headline(best.get("val")),
            "train_s": round(time.perf_counter() - t0, 1),
        }
        best_ckpt = storage.join(cfg.out_dir, "model_best.pt")
        if config.test and storage.is_file(best_ckpt):
            test = evaluate_checkpoint(best_ckpt, config.test, cfg.features, tgt_lang=cfg.tgt_lang,
                                       device=cfg.device)  # fmt: skip
            row["test"] = _headline(test)
        rows.append(row)
    result = {"scored": config.scored, "pairs": len(noise), "budget_steps": budget, "points": rows}
    write_text_atomic(storage.join(out, "sweep.json"), json.dumps(result, indent=2) + "\n")
    plot(storage.join(out, "sweep.png"), rows, config.train.objective)
    manifest = Manifest(
        command="sweep",
        config={**asdict(config), "train": asdict(config.train)},
        counts={"pairs": len(noise), "points": len(rows)},
        inputs=input_records(layout.input_files(config.scored, layout.SCORED_INPUTS)),  # recorded by score
        timings={"sweep": round(time.perf_counter() - start, 1)},
        extra={"results": "sweep.json", "plot": "sweep.png", "lineage": _scored_manifest(config.scored)},
    )
    write_manifest(out, manifest)
    return result


def _scored_manifest(scored: str) -> dict[str, Any] | None:
    path = storage.join(scored, MANIFEST_NAME)
    if not storage.is_file(path):
        return None
    return {"manifest": path, "sha256": file_sha256(path)}


def plot(path: str | os.PathLike, rows: list[dict[str, Any]], objective: str) -> None:
    """SumR against keep rate: validation (and test) per point, each labelled with its noise_score cut-off."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = sorted((r for r in rows if r.get("val")), key=lambda r: r["keep_rate"])
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for split, colour in (("val", "#4c72b0"), ("test", "#dd8452")):
        pts = [(r["keep_rate"], r[split]["sumr"]) for r in done if r.get(split)]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", color=colour, label=f"{split} SumR")
    for r in done:
        ax.annotate(f"≤{r['max_noise_score']:.2f}", (r["keep_rate"], r["val"]["sumr"]), textcoords="offset points",
                    xytext=(0, 7), ha="center", fontsize=8)  # fmt: skip
    ax.set(xlabel="keep rate (share of pairs kept, lowest noise_score first)", ylabel="SumR",
           title=f"{objective}: retrieval vs filter keep rate (same steps per point)")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    png = io.BytesIO()  # rendered in memory, written through storage (local or URL)
    fig.savefig(png, format="png", dpi=100)
    plt.close(fig)
    storage.write_bytes(path, png.getvalue())


__all__ = ["SweepConfig", "plot", "run"]
