"""CL2CM's Sinkhorn-divergence alternative: the entropic OT value against a dense Sinkhorn, and debiasing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clcm.training.objectives.cl2cm import word_ot_loss
from clcm.training.ot import ot_cost, sinkhorn_divergence


def _dense_entropic_value(cost: np.ndarray, eps: float, iters: int = 5000) -> float:
    """Plain (non-log) Sinkhorn, uniform marginals, float64: ⟨T, C⟩ + ε·KL(T ‖ μ⊗ν) at convergence."""
    n, m = cost.shape
    mu, nu = np.full(n, 1 / n), np.full(m, 1 / m)
    k = np.exp(-cost / eps)
    u, v = np.ones(n), np.ones(m)
    for _ in range(iters):
        u = mu / (k @ v)
        v = nu / (k.T @ u)
    plan = u[:, None] * k * v[None, :]
    return float((plan * cost).sum() + eps * (plan * np.log(plan / np.outer(mu, nu))).sum())


def test_entropic_value_matches_a_dense_sinkhorn():
    rng = np.random.default_rng(5)
    cost = rng.uniform(0, 2, (4, 6))
    got = ot_cost(torch.from_numpy(cost)[None], eps=0.5, n_iters=500, regularised=True)
    assert got.item() == pytest.approx(_dense_entropic_value(cost, 0.5), rel=1e-9)


def test_divergence_is_zero_on_identical_sets_and_positive_otherwise():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 16, generator=gen, dtype=torch.float64)
    assert sinkhorn_divergence(x, x).abs().max().item() < 1e-9
    shuffled = x[:, torch.randperm(5, generator=gen)]  # the same token set in another order
    assert sinkhorn_divergence(x, shuffled).abs().max().item() < 1e-6
    other = torch.randn(2, 5, 16, generator=gen, dtype=torch.float64)
    assert (sinkhorn_divergence(x, other) > 0.05).all()
    # the entropic OT value of a set with itself is not 0 (ε·log n here): the bias the divergence removes
    xn = torch.nn.functional.normalize(x, dim=-1)
    self_value = ot_cost(1.0 - xn @ xn.transpose(1, 2), regularised=True)
    assert self_value.min().item() > 0.05


def test_divergence_ignores_padding_and_gives_gradients():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(1, 4, 8, generator=gen, dtype=torch.float64)
    y = torch.randn(1, 3, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    mx, my = torch.ones(1, 4, dtype=torch.bool), torch.ones(1, 3, dtype=torch.bool)
    padded = torch.cat([y, 50 * torch.randn(1, 2, 8, generator=gen, dtype=torch.float64)], 1)
    mp = torch.cat([my, torch.zeros(1, 2, dtype=torch.bool)], 1)
    base = word_ot_loss(x, mx, y, my, divergence=True)
    torch.testing.assert_close(word_ot_loss(x, mx, padded, mp, divergence=True), base)
    base.backward()
    assert y.grad.abs().sum() > 0
