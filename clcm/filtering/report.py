"""Filter report: ``report.json`` (counts per reason, keep rate, score quantiles, dropped examples) and PNG plots.

Plots (matplotlib, Agg backend, no display needed): ``hist_<score>.png`` per score column with its threshold
line, and ``reasons.png`` (share of pairs per outcome: kept and each drop reason). Both are written through
:mod:`clcm.storage` (rendered in memory), so the output directory may be an object-store URL.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from clcm import storage
from clcm.schemas.paths import inside, name_problem

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
EXAMPLES_PER_REASON = 5
log = logging.getLogger(__name__)


def quantiles(x: np.ndarray) -> dict[str, float | None]:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not len(x):
        return {f"q{int(q * 100):02d}": None for q in QUANTILES}
    return {
        f"q{int(q * 100):02d}": round(float(v), 5) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES), strict=True)
    }


def build_report(
    *,
    keep: np.ndarray,
    reason: Sequence[str | None],
    nrf_selected: np.ndarray,
    scores: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float],
    examples: Mapping[str, Sequence[Any]],
    config: Mapping[str, Any],
    clean_rejection: Mapping[str, Any] | None = None,
    rescued: np.ndarray | None = None,
) -> dict[str, Any]:
    """The report as a dict.

    Args:
        keep, reason, nrf_selected: the selection.
        rescued: pairs kept by ``min_per_media`` although their score would drop them (counted in ``kept``
            and, separately, in ``kept_by_min_per_media``).
        scores: column name (``noise_score``, ``score_<name>``) -> values.
        thresholds: column name -> threshold used (hard rules and noise_score).
        examples: ``pair_id``, ``src_text``, ``tgt_text`` per pair (dropped examples are sampled from them).
        config: the selection settings (echoed).
        clean_rejection: the expected share of clean pairs the noise_score threshold drops (from the combiner).
    """
    n = len(keep)
    dropped = Counter(r for r in reason if r is not None)
    samples: dict[str, list[dict[str, Any]]] = {}
    for i, r in enumerate(reason):
        if r is not None and len(samples.setdefault(r, [])) < EXAMPLES_PER_REASON:
            ex = {k: v[i] for k, v in examples.items()}
            ex["noise_score"] = None if not np.isfinite(scores["noise_score"][i]) else float(scores["noise_score"][i])
            samples[r].append(ex)
    return {
        "scored": n,
        "kept": int(keep.sum()),
        "kept_by_min_per_media": int(rescued.sum()) if rescued is not None else 0,
        "dropped": dict(sorted(dropped.items())),
        "keep_rate": round(float(keep.mean()), 5) if n else None,
        "nrf_selected": int(nrf_selected.sum()),
        "thresholds": dict(thresholds),
        "expected_clean_rejection": dict(clean_rejection) if clean_rejection else None,
        "score_quantiles": {k: quantiles(v) for k, v in scores.items()},
        "dropped_examples": samples,
        "config": dict(config),
    }


def _save_figure(fig: Any, path: str | os.PathLike) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    storage.write_bytes(path, buf.getvalue())


def write_plots(
    out_dir: str | os.PathLike,
    scores: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float],
    report: Mapping[str, Any],
) -> list[str]:
    """Write the PNG plots; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = os.fspath(out_dir)
    names = []
    for col, values in scores.items():
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.hist(v, bins=50, color="#4c72b0")
        if col in thresholds:
            ax.axvline(thresholds[col], color="#c44e52", linestyle="--", label=f"threshold {thresholds[col]:g}")
            ax.legend()
        ax.set(title=col, xlabel="score", ylabel="pairs")
        fig.tight_layout()
        name = f"hist_{col}.png"
        if name_problem(name):  # score columns come from the input shards: never a path
            log.warning("no histogram for score column %r: not a safe file name", col)
            plt.close(fig)
            continue
        _save_figure(fig, inside(out, name))
        plt.close(fig)
        names.append(name)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    rescued = report.get("kept_by_min_per_media", 0)
    labels = ["kept", *(["kept by min-per-media"] if rescued else []), *report["dropped"]]
    counts = [report["kept"] - rescued, *([rescued] if rescued else []), *report["dropped"].values()]
    colours = ["#55a868", *(["#dd8452"] if rescued else []), *["#c44e52"] * len(report["dropped"])]
    total = max(report["scored"], 1)
    ax.barh(labels, [c / total for c in counts], color=colours)
    ax.set(title=f"outcome of {report['scored']} pairs", xlabel="share of pairs", xlim=(0, 1))
    fig.tight_layout()
    _save_figure(fig, inside(out, "reasons.png"))
    plt.close(fig)
    names.append("reasons.png")
    return names


def write_report(out_dir: str | os.PathLike, report: Mapping[str, Any]) -> os.PathLike | str:
    from clcm.schemas.io import write_text_atomic

    path = inside(out_dir, "report.json")
    write_text_atomic(path, json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    return path
