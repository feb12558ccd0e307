"""Retrieval metrics (methods.md §4), vectorised and chunked: no per-query Python loops.

Errors are "lower is better" matrices of shape (n_captions, n_visual), as in the NRCCR evaluation (E = -cos).
Ground truth: caption i is relevant to exactly one visual item, ``caption_vis[i]`` (an index into the gallery).
Ranks are 1-based positions of the best-ranked relevant item, counted as 1 + #(strictly smaller errors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

ErrorChunks = Callable[[], Iterator[tuple[int, np.ndarray]]]  # yields (first_row, errors[rows, n_visual])


def cal_error(visual: np.ndarray, captions: np.ndarray) -> np.ndarray:
    """(Nv, D), (Nc, D) -> (Nc, Nv) errors = -cos (rows L2-normalised here)."""
    v = visual / np.linalg.norm(visual, axis=1, keepdims=True)
    c = captions / np.linalg.norm(captions, axis=1, keepdims=True)
    return -(c @ v.T)


def norm_score(errors: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Min-max normalise similarities S = -E globally, returned as errors in [-1, 0] (NRCCR's ``norm_score``)."""
    s = -errors
    lo = float(s.min()) if lo is None else lo
    hi = float(s.max()) if hi is None else hi
    return -(s - lo) / (hi - lo)


def _summary(ranks: np.ndarray) -> dict[str, float]:
    return {
        "r1": float(100.0 * np.mean(ranks <= 1)),
        "r5": float(100.0 * np.mean(ranks <= 5)),
        "r10": float(100.0 * np.mean(ranks <= 10)),
        "medr": float(np.median(ranks)),
        "meanr": float(np.mean(ranks)),
    }


def retrieval_metrics_chunked(
    chunks: ErrorChunks, pair_errors: np.ndarray, caption_vis: np.ndarray, n_visual: int
) -> dict[str, dict[str, float]]:
    """t2v and v2t metrics from errors streamed in row chunks (one pass over ``chunks()``).

    Args:
        chunks: callable returning an iterator of (first_row, errors of those rows) covering all captions in order.
        pair_errors: (Nc,) error of each caption with its own visual item, i.e. ``E[i, caption_vis[i]]``.
        caption_vis: (Nc,) gallery index of each caption's visual item.
        n_visual: gallery size.

    Returns:
        ``{"t2v": {r1, r5, r10, medr, meanr, map}, "v2t": {...}, "sumr": float}``.
    """
    caption_vis = np.asarray(caption_vis, dtype=np.int64)
    n_cap = caption_vis.shape[0]
    # Relevant-caption errors per visual item, padded with NaN (NaN compares False): (Nv, Rmax).
    order = np.argsort(caption_vis, kind="stable")
    counts = np.bincount(caption_vis, minlength=n_visual)
    r_max = int(counts.max()) if n_cap else 0
    slot = np.arange(n_cap) - np.repeat(np.cumsum(counts) - counts, counts)
    rel = np.full((n_visual, r_max), np.nan)
    rel[caption_vis[order], slot] = pair_errors[order]
    t2v_ranks = np.empty(n_cap, dtype=np.int64)
    v2t_counts = np.zeros((n_visual, r_max), dtype=np.int64)
    for start, err in chunks():
        rows = slice(start, start + err.shape[0])
        t2v_ranks[rows] = 1 + (err < pair_errors[rows, None]).sum(1)
        for v0 in range(0, n_visual, 2048):  # bound the (rows, visual, Rmax) temporary
            block = err[:, v0 : v0 + 2048, None] < rel[None, v0 : v0 + 2048, :]
            v2t_counts[v0 : v0 + 2048] += block.sum(0)
    t2v = _summary(t2v_ranks)
    t2v["map"] = float(np.mean(1.0 / t2v_ranks))
    queries = counts > 0
    v2t_ranks_all = np.where(np.isnan(rel), np.iinfo(np.int64).max, v2t_counts + 1)[queries]
    v2t_ranks_all.sort(axis=1)
    v2t = _summary(v2t_ranks_all[:, 0])
    hits = np.arange(1, r_max + 1)[None, :] / v2t_ranks_all  # i-th relevant at rank r_i contributes i / r_i
    hits[v2t_ranks_all == np.iinfo(np.int64).max] = 0.0
    v2t["map"] = float(np.mean(hits.sum(1) / counts[queries]))
    sumr = t2v["r1"] + t2v["r5"] + t2v["r10"] + v2t["r1"] + v2t["r5"] + v2t["r10"]
    return {"t2v": t2v, "v2t": v2t, "sumr": float(sumr)}


def retrieval_metrics(
    errors: np.ndarray, caption_vis: np.ndarray, *, chunk: int = 1024
) -> dict[str, dict[str, float]]:
    """t2v/v2t metrics of a full (Nc, Nv) error matrix (see :func:`retrieval_metrics_chunked`)."""
    caption_vis = np.asarray(caption_vis, dtype=np.int64)
    pair_errors = errors[np.arange(errors.shape[0]), caption_vis]

    def chunks() -> Iterator[tuple[int, np.ndarray]]:
        for i in range(0, errors.shape[0], chunk):
            yield i, errors[i : i + chunk]

    return retrieval_metrics_chunked(chunks, pair_errors, caption_vis, errors.shape[1])


def gallery_index(caption_media: list[str], visual_ids: list[str]) -> np.ndarray:
    """Gallery index of each caption's media id; KeyError-free: unknown ids raise ValueError with a count."""
    pos = {v: i for i, v in enumerate(visual_ids)}
    missing = [m for m in caption_media if m not in pos]
    if missing:
        raise ValueError(f"{len(missing)} caption(s) refer to media ids not in the gallery, e.g. {missing[:3]}")
    return np.fromiter((pos[m] for m in caption_media), dtype=np.int64, count=len(caption_media))


def round_floats(value: object, digits: int = 5) -> object:
    """``value`` with every float (in nested dicts/lists/tuples, numpy scalars too) rounded to ``digits``
    significant digits, for JSON written to disk: ``7.988165680473373`` -> ``7.9882``, ``4.7549502e-4`` ->
    ``0.0004755``. Integers, strings, None, NaN and infinities are left as they are."""
    if isinstance(value, dict):
        return {k: round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [round_floats(v, digits) for v in value]
    if isinstance(value, float | np.floating) and np.isfinite(value):
        return float(f"{float(value):.{digits}g}")
    if isinstance(value, np.integer):
        return int(value)
    return value
