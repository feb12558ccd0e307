"""Log-domain Sinkhorn against exact OT solutions (permutations; 1-D monotone couplings) and padding invariance."""

from __future__ import annotations

import itertools

import pytest
import torch

from clcm.training.ot import ot_cost, sinkhorn_log


def _exact_assignment_cost(cost: torch.Tensor) -> float:
    """Exact OT cost for n = m with uniform marginals: an optimal plan is a permutation matrix / n (Birkhoff)."""
    n = cost.shape[0]
    return min(sum(cost[i, p[i]].item() for i in range(n)) for p in itertools.permutations(range(n))) / n


def _exact_1d_cost(x: torch.Tensor, a: torch.Tensor, y: torch.Tensor, b: torch.Tensor) -> float:
    """Exact OT cost for |x − y| on the line: the monotone (quantile) coupling of the sorted supports is optimal."""
    xo, yo = torch.argsort(x), torch.argsort(y)
    x, a, y, b = x[xo].tolist(), a[xo].tolist(), y[yo].tolist(), b[yo].tolist()
    i = j = 0
    total = 0.0
    while i < len(x) and j < len(y):
        mass = min(a[i], b[j])
        total += mass * abs(x[i] - y[j])
        a[i] -= mass
        b[j] -= mass
        if a[i] <= 1e-15:
            i += 1
        if b[j] <= 1e-15:
            j += 1
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entropic_cost_converges_to_exact_assignment(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    cost = torch.rand(1, 5, 5, generator=gen, dtype=torch.float64)
    exact = _exact_assignment_cost(cost[0])
    gaps = []
    for eps, iters in [(0.1, 200), (0.02, 1000), (0.002, 5000)]:
        plan = sinkhorn_log(cost, eps=eps, n_iters=iters)
        gaps.append((plan * cost).sum().item() - exact)
    # The entropic plan is feasible, so its cost is ≥ the exact one, and the gap shrinks as ε → 0.
    assert all(g >= -1e-9 for g in gaps)
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-3


def test_nonuniform_rectangular_marginals_match_exact_1d() -> None:
    gen = torch.Generator().manual_seed(3)
    x, y = torch.rand(6, generator=gen, dtype=torch.float64), torch.rand(4, generator=gen, dtype=torch.float64)
    a, b = torch.rand(6, generator=gen, dtype=torch.float64) + 0.1, torch.rand(4, generator=gen, dtype=torch.float64)
    cost = (x[:, None] - y[None, :]).abs()[None]
    plan = sinkhorn_log(cost, a[None], b[None], eps=0.001, n_iters=5000)[0]
    torch.testing.assert_close(plan.sum(1), a / a.sum(), atol=1e-6, rtol=0)
    torch.testing.assert_close(plan.sum(0), b / b.sum(), atol=1e-6, rtol=0)
    exact = _exact_1d_cost(x, a / a.sum(), y, b / b.sum())
    assert abs((plan * cost[0]).sum().item() - exact) < 5e-3


def test_padding_gives_the_same_plan_as_the_unpadded_problem() -> None:
    gen = torch.Generator().manual_seed(4)
    c1 = torch.rand(3, 5, generator=gen, dtype=torch.float64)
    c2 = torch.rand(6, 2, generator=gen, dtype=torch.float64)
    w1 = torch.rand(3, generator=gen, dtype=torch.float64)
    padded = torch.full((2, 6, 5), float("nan"), dtype=torch.float64)  # padding costs are never read
    padded[0, :3, :5], padded[1, :6, :2] = c1, c2
    mask_a = torch.tensor([[1, 1, 1, 0, 0, 0], [1] * 6], dtype=torch.bool)
    mask_b = torch.tensor([[1] * 5, [1, 1, 0, 0, 0]], dtype=torch.bool)
    mu = torch.ones(2, 6, dtype=torch.float64)
    mu[0, :3] = w1
    plan = sinkhorn_log(padded, mu, mask_a=mask_a, mask_b=mask_b, eps=0.05, n_iters=50)
    torch.testing.assert_close(plan[0, :3, :5], sinkhorn_log(c1[None], w1[None], eps=0.05, n_iters=50)[0])
    torch.testing.assert_close(plan[1, :6, :2], sinkhorn_log(c2[None], eps=0.05, n_iters=50)[0])
    assert plan[0, 3:].abs().sum() == 0 and plan[1, :, 2:].abs().sum() == 0
    costs = ot_cost(padded, mu, mask_a=mask_a, mask_b=mask_b)
    assert torch.isfinite(costs).all()


def test_small_epsilon_stays_finite_in_float32_and_keeps_marginals() -> None:
    gen = torch.Generator().manual_seed(5)
    cost = 2 * torch.rand(4, 7, 9, generator=gen)  # 1 − cos lies in [0, 2]; e^{-2/0.05} would underflow in a kernel
    plan = sinkhorn_log(cost, eps=0.05, n_iters=50)
    assert torch.isfinite(plan).all()
    torch.testing.assert_close(plan.sum(dim=(1, 2)), torch.ones(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(plan.sum(dim=1), torch.full((4, 9), 1 / 9), atol=1e-5, rtol=0)


def test_all_padding_item_has_zero_plan_and_cost() -> None:
    cost = torch.rand(2, 3, 3)
    mask_a = torch.tensor([[True] * 3, [False] * 3])
    plan = sinkhorn_log(cost, mask_a=mask_a)
    assert plan[1].abs().sum() == 0 and torch.isfinite(plan).all()
    assert ot_cost(cost, mask_a=mask_a)[1] == 0


def test_detached_plan_sends_gradient_to_the_cost_only() -> None:
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 4, 8, generator=gen, requires_grad=True)
    y = torch.randn(2, 5, 8, generator=gen, requires_grad=True)
    cost = 1 - torch.nn.functional.normalize(x, dim=-1) @ torch.nn.functional.normalize(y, dim=-1).transpose(1, 2)
    detached = ot_cost(cost, eps=0.05, n_iters=50)
    gx, gy = torch.autograd.grad(detached.sum(), [x, y])
    assert gx.abs().sum() > 0 and gy.abs().sum() > 0
    # With a detached plan, d⟨T, C⟩/dC = T exactly.
    cost_leaf = cost.detach().requires_grad_(True)
    (g_cost,) = torch.autograd.grad(ot_cost(cost_leaf).sum(), [cost_leaf])
    torch.testing.assert_close(g_cost, sinkhorn_log(cost.detach()))
    # Differentiating through the iterations gives a different (but finite) gradient.
    (g_full,) = torch.autograd.grad(ot_cost(cost_leaf, detach_plan=False).sum(), [cost_leaf])
    assert torch.isfinite(g_full).all() and not torch.allclose(g_full, g_cost)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        sinkhorn_log(torch.rand(1, 2, 2), torch.tensor([[1.0, -1.0]]))
    with pytest.raises(ValueError, match="eps"):
        sinkhorn_log(torch.rand(1, 2, 2), eps=0)
    with pytest.raises(ValueError, match=r"\(B, n, m\)"):
        sinkhorn_log(torch.rand(2, 2))
