"""Evaluation: embed the gallery and the queries with an objective, score them (fused over query views for
NRCCR, methods.md §1.5) in row chunks, and compute the §4 metrics without per-query Python loops.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from clcm.training.metrics import gallery_index, retrieval_metrics_chunked


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def view_weights(views: tuple[str, ...], available: set[str], fusion_weight: float) -> dict[str, float]:
    """Weights per query view: ``mt_en`` gets ``fusion_weight``, ``tgt`` the rest; absent views are dropped."""
    if "mt_en" in views and "mt_en" in available and fusion_weight > 0:
        return {"mt_en": 1.0} if fusion_weight >= 1 else {"mt_en": fusion_weight, "tgt": 1.0 - fusion_weight}
    return {"tgt": 1.0}


def score_embeddings(
    visual: np.ndarray,
    queries: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    caption_vis: np.ndarray,
    *,
    chunk: int = 2048,
) -> dict[str, Any]:
    """Metrics of (fused) errors between query embeddings and gallery embeddings, computed chunk by chunk.

    Args:
        visual: (Nv, d) gallery embeddings.
        queries: view -> (Nc, d) query embeddings (rows aligned across views).
        weights: view -> fusion weight. One view: errors are -cos. Several: min-max normalised errors are summed.
        caption_vis: (Nc,) gallery index of each query's visual item.
        chunk: query rows per chunk (bounds memory to chunk x Nv).
    """
    visual = _normalise(np.asarray(visual, dtype=np.float32))
    q = {k: _normalise(np.asarray(queries[k], dtype=np.float32)) for k in weights}
    n_cap = next(iter(q.values())).shape[0]
    fused = len(weights) > 1
    # Pass 1: each view's similarity at the (caption, own item) pairs and its global min/max, taken from the same
    # chunked products as pass 2 so that a pair compares equal to itself there.
    pair_sims = {k: np.empty(n_cap, dtype=np.float32) for k in q}
    bounds: dict[str, tuple[float, float]] = {}
    for k, emb in q.items():
        lo, hi = np.inf, -np.inf
        for i in range(0, n_cap, chunk):
            s = emb[i : i + chunk] @ visual.T
            pair_sims[k][i : i + chunk] = s[np.arange(s.shape[0]), caption_vis[i : i + chunk]]
            lo, hi = min(lo, float(s.min())), max(hi, float(s.max()))
        bounds[k] = (lo, hi)

    def errors_of(sims: Mapping[str, np.ndarray]) -> np.ndarray:
        if not fused:
            return -sims[next(iter(sims))]
        out = 0.0
        for k, s in sims.items():
            lo, hi = bounds[k]
            out = out + weights[k] * (-(s - lo) / (hi - lo))
        return np.asarray(out)

    pair = errors_of(pair_sims)

    def chunks() -> Iterator[tuple[int, np.ndarray]]:
        for i in range(0, n_cap, chunk):
            yield i, errors_of({k: emb[i : i + chunk] @ visual.T for k, emb in q.items()})

    return retrieval_metrics_chunked(chunks, pair, caption_vis, visual.shape[0])


def embed_gallery(objective: Any, store: Any, media_ids: list[str], *, batch_size: int, device: Any, max_frames: int):
    """(Nv, d) numpy embeddings of the gallery items."""
    import torch

    from clcm.training.data import stack_visual

    out = []
    with torch.no_grad():
        for i in range(0, len(media_ids), batch_size):
            visual, mask = stack_visual(store, media_ids[i : i + batch_size], max_frames)
            mask = mask.to(device) if mask is not None else None
            out.append(objective.encode_visual(visual.to(device), mask).float().cpu().numpy())
    return np.concatenate(out)


def embed_texts(
    objective: Any,
    tokenize: Any,
    texts: list[str],
    view: str,
    *,
    batch_size: int,
    device: Any,
    clean_english: bool = False,
):
    """(N, d) numpy embeddings of texts through ``objective.encode_text(tokens, view)``.

    ``clean_english`` applies NRCCR's English clean-up to the ``mt_en`` view: the reference's video loader does,
    its image loader feeds that view raw (methods.md §1.1).
    """
    import torch

    out = []
    order = np.argsort([len(t) for t in texts], kind="stable")  # length-sorted batches pad less
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            tokens = tokenize([texts[j] for j in idx], english=clean_english and view == "mt_en")
            tokens = {k: v.to(device) for k, v in tokens.items()}
            out.append(objective.encode_text(tokens, view).float().cpu().numpy())
    emb = np.concatenate(out)
    result = np.empty_like(emb)
    result[order] = emb
    return result


FUSION_SWEEP = (1.0, 0.8, 0.5, 0.2, 0.0)  # the weights NRCCR's video tester reports in one run


def evaluate(
    objective: Any,
    tokenize: Any,
    store: Any,
    queries: Any,
    *,
    fusion_weight: float,
    device: Any,
    batch_size: int = 256,
    max_frames: int = 64,
    sweep: Sequence[float] = (),
    clean_mt_en: bool | None = None,
) -> dict[str, Any]:
    """Evaluate ``objective`` on a QueryData set against the gallery of its unique media ids (first-seen order).

    Args:
        fusion_weight: weight of the ``mt_en`` view in the headline metrics (methods.md §1.5).
        sweep: further fusion weights to score from the same embeddings, reported under ``fusion_sweep``
            (only when the method fuses two views).
        clean_mt_en: clean the ``mt_en`` queries as English; None = as the reference does (video only).
    """
    was_training = objective.training
    objective.eval()
    if clean_mt_en is None:
        clean_mt_en = bool(store.is_frames)
    try:
        gallery = list(dict.fromkeys(queries.media_ids))
        store.check(gallery, "the evaluation queries")
        vis = embed_gallery(objective, store, gallery, batch_size=batch_size, device=device, max_frames=max_frames)
        views, available = objective.query_views(), set(queries.views)
        weights = view_weights(views, available, fusion_weight)
        sweep_weights = {w: view_weights(views, available, w) for w in sweep}
        needed = dict.fromkeys([*weights, *(k for ws in sweep_weights.values() for k in ws)])
        opts = {"batch_size": batch_size, "device": device, "clean_english": clean_mt_en}
        q = {k: embed_texts(objective, tokenize, queries.views[k], k, **opts) for k in needed}
        caption_vis = gallery_index(queries.media_ids, gallery)
        metrics = score_embeddings(vis, {k: q[k] for k in weights}, weights, caption_vis)
        if len(needed) > 1:
            metrics["fusion_sweep"] = {
                str(w): score_embeddings(vis, {k: q[k] for k in ws}, ws, caption_vis)
                for w, ws in sweep_weights.items()
            }
    finally:
        objective.train(was_training)
    metrics["views"] = weights
    metrics["n_queries"], metrics["n_gallery"] = len(queries.media_ids), len(gallery)
    return metrics


def evaluate_checkpoint(
    path: str,
    queries_path: str,
    features: str,
    *,
    fusion_weight: float | None = None,
    sweep: Sequence[float] = FUSION_SWEEP,
    tgt_lang: str | None = None,
    split: str | None = None,
    device: str = "auto",
    batch_size: int = 256,
) -> dict[str, Any]:
    """Metrics of a saved checkpoint on a query set.

    The headline metrics use ``fusion_weight`` (None = the checkpoint config's ``test_fusion_weight``: 0.5 for
    NRCCR, as its image tester); every weight of ``sweep`` is reported too, as the reference's video tester does.
    """
    from clcm.training import checkpoint
    from clcm.training.config import TrainConfig
    from clcm.training.data import load_queries
    from clcm.training.features import load_features
    from clcm.training.runtime import load_tokenizer, make_tokenize, resolve_device

    ckpt = checkpoint.load(path)
    dev = resolve_device(device)
    cfg = TrainConfig(**{k: v for k, v in ckpt["config"].items() if k in TrainConfig.__dataclass_fields__})
    if fusion_weight is None:
        fusion_weight = cfg.test_fusion_weight if cfg.test_fusion_weight is not None else 0.5
    objective = checkpoint.rebuild(ckpt, dev)
    tokenizer, _ = load_tokenizer(ckpt["context"]["text_model"])
    store = load_features(features)
    queries = load_queries(queries_path, tgt_lang or cfg.tgt_lang, split)
    metrics = evaluate(
        objective,
        make_tokenize(cfg, tokenizer),
        store,
        queries,
        fusion_weight=fusion_weight,
        device=dev,
        batch_size=batch_size,
        max_frames=cfg.max_frames,
        sweep=sweep,
    )
    metrics["fusion_weight"] = fusion_weight
    metrics["checkpoint"] = str(path)
    metrics["epoch"] = ckpt["epoch"]
    return metrics
