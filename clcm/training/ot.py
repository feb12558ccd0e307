"""Entropic optimal transport: batched log-domain Sinkhorn with padding masks (CL2CM word-level alignment).

For each batch item b, with cost C_b (n × m), marginals μ_b (n) and ν_b (m), Sinkhorn finds the plan
T = diag(e^{f/ε}) K diag(e^{g/ε}) with K = e^{-C/ε} minimising ⟨T, C⟩ − ε·H(T) subject to T1 = μ, Tᵀ1 = ν.
The updates run on the dual potentials f, g with logsumexp, so small ε (0.05 on cosine costs) cannot underflow.
Padded rows/columns (mask False) get zero mass and stay exactly zero in the plan.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _log_marginal(weights: Tensor | None, mask: Tensor, dtype: torch.dtype) -> Tensor:
    """Log of the marginal over the valid positions (uniform when `weights` is None); 0 on padding (unused there)."""
    w = mask.to(dtype)
    if weights is not None:
        weights = weights.to(dtype)
        if (weights < 0).any():
            raise ValueError("OT marginal weights must be non-negative")
        w = weights * w
    total = w.sum(dim=-1, keepdim=True)
    # An all-padding item gets no mass; the clamp keeps the log finite (its plan is zero anyway).
    w = w / total.clamp_min(torch.finfo(w.dtype).tiny)
    return torch.where(mask, w.clamp_min(torch.finfo(w.dtype).tiny).log(), torch.zeros_like(w))


def _support(
    cost: Tensor, mu: Tensor | None, nu: Tensor | None, mask_a: Tensor | None, mask_b: Tensor | None
) -> tuple[Tensor, Tensor]:
    """(B, n) and (B, m) bool masks of the positions that carry mass (None = all real)."""
    bsz, n, m = cost.shape
    mask_a = torch.ones(bsz, n, dtype=torch.bool, device=cost.device) if mask_a is None else mask_a.bool()
    mask_b = torch.ones(bsz, m, dtype=torch.bool, device=cost.device) if mask_b is None else mask_b.bool()
    # Zero-weight positions carry no mass: treat them like padding so their plan rows/columns are exactly 0.
    if mu is not None:
        mask_a = mask_a & (mu > 0)
    if nu is not None:
        mask_b = mask_b & (nu > 0)
    return mask_a, mask_b


def sinkhorn_log(
    cost: Tensor,
    mu: Tensor | None = None,
    nu: Tensor | None = None,
    *,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    eps: float = 0.05,
    n_iters: int = 50,
) -> Tensor:
    """Entropic OT plans for a batch of cost matrices, computed in the log domain.

    Args:
        cost: (B, n, m) transport costs (e.g. 1 − cosine between token features).
        mu: (B, n) non-negative source weights; normalised over valid positions. None: uniform.
        nu: (B, m) non-negative target weights; normalised over valid positions. None: uniform.
        mask_a: (B, n) bool, True on real source positions. None: all real.
        mask_b: (B, m) bool, True on real target positions. None: all real.
        eps: entropic regularisation ε (smaller: closer to exact OT, slower to converge).
        n_iters: number of Sinkhorn iterations (one f-update plus one g-update each).

    Returns:
        (B, n, m) transport plans; each sums to 1 over its valid entries and is 0 on padding.
    """
    if cost.dim() != 3:
        raise ValueError(f"cost must be (B, n, m), got shape {tuple(cost.shape)}")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    bsz, n, m = cost.shape
    mask_a, mask_b = _support(cost, mu, nu, mask_a, mask_b)
    log_mu = _log_marginal(mu, mask_a, cost.dtype)  # (B, n)
    log_nu = _log_marginal(nu, mask_b, cost.dtype)  # (B, m)
    valid = mask_a[:, :, None] & mask_b[:, None, :]  # (B, n, m)
    neg_inf = torch.tensor(float("-inf"), dtype=cost.dtype, device=cost.device)
    # -C/ε with padding pairs removed from every logsumexp; NaN/inf costs on padding never enter.
    log_k = torch.where(valid, -cost / eps, neg_inf)
    f = torch.zeros(bsz, n, dtype=cost.dtype, device=cost.device)  # f/ε, (B, n)
    g = torch.zeros(bsz, m, dtype=cost.dtype, device=cost.device)  # g/ε, (B, m)
    for _ in range(n_iters):
        lse_rows = torch.logsumexp(log_k + g[:, None, :], dim=2)  # (B, n)
        f = torch.where(mask_a, log_mu - lse_rows, torch.zeros_like(f))
        lse_cols = torch.logsumexp(log_k + f[:, :, None], dim=1)  # (B, m)
        g = torch.where(mask_b, log_nu - lse_cols, torch.zeros_like(g))
    log_plan = log_k + f[:, :, None] + g[:, None, :]
    return torch.where(valid, log_plan.exp(), torch.zeros_like(cost))


def ot_cost(
    cost: Tensor,
    mu: Tensor | None = None,
    nu: Tensor | None = None,
    *,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    eps: float = 0.05,
    n_iters: int = 50,
    detach_plan: bool = True,
    regularised: bool = False,
) -> Tensor:
    """Per-item transport cost ⟨T*, C⟩ (B,) with T* from :func:`sinkhorn_log`; with ``regularised`` the entropic OT
    value OT_ε = ⟨T*, C⟩ + ε·KL(T* ‖ μ⊗ν), the quantity a Sinkhorn divergence debiases.

    With `detach_plan` (the IPOT-style default) the plan is a constant and gradients reach the cost only (for OT_ε
    that gradient is T*, by the envelope theorem, exact at convergence); without it they also flow back through the
    Sinkhorn iterations. Arguments as in :func:`sinkhorn_log`.
    """
    if detach_plan:
        with torch.no_grad():
            plan = sinkhorn_log(cost.detach(), mu, nu, mask_a=mask_a, mask_b=mask_b, eps=eps, n_iters=n_iters)
    else:
        plan = sinkhorn_log(cost, mu, nu, mask_a=mask_a, mask_b=mask_b, eps=eps, n_iters=n_iters)
    live = plan > 0
    cost = torch.where(live, cost, torch.zeros_like(cost))  # padding costs may be anything (even NaN)
    if not regularised:
        return (plan * cost).sum(dim=(1, 2))
    mask_a, mask_b = _support(cost, mu, nu, mask_a, mask_b)
    log_ref = _log_marginal(mu, mask_a, cost.dtype)[:, :, None] + _log_marginal(nu, mask_b, cost.dtype)[:, None, :]
    log_ratio = torch.where(live, plan.clamp_min(torch.finfo(plan.dtype).tiny).log() - log_ref, torch.zeros_like(cost))
    return (plan * (cost + eps * log_ratio)).sum(dim=(1, 2))


def sinkhorn_divergence(
    x: Tensor,
    y: Tensor,
    *,
    mask_x: Tensor | None = None,
    mask_y: Tensor | None = None,
    mu: Tensor | None = None,
    nu: Tensor | None = None,
    eps: float = 0.05,
    n_iters: int = 50,
    detach_plan: bool = True,
) -> Tensor:
    """Sinkhorn divergence S_ε(x, y) = OT_ε(x, y) − ½·OT_ε(x, x) − ½·OT_ε(y, y) (B,) on cosine costs 1 − cos.

    Unlike the plain entropic cost it is 0 when the two token sets coincide (the entropic bias cancels).

    Args:
        x: (B, n, H) and y: (B, m, H) token features (normalised here).
        mask_x, mask_y: (B, n) / (B, m) bool, True on the tokens that take part.
        mu, nu: optional non-negative token weights (uniform when None).
        eps, n_iters, detach_plan: as in :func:`ot_cost`.
    """
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    y = y / y.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def ot(a: Tensor, b: Tensor, ma: Tensor | None, mb: Tensor | None, wa: Tensor | None, wb: Tensor | None) -> Tensor:
        cost = 1.0 - a @ b.transpose(1, 2)
        return ot_cost(
            cost, wa, wb, mask_a=ma, mask_b=mb, eps=eps, n_iters=n_iters, detach_plan=detach_plan, regularised=True
        )

    cross = ot(x, y, mask_x, mask_y, mu, nu)
    return cross - 0.5 * ot(x, x, mask_x, mask_x, mu, mu) - 0.5 * ot(y, y, mask_y, mask_y, nu, nu)
