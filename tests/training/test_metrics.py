"""Golden values of methods.md §6 (seed 2) for the retrieval metrics, plus a naive-loop cross-check."""

from __future__ import annotations

import numpy as np
import pytest

from clcm.training.metrics import cal_error, gallery_index, norm_score, retrieval_metrics

GOLDEN = {
    1.0: ([44, 84, 100, 2, 2.58], [60, 100, 100, 1, 1.6], 0.6262619047619047, 0.48879057433102224),
    0.5: ([52, 94, 100, 1, 2.16], [100, 100, 100, 1, 1.0], 0.6968571428571428, 0.5836045661900925),
    0.2: ([40, 86, 100, 2, 2.74], [60, 100, 100, 1, 1.6], 0.6044126984126984, 0.44868901688768137),
}


def _inputs():
    rng = np.random.default_rng(2)
    vis = rng.standard_normal((10, 12))
    cap = rng.standard_normal((50, 12))
    cap2 = rng.standard_normal((50, 12))
    cap = cap + 0.5 * np.repeat(vis, 5, axis=0)
    cap2 = cap2 + 0.3 * np.repeat(vis, 5, axis=0)
    vis_ids = [f"img{i}" for i in range(10)]
    cap_media = [f"img{i}" for i in range(10) for _ in range(5)]
    return vis, cap, cap2, vis_ids, cap_media


@pytest.mark.parametrize("w", sorted(GOLDEN))
def test_fused_metrics_golden(w):
    vis, cap, cap2, vis_ids, cap_media = _inputs()
    errors = w * norm_score(cal_error(vis, cap)) + (1 - w) * norm_score(cal_error(vis, cap2))
    m = retrieval_metrics(errors, gallery_index(cap_media, vis_ids), chunk=7)
    t2v, v2t, t2v_map, v2t_map = GOLDEN[w]
    keys = ["r1", "r5", "r10", "medr", "meanr"]
    assert [m["t2v"][k] for k in keys] == pytest.approx(t2v, abs=1e-9)
    assert [m["v2t"][k] for k in keys] == pytest.approx(v2t, abs=1e-9)
    assert m["t2v"]["map"] == pytest.approx(t2v_map, rel=1e-10)
    assert m["v2t"]["map"] == pytest.approx(v2t_map, rel=1e-10)
    assert m["sumr"] == pytest.approx(sum(t2v[:3]) + sum(v2t[:3]))


def _naive(errors: np.ndarray, cap_vis: np.ndarray):
    t2v, v2t, aps = [], [], []
    for i in range(errors.shape[0]):
        order = list(np.argsort(errors[i]))
        t2v.append(order.index(cap_vis[i]) + 1)
    for v in range(errors.shape[1]):
        order = np.argsort(errors[:, v])
        rel = cap_vis[order] == v
        if not rel.any():
            continue
        pos = np.flatnonzero(rel) + 1
        v2t.append(pos[0])
        aps.append(np.mean(np.arange(1, len(pos) + 1) / pos))
    return np.array(t2v), np.array(v2t), float(np.mean(aps))


def test_chunked_matches_naive_with_uneven_captions_and_distractors():
    rng = np.random.default_rng(5)
    n_vis, n_cap = 23, 61
    cap_vis = rng.integers(0, 20, n_cap)  # visual items 20..22 have no caption (distractors)
    errors = rng.standard_normal((n_cap, n_vis))
    m = retrieval_metrics(errors, cap_vis, chunk=9)
    t2v, v2t, v2t_map = _naive(errors, cap_vis)
    assert m["t2v"]["meanr"] == pytest.approx(t2v.mean()) and m["t2v"]["medr"] == pytest.approx(np.median(t2v))
    assert m["v2t"]["meanr"] == pytest.approx(v2t.mean()) and m["v2t"]["r5"] == pytest.approx(100 * np.mean(v2t <= 5))
    assert m["v2t"]["map"] == pytest.approx(v2t_map, rel=1e-12)
    assert m["t2v"]["map"] == pytest.approx(np.mean(1 / t2v), rel=1e-12)


def test_unknown_media_id_is_a_clear_error():
    with pytest.raises(ValueError, match="1 caption"):
        gallery_index(["a", "zzz"], ["a", "b"])
