"""Plain tensor loss functions (no modules, no state), so parity with methods.md §6 stays checkable.

Every input embedding is expected L2-normalised; shapes are given per function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def l2norm(x: Tensor, dim: int = -1, eps: float = 1e-12) -> Tensor:
    """Row-wise L2 normalisation."""
    return x / x.norm(dim=dim, keepdim=True).clamp_min(eps)


def cosine_sim(im: Tensor, s: Tensor) -> Tensor:
    """(N, D), (M, D) -> (N, M) = im @ s.T (a plain dot product: inputs are L2-normalised)."""
    return im @ s.t()


def triplet_loss(
    s: Tensor,
    im: Tensor,
    *,
    margin: float = 0.2,
    max_violation: bool = True,
    cost_style: str = "sum",
    weight: Tensor | None = None,
) -> Tensor:
    """VSE++ triplet ranking loss in both directions (NRCCR's ``TripletLoss(s, im)``).

    Args:
        s: (B, D) first view (text); columns of the score matrix.
        im: (B, D) second view (visual, or the other text); rows of the score matrix ``S = im @ s.T``.
        margin: ranking margin.
        max_violation: hardest negative only (VSE++); else every negative.
        cost_style: ``"sum"``, or ``"mean"``: over the B hardest negatives (``max_violation``) or over all B × B
            entries of the cost matrix (the reference's ``cost_s.mean()`` of the unreduced matrix).
        weight: optional (B,) per-sample weights applied to the per-row/column costs (our addition).
    """
    scores = cosine_sim(im, s)  # (B, B)
    diagonal = scores.diag().view(-1, 1)
    cost_s = (margin + scores - diagonal).clamp(min=0)  # im_i vs captions j: S_ij - S_ii
    cost_im = (margin + scores - diagonal.t()).clamp(min=0)  # captions j vs images i: S_ij - S_jj
    eye = torch.eye(scores.size(0), dtype=torch.bool, device=scores.device)
    cost_s = cost_s.masked_fill(eye, 0)
    cost_im = cost_im.masked_fill(eye, 0)
    if cost_style not in ("sum", "mean"):
        raise ValueError(f"cost_style must be 'sum' or 'mean', not {cost_style!r}")
    n = scores.size(0)
    if max_violation:
        cost_s, cost_im, count = cost_s.max(1)[0], cost_im.max(0)[0], n
    else:
        # every negative counts; the reference's "mean" averages the whole (B, B) cost matrix, not per-row sums
        cost_s, cost_im, count = cost_s.sum(1), cost_im.sum(0), n * n
    if weight is not None:
        cost_s, cost_im = cost_s * weight, cost_im * weight
    total = cost_s.sum() + cost_im.sum()
    return total if cost_style == "sum" else total / count


def similarity_distill_loss(feat_targets: Tensor, feat: Tensor, feat_v: Tensor, *, tau: float = 0.07) -> Tensor:
    """NRCCR's similarity-view self-distillation D(ĉ, t̂, v) (``DtlLoss``), methods.md §1.3 (3).

    Args:
        feat_targets: (B, D) cross-branch embeddings giving soft pseudo-targets (detach it yourself).
        feat: (B, D) MT-target embeddings (student).
        feat_v: (B, D) visual embeddings.
    """
    p_v2t = F.softmax(feat_v @ feat_targets.t() / tau, dim=1)
    p_t2v = F.softmax(feat_targets @ feat_v.t() / tau, dim=1)
    log_v2t = F.log_softmax(feat_v @ feat.t() / tau, dim=1)
    log_t2v = F.log_softmax(feat @ feat_v.t() / tau, dim=1)
    loss_v2t = -(p_v2t * log_v2t).sum(1).mean()
    loss_t2v = -(p_t2v * log_t2v).sum(1).mean()
    return 0.5 * (loss_v2t + loss_t2v)


def feature_distill_loss(feat_target: Tensor, feat: Tensor, *, beta: float = 4.0) -> Tensor:
    """NRCCR's feature-view self-distillation (``dtl_feat``): SmoothL1 with beta 4, float32, mean over elements."""
    return F.smooth_l1_loss(feat.float(), feat_target.float(), beta=beta)


def infonce_loss(a: Tensor, b: Tensor, *, tau: float = 0.07, weight: Tensor | None = None) -> Tensor:
    """Symmetric InfoNCE between row-aligned (B, D) embeddings; ``weight`` (B,) optionally weights samples."""
    logits = a @ b.t() / tau
    target = torch.arange(a.size(0), device=a.device)
    per = 0.5 * (
        F.cross_entropy(logits, target, reduction="none") + F.cross_entropy(logits.t(), target, reduction="none")
    )
    if weight is None:
        return per.mean()
    return (per * weight).sum() / weight.sum().clamp_min(1e-12)


def bce_label_loss(logits: Tensor, label: float) -> Tensor:
    """BCE-with-logits against a constant label broadcast to every logit (the discriminator's loss)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(label)))
