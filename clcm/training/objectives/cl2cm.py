"""CL2CM (methods.md §2): a cross-lingual teacher, then a cross-modal student trained with relational distillation.

Only the abstract of CL2CM is public, so everything below is the project's reconstruction (methods.md §2.2,
[ASSUMPTION]); each such choice is a field of :class:`CL2CMOptions` with its default and reason.

- Stage ``teacher`` (CL network; no visual input): a separate text encoder, mean-pooled tokens -> Linear -> L2.
  L_CL = InfoNCE(ŝ^CL, t̂^CL) + λ_w·L_word, where L_word is the entropic-OT cost between the source and target
  token features (cost 1 − cos, Sinkhorn in log domain, [CLS]/[SEP]/padding excluded).
- Stage ``student`` (CM network; teacher frozen, run under ``no_grad``): L_CM = InfoNCE(v, ŝ) + InfoNCE(v, t̂)
  + λ_kt·L_KT, L_KT = row and column KL between the teacher's S–T relations ŝ^CL·t̂^CLᵀ/τ_kd and the student's
  V–T relations v·t̂ᵀ/τ_kd (v_i is paired with s_i, so it stands in for s_i).
- Evaluation is dual-stream (visual encoder + student text encoder): no MT at query time.
- Images: the features go straight into the projection (``visual_hidden`` adds a Linear + ReLU). ``word_loss:
  sinkhorn_divergence`` replaces the plan cost by the debiased Sinkhorn divergence (the spec's alternative).
- Declared training settings (``train_defaults``, overridable in the config): AdamW with weight decay 0.01, a linear
  schedule with 10% warm-up per stage, 30 epochs for stage 2, at most 64 tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from clcm.configs import check_config, option
from clcm.errors import UsageError
from clcm.training.config import parse_options
from clcm.training.losses import infonce_loss, l2norm
from clcm.training.losses_contrastive import relational_kd
from clcm.training.models import mean_pool
from clcm.training.objectives.base import BuildContext, Objective, Stage
from clcm.training.objectives.common import build_text_encoder, build_visual_encoder
from clcm.training.ot import ot_cost, sinkhorn_divergence, sinkhorn_log


@dataclass(frozen=True)
class CL2CMOptions:
    """CL2CM's config keys (``objective_options:``); every default is an [ASSUMPTION] from methods.md §2.2."""

    joint_dim: int = 512  # joint space d = 512 (CLIP-sized), not NRCCR's 1536
    visual_hidden: int | None = None  # images: None = features straight into the projection (the spec); an int
    # adds Linear(D -> hidden) + ReLU before it. Frames: the one-layer temporal transformer's width (None = 1024)
    tau: float = 0.07  # InfoNCE temperature (fixed; CLIP's learnable-τ init)
    tau_kd: float = 0.07  # relation temperature of the knowledge transfer
    word_weight: float = 0.1  # λ_w: word-level OT term next to the sentence-level InfoNCE
    kt_weight: float = 1.0  # λ_kt: relational distillation next to L_CM
    ot_eps: float = 0.05  # Sinkhorn ε on cosine costs in [0, 2]
    ot_iters: int = 50  # Sinkhorn iterations
    # "uniform" (1/n) or "norm" (∝ token-feature norm)
    ot_marginals: str = option("uniform", choices=("uniform", "norm"))
    ot_detach_plan: bool = True  # IPOT-style: the plan is a constant, gradients reach the cost only
    # "plan_cost" ⟨T*, C⟩, or "sinkhorn_divergence" (the spec's alternative)
    word_loss: str = option("plan_cost", choices=("plan_cost", "sinkhorn_divergence"))
    teacher_epochs: int = option(10, ge=1)  # stage 1 length
    student_epochs: int | None = None  # stage 2 length; None = the trainer's epochs (CL2CM declares 30)
    encoder_lr_scale: float = 0.1  # encoder lr = scale × head lr (spec: 1e-5 vs 1e-4)
    pool_include_padding: bool = False  # mean over real tokens only (NRCCR's padding-inclusive mean is a quirk)
    joint_training: bool = False  # [alternative] keep L_CL active (and the teacher trainable) in stage 2
    word_kt_weight: float = 0.0  # [optional, off] pull student target tokens to the teacher's OT-aligned source tokens

    def __post_init__(self) -> None:
        check_config(self)


def content_mask(attention_mask: Tensor) -> Tensor:
    """(B, L) bool mask of real tokens minus the first ([CLS]/<s>) and last real one ([SEP]/</s>)."""
    mask = attention_mask.bool().clone()
    lengths = mask.sum(1)
    mask[:, 0] = False
    mask[torch.arange(mask.size(0), device=mask.device), (lengths - 1).clamp_min(0)] = False
    return mask


