"""Chunked, fused evaluation equals the full-matrix metrics; view weighting follows NRCCR's sim_ratio."""

from __future__ import annotations

import numpy as np
import pytest

from clcm.training.evaluation import score_embeddings, view_weights
from clcm.training.metrics import cal_error, norm_score, retrieval_metrics


def _emb(seed: int):
    rng = np.random.default_rng(seed)
    vis = rng.standard_normal((30, 8))
    cap_vis = np.repeat(np.arange(30), 3)
    q1 = rng.standard_normal((90, 8)) + vis[cap_vis]
    q2 = rng.standard_normal((90, 8)) + 0.5 * vis[cap_vis]
    return vis, q1, q2, cap_vis


@pytest.mark.parametrize("w", [0.0, 0.2, 0.5, 1.0])
def test_chunked_fused_scoring_equals_full_matrix(w):
    vis, q_en, q_tgt, cap_vis = _emb(3)
    weights = view_weights(("tgt", "mt_en"), {"tgt", "mt_en"}, w)
    got = score_embeddings(vis, {"mt_en": q_en, "tgt": q_tgt}, weights, cap_vis, chunk=13)
    if w in (0.0, 1.0):
        full = cal_error(vis, q_en if w == 1.0 else q_tgt)
    else:
        full = w * norm_score(cal_error(vis, q_en)) + (1 - w) * norm_score(cal_error(vis, q_tgt))
    want = retrieval_metrics(full, cap_vis)
    for d in ("t2v", "v2t"):
        for k, v in want[d].items():
            assert got[d][k] == pytest.approx(v, rel=1e-5), (d, k)


def test_view_weights():
    assert view_weights(("tgt",), {"tgt", "mt_en"}, 0.5) == {"tgt": 1.0}
    assert view_weights(("tgt", "mt_en"), {"tgt"}, 0.5) == {"tgt": 1.0}
    assert view_weights(("tgt", "mt_en"), {"tgt", "mt_en"}, 0.2) == {"mt_en": 0.2, "tgt": 0.8}
