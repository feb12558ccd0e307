"""Golden values of methods.md §6 for the NRCCR loss functions (float64 unless noted)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clcm.training.losses import (
    feature_distill_loss,
    infonce_loss,
    similarity_distill_loss,
    triplet_loss,
)


@pytest.fixture(scope="module")
def emb() -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(0)
    out = {}
    for name in ("en", "trans", "cross", "back", "vid"):
        x = rng.standard_normal((8, 16))
        out[name] = torch.from_numpy(x / np.linalg.norm(x, axis=1, keepdims=True))
    return out


def close(value: torch.Tensor, golden: float, rel: float = 1e-10) -> bool:
    return value.item() == pytest.approx(golden, rel=rel)


def test_triplet_golden(emb):
    assert close(triplet_loss(emb["en"], emb["vid"]), 10.358171183499373)
    assert close(triplet_loss(emb["en"], emb["vid"], max_violation=False), 38.904424818427266)
    assert close(triplet_loss(emb["en"], emb["vid"], cost_style="mean"), 1.2947713979374216)
    assert close(triplet_loss(emb["en"], emb["back"]), 7.539275385885612)


def test_similarity_distill_golden(emb):
    assert close(similarity_distill_loss(emb["cross"], emb["trans"], emb["vid"]), 2.4806430980542444)


def test_feature_distill_golden_float32(emb):
    assert close(feature_distill_loss(emb["cross"], emb["trans"]), 0.015213778242468834, rel=1e-6)
    assert close(feature_distill_loss(10 * emb["cross"], -10 * emb["trans"]), 1.4571268558502197, rel=1e-6)


def test_total_without_adversarial_golden(emb):
    e = emb
    total = (
        triplet_loss(e["en"], e["vid"])
        + 0.6 * triplet_loss(e["trans"], e["vid"])
        + 0.4 * similarity_distill_loss(e["cross"], e["trans"], e["vid"])
        + 0.1 * feature_distill_loss(e["cross"], e["trans"]).double()
        + 0.5 * triplet_loss(e["en"], e["back"])
    )
    assert close(total, 19.622006699231882, rel=1e-9)


def test_triplet_matches_naive_loops(emb):
    s, im = emb["trans"], emb["vid"]
    scores = (im @ s.T).numpy()
    n = scores.shape[0]
    naive = 0.0
    for i in range(n):
        naive += max(max(0.2 + scores[i, j] - scores[i, i], 0) for j in range(n) if j != i)
        naive += max(max(0.2 + scores[j, i] - scores[i, i], 0) for j in range(n) if j != i)
    assert triplet_loss(s, im).item() == pytest.approx(naive, rel=1e-12)


def test_infonce_weighted_equals_unweighted_with_unit_weights(emb):
    a, b = emb["en"], emb["vid"]
    plain = infonce_loss(a, b)
    assert infonce_loss(a, b, weight=torch.ones(8, dtype=a.dtype)).item() == pytest.approx(plain.item(), rel=1e-12)
    # a perfect match with a sharp temperature has a near-zero loss; a shuffled one does not
    assert infonce_loss(a, a, tau=0.01).item() < 1e-3 < infonce_loss(a, a.flip(0), tau=0.01).item()


def test_gradients_flow_into_student_and_visual_only(emb):
    cross = emb["cross"].clone().requires_grad_(True)
    trans = emb["trans"].clone().requires_grad_(True)
    vid = emb["vid"].clone().requires_grad_(True)
    similarity_distill_loss(cross.detach(), trans, vid).backward()
    assert cross.grad is None and trans.grad.abs().sum() > 0 and vid.grad.abs().sum() > 0


# Every TripletLoss variant against the reference (loss.TripletLoss(margin=0.2, measure='cosine', direction='all',
# max_violation=MV, cost_style=CS)(s, im) @5628a90, float64, computed once 2026-12-01). Inputs:
# numpy.random.default_rng(42), s then im, each (6, 10) standard normal with L2-normalised rows.
TRIPLET_GOLDEN_SEED42 = {
    (True, "sum"): 6.698888588000235,
    (True, "mean"): 1.1164814313333726,
    (False, "sum"): 16.479896252342794,
    (False, "mean"): 0.4577748958984109,  # the whole (B, B) cost matrix averaged: B× smaller than per-row sums
}


@pytest.mark.parametrize(("max_violation", "cost_style"), sorted(TRIPLET_GOLDEN_SEED42))
def test_every_triplet_variant_matches_the_reference(max_violation, cost_style):
    rng = np.random.default_rng(42)
    s, im = (rng.standard_normal((6, 10)) for _ in range(2))
    s, im = (torch.from_numpy(x / np.linalg.norm(x, axis=1, keepdims=True)) for x in (s, im))
    value = triplet_loss(s, im, max_violation=max_violation, cost_style=cost_style)
    assert close(value, TRIPLET_GOLDEN_SEED42[(max_violation, cost_style)])