def word_ot_loss(
    h_s: Tensor,
    mask_s: Tensor,
    h_t: Tensor,
    mask_t: Tensor,
    *,
    eps: float = 0.05,
    n_iters: int = 50,
    marginals: str = "uniform",
    detach_plan: bool = True,
    divergence: bool = False,
) -> Tensor:
    """Mean entropic-OT alignment loss between source and target tokens (cost C_ij = 1 − cos(x_i, y_j)).

    Args:
        h_s: (B, n, H) source token features; h_t: (B, m, H) target token features.
        mask_s, mask_t: (B, n) / (B, m) bool, True on the tokens that take part (content tokens).
        eps, n_iters: Sinkhorn parameters. marginals: "uniform" or "norm". detach_plan: see :func:`ot_cost`.
        divergence: the Sinkhorn divergence S_ε (0 for identical token sets) instead of the plan cost ⟨T*, C⟩.
    """
    mu = nu = None
    if marginals == "norm":
        mu, nu = h_s.detach().norm(dim=-1), h_t.detach().norm(dim=-1)
    if divergence:
        return sinkhorn_divergence(
            h_s, h_t, mask_x=mask_s, mask_y=mask_t, mu=mu, nu=nu, eps=eps, n_iters=n_iters, detach_plan=detach_plan
        ).mean()
    x, y = l2norm(h_s), l2norm(h_t)
    cost = 1.0 - x @ y.transpose(1, 2)  # (B, n, m)
    per_item = ot_cost(cost, mu, nu, mask_a=mask_s, mask_b=mask_t, eps=eps, n_iters=n_iters, detach_plan=detach_plan)
    return per_item.mean()


def word_transfer_loss(plan: Tensor, h_src: Tensor, h_tgt: Tensor, mask_t: Tensor) -> Tensor:
    """Optional word-level transfer: mean over target tokens of 1 − cos(student token, OT barycentre of sources).

    Args:
        plan: (B, n, m) teacher OT plan between source and target tokens (constant).
        h_src: (B, n, H) teacher source token features (constant).
        h_tgt: (B, m, H) student target token features (trained).
        mask_t: (B, m) bool, the target tokens that take part.
    """
    mass = plan.sum(1)  # (B, m): each target token's share of the plan
    bary = (plan.transpose(1, 2) @ h_src) / mass.clamp_min(1e-12)[..., None]  # (B, m, H)
    sim = (l2norm(h_tgt) * l2norm(bary)).sum(-1)  # (B, m)
    valid = mask_t & (mass > 0)
    return ((1.0 - sim) * valid).sum() / valid.sum().clamp_min(1)


_Pair = tuple[Tensor, Tensor]  # (token states (B, L, H), sentence embedding (B, d))


