"""Micro-benchmark: chunked retrieval evaluation of a 5,000-item gallery x 25,000 captions (5 per item).

Prints JSON: seconds for single-view and NRCCR fused two-view scoring, and the split between similarity products
and rank computation. Usage: ``python benchmarks/evaluation.py [--visual 5000] [--per-item 5] [--dim 512]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from clcm.training.evaluation import score_embeddings
from clcm.training.metrics import retrieval_metrics


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--visual", type=int, default=5000)
    ap.add_argument("--per-item", type=int, default=5)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--chunk", type=int, default=2048)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    vis = rng.standard_normal((args.visual, args.dim), dtype=np.float32)
    cap_vis = np.repeat(np.arange(args.visual), args.per_item)
    q1 = rng.standard_normal((cap_vis.size, args.dim), dtype=np.float32) + 0.2 * vis[cap_vis]
    q2 = rng.standard_normal((cap_vis.size, args.dim), dtype=np.float32) + 0.2 * vis[cap_vis]
    out: dict[str, object] = {
        "n_visual": args.visual,
        "n_captions": int(cap_vis.size),
        "dim": args.dim,
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
    }
    t0 = time.perf_counter()
    single = score_embeddings(vis, {"tgt": q1}, {"tgt": 1.0}, cap_vis, chunk=args.chunk)
    out["single_view_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    fused = score_embeddings(vis, {"mt_en": q1, "tgt": q2}, {"mt_en": 0.5, "tgt": 0.5}, cap_vis, chunk=args.chunk)
    out["fused_two_view_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    errors = -(q1 @ vis.T)  # the full matrix, to split the cost between products and ranking
    out["one_full_product_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    retrieval_metrics(errors, cap_vis, chunk=args.chunk)
    out["ranking_only_s"] = round(time.perf_counter() - t0, 3)
    out["single_view_sumr"] = round(single["sumr"], 2)
    out["fused_sumr"] = round(fused["sumr"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
