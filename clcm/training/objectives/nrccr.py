"""NRCCR (methods.md §1.2-1.5): shared text head with self/cross attention, six loss terms, and the adversarial
language discriminator trained by its own Adam before every main backward pass.

L = Tri(s, v) + tri_alpha Tri(t, v) + dtl_beta D(c.detach(), t, v) + l1_gama SmoothL1(t, c) + back_w Tri(s, b)
    + scale BCE(Disc(H_t), 1)

Small, randomly initialised encoders (tests, CPU benchmarks): the from-scratch head (LinearLayer + N(0, 1) position
table + attention, mean over padding) learns far slower than plain masked mean pooling and sits in a low-rank
plateau under hardest-negative triplets. The defaults stay faithful; ``pool_include_padding: false``,
``pos_init_std: 0.02``, ``max_violation: false`` and a higher lr close most of the gap
(benchmarks/nrccr_small_encoder.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from clcm.training.config import parse_options
from clcm.training.losses import (
    bce_label_loss,
    feature_distill_loss,
    similarity_distill_loss,
    triplet_loss,
)
from clcm.training.models import Discriminator, LatentMapping, TextHead
from clcm.training.objectives.base import BuildContext, Objective, Stage
from clcm.training.objectives.common import build_text_encoder, build_visual_encoder


@dataclass(frozen=True)
class NRCCROptions:
    tri_alpha: float = 0.6  # weight of Tri(t, v) (scripts)
    dtl_beta: float = 0.4  # similarity-view self-distillation
    l1_gama: float = 0.1  # feature-view self-distillation (scripts; parser default 1)
    back_w: float = 0.5  # back-translation consistency (scripts; parser default 1)
    scale: float = 0.001  # generator (adversarial) term
    glr: float = 1e-3  # discriminator Adam lr
    disc_type: str = "not-so-weak"  # weak | not-so-weak (Multi30K, MSCOCO, MSR-VTT-CN) | strong (VATEX)
    margin: float = 0.2  # triplet margin
    max_violation: bool = True  # hardest negative (VSE++, the reference); False sums every violating negative
    pos_init_std: float | None = None  # text position-table init: None = N(0, 1) (reference); 0.02 = BERT's
    tau: float = 0.07  # DtlLoss temperature
    joint_dim: int = 1536  # Latent_mapping output
    heads: int = 8  # text attention heads
    qk_dim: int = 512  # attention query/key size
    pool_include_padding: bool = True  # the reference mean-pools over padding too
    visual_hidden: int | None = None  # image: Linear(D -> hidden) (+ReLU); None = D (ResNet path 2048 -> 2048)
    visual_relu: bool = True  # ResNet path has ReLU; CLIP path (512 -> 1024) has none
    dropout: float = 0.2  # mapping dropout
    use_sample_weight: bool = False  # weight triplet terms by the batch's sample weights (our addition)


class NRCCRObjective(Objective):
    name = "nrccr"
    # The reference trains in fp32 (no autocast) with Adam and its per-epoch schedule; validation fuses the MT->en
    # query at sim_ratio 0.2, its image tester at 0.5. Mixed precision is an explicit choice (amp: bf16).
    train_defaults: ClassVar[dict[str, Any]] = {"amp": "off", "fusion_weight": 0.2, "test_fusion_weight": 0.5}

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.opts = o = parse_options(NRCCROptions, ctx.options, "nrccr objective option")
        self.text = build_text_encoder(ctx)
        hidden = self.text.hidden
        self.head = TextHead(hidden, o.heads, o.qk_dim, pos_init_std=o.pos_init_std)
        self.visual = build_visual_encoder(ctx, o.visual_hidden, relu=o.visual_relu)
        self.text_map = LatentMapping(hidden, o.joint_dim, o.dropout)
        self.visual_map = LatentMapping(self.visual.out_dim, o.joint_dim, o.dropout)
        self.disc = Discriminator(hidden, o.disc_type)
        self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=o.glr, betas=(0.9, 0.999), eps=1e-8)
        self._stash: tuple[Tensor, Tensor] | None = None

    # -- interface ---------------------------------------------------------------------------------------------
    def aux_modules(self) -> list[torch.nn.Module]:
        return [self.disc]

    def aux_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"discriminator": self.disc_opt}

    def query_views(self) -> tuple[str, ...]:
        return ("tgt", "mt_en")

    def encode_visual(self, visual: Tensor, visual_mask: Tensor | None) -> Tensor:
        return self.visual_map(self.visual(visual, visual_mask))

    def encode_text(self, tokens: dict[str, Tensor], view: str = "tgt") -> Tensor:
        """Inference path: self-attention branch only (``reference=True``)."""
        f = self.head.tokens(self.text(tokens))
        return self.text_map(self.head.self_pool(f, tokens["attention_mask"], self.opts.pool_include_padding))

    # -- training ----------------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any], stage: Stage) -> dict[str, Tensor]:
        o, pad = self.opts, self.opts.pool_include_padding
        src, tgt, bt = batch["src"], batch["tgt"], batch.get("bt")
        h_s, h_t = self.text(src), self.text(tgt)
        f_s, f_t = self.head.tokens(h_s), self.head.tokens(h_t)
        m_s, m_t = src["attention_mask"], tgt["attention_mask"]
        s = self.text_map(self.head.self_pool(f_s, m_s, pad))
        t = self.text_map(self.head.self_pool(f_t, m_t, pad))
        c = self.text_map(self.head.cross_pool(f_s, m_s, f_t, m_t, pad))
        v = self.encode_visual(batch["visual"], batch.get("visual_mask"))
        w = batch.get("weight") if o.use_sample_weight else None
        terms = {
            "tri_loss": triplet_loss(s, v, margin=o.margin, max_violation=o.max_violation, weight=w),
            "tri_t_loss": o.tri_alpha * triplet_loss(t, v, margin=o.margin, max_violation=o.max_violation, weight=w),
            "dtl_loss": o.dtl_beta * similarity_distill_loss(c.detach(), t, v, tau=o.tau),
            "feat_loss": o.l1_gama * feature_distill_loss(c, t),
        }
        if bt is not None and o.back_w:
            b = self.text_map(self.head.self_pool(self.head.tokens(self.text(bt)), bt["attention_mask"], pad))
            terms["bt_loss"] = o.back_w * triplet_loss(s, b, margin=o.margin, max_violation=o.max_violation, weight=w)
        self._stash = (h_s, h_t)
        return terms

    def before_backward(self, batch: dict[str, Any], stage: Stage) -> dict[str, Tensor]:
        """Discriminator Adam step on detached encoder states, then the generator term on the MT-target side."""
        if self._stash is None or not self.opts.scale:
            return {}
        h_s, h_t = self._stash
        self._stash = None
        d_loss = discriminator_step(self.disc, self.disc_opt, h_s.detach(), h_t.detach())
        # The generator term leaves a stale gradient in the discriminator; the next step's zero_grad clears it.
        return {"adv_loss": generator_loss(self.disc, h_t, self.opts.scale), "disc": d_loss}


def discriminator_step(disc: torch.nn.Module, optimizer: torch.optim.Optimizer, real: Tensor, fake: Tensor) -> Tensor:
    """One step of the reference's ``Adversarial.update``: L_D = ½[BCE(D(real), 1) + BCE(D(fake), 0)].

    Args:
        disc: the language discriminator; optimizer: its own Adam.
        real: (N, L, H) detached English encoder states; fake: (N, L', H) detached MT-target states.

    Returns:
        L_D before the step (detached). Under DDP the discriminator's gradients are averaged by hand (it is outside
        the DDP wrapper).
    """
    optimizer.zero_grad(set_to_none=False)
    loss = 0.5 * (bce_label_loss(disc(real), 1.0) + bce_label_loss(disc(fake), 0.0))
    loss.backward()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        for p in disc.parameters():
            torch.distributed.all_reduce(p.grad)
            p.grad /= torch.distributed.get_world_size()
    optimizer.step()
    return loss.detach()


def generator_loss(disc: torch.nn.Module, fake: Tensor, scale: float) -> Tensor:
    """The reference's ``gen_loss`` in GAN mode: scale · BCE(D(fake), 1), pushing MT-target states to look English."""
    return scale * bce_label_loss(disc(fake), 1.0)