class _TextTower(nn.Module):
    """Text encoder -> mean pool -> Linear -> L2 (one tower; S and T share it)."""

    def __init__(self, ctx: BuildContext, joint_dim: int, include_padding: bool) -> None:
        super().__init__()
        self.encoder = build_text_encoder(ctx)
        self.proj = nn.Linear(self.encoder.hidden, joint_dim)
        self.include_padding = include_padding

    def forward(self, tokens: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """-> (token states (B, L, H), sentence embedding (B, d))."""
        h = self.encoder(tokens)
        return h, l2norm(self.proj(mean_pool(h, tokens["attention_mask"], self.include_padding)))


class CL2CMObjective(Objective):
    """CL2CM: cross-lingual teacher (stage ``teacher``) then cross-modal student with relational KD (``student``)."""

    name = "cl2cm"
    # methods.md §2.2: AdamW (weight decay 0.01), a linear schedule with 10% warm-up per stage, 30 epochs for stage
    # 2 (the teacher has its own teacher_epochs), at most 64 tokens.
    train_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "adamw",
        "weight_decay": 0.01,
        "lr_schedule": "linear_warmup",
        "warmup_ratio": 0.1,
        "epochs": 30,
        "max_tokens": 64,
    }

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.opts = parse_options(CL2CMOptions, ctx.options, "cl2cm objective option")
        o = self.opts
        self.teacher = _TextTower(ctx, o.joint_dim, o.pool_include_padding)  # CL network (separate weights)
        self.student = _TextTower(ctx, o.joint_dim, o.pool_include_padding)  # CM text encoder (deployed)
        # images: CLIP-style features go straight into the projection unless visual_hidden asks for a hidden layer
        with_encoder = ctx.frames or o.visual_hidden is not None
        self.visual = build_visual_encoder(ctx, o.visual_hidden) if with_encoder else None
        self.visual_proj = nn.Linear(self.visual.out_dim if self.visual is not None else ctx.visual_dim, o.joint_dim)

    def stages(self) -> list[Stage]:
        # The teacher has no visual side, so validating retrieval during stage 1 would measure an untrained student.
        return [Stage("teacher", self.opts.teacher_epochs, validate=False), Stage("student", self.opts.student_epochs)]

    def _groups(self, modules: list[nn.Module], encoders: list[nn.Module], lr: float) -> list[dict[str, Any]]:
        enc_ids = {id(p) for m in encoders for p in m.parameters()}
        params = [p for m in modules for p in m.parameters() if p.requires_grad]
        heads = [p for p in params if id(p) not in enc_ids]
        enc = [p for p in params if id(p) in enc_ids]
        groups = [
            {"params": heads, "lr": lr},
            {"params": enc, "lr": lr * self.opts.encoder_lr_scale, "lr_scale": self.opts.encoder_lr_scale},
        ]
        return [g for g in groups if g["params"]]

    def param_groups(self, stage: Stage, lr: float) -> list[dict[str, Any]]:
        if stage.name == "teacher":
            return self._groups([self.teacher], [self.teacher.encoder], lr)
        cm = [m for m in (self.student, self.visual, self.visual_proj) if m is not None]
        encoders = [self.student.encoder]
        if self.opts.joint_training:
            cm, encoders = [*cm, self.teacher], [*encoders, self.teacher.encoder]
        return self._groups(cm, encoders, lr)

    def _cl_terms(
        self, batch: dict[str, Any]
    ) -> tuple[dict[str, Tensor], tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """Teacher losses and its outputs ((token states, embedding) for the source and the target)."""
        o = self.opts
        h_s, s_cl = self.teacher(batch["src"])
        h_t, t_cl = self.teacher(batch["tgt"])
        word = word_ot_loss(
            h_s,
            content_mask(batch["src"]["attention_mask"]),
            h_t,
            content_mask(batch["tgt"]["attention_mask"]),
            eps=o.ot_eps,
            n_iters=o.ot_iters,
            marginals=o.ot_marginals,
            detach_plan=o.ot_detach_plan,
            divergence=o.word_loss == "sinkhorn_divergence",
        )
        terms = {"cl_sent_loss": infonce_loss(s_cl, t_cl, tau=o.tau), "cl_word_loss": o.word_weight * word}
        return terms, (h_s, s_cl), (h_t, t_cl)

    def forward(self, batch: dict[str, Any], stage: Stage) -> dict[str, Tensor]:
        if stage.name == "teacher":
            return self._cl_terms(batch)[0]
        if stage.name != "student":
            raise UsageError(f"cl2cm has stages 'teacher' and 'student', not {stage.name!r}")
        o = self.opts
        if o.joint_training:
            terms, (h_s_cl, s_cl), (h_t_cl, t_cl) = self._cl_terms(batch)
        else:
            self.teacher.eval()  # frozen: no dropout, no gradient
            with torch.no_grad():
                terms, (h_s_cl, s_cl), (h_t_cl, t_cl) = {}, self.teacher(batch["src"]), self.teacher(batch["tgt"])
        v = self.encode_visual(batch["visual"], batch.get("visual_mask"))
        _, s = self.student(batch["src"])
        h_t, t = self.student(batch["tgt"])
        terms["vs_loss"] = infonce_loss(v, s, tau=o.tau)
        terms["vt_loss"] = infonce_loss(v, t, tau=o.tau)
        terms["kt_loss"] = o.kt_weight * relational_kd(s_cl @ t_cl.t() / o.tau_kd, v @ t.t() / o.tau_kd)
        if o.word_kt_weight:
            m_s, m_t = content_mask(batch["src"]["attention_mask"]), content_mask(batch["tgt"]["attention_mask"])
            with torch.no_grad():
                cost = 1.0 - l2norm(h_s_cl) @ l2norm(h_t_cl).transpose(1, 2)  # (B, n, m)
                plan = sinkhorn_log(cost, mask_a=m_s, mask_b=m_t, eps=o.ot_eps, n_iters=o.ot_iters)
            terms["word_kt_loss"] = o.word_kt_weight * word_transfer_loss(plan, h_s_cl.detach(), h_t, m_t)
        return terms

    def encode_visual(self, visual: Tensor, visual_mask: Tensor | None) -> Tensor:
        x = visual if self.visual is None else self.visual(visual, visual_mask)
        return l2norm(self.visual_proj(x))

    def encode_text(self, tokens: dict[str, Tensor], view: str) -> Tensor:
        if view != "tgt":
            raise UsageError(f"cl2cm is dual-stream and scores only the 'tgt' view, not {view!r}")
        return self.student(tokens)[1]
