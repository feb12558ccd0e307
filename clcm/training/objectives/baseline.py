"""Plain baseline: shared text encoder (masked mean pooling) and visual encoder in one joint space, trained with
hardest-negative triplets and/or InfoNCE on (English, visual) and (MT target, visual) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from clcm.training.config import parse_options
from clcm.training.losses import infonce_loss, triplet_loss
from clcm.training.models import LatentMapping, mean_pool
from clcm.training.objectives.base import BuildContext, Objective, Stage
from clcm.training.objectives.common import build_text_encoder, build_visual_encoder


@dataclass(frozen=True)
class BaselineOptions:
    loss: str = "triplet"  # triplet | infonce | both
    src_weight: float = 1.0  # weight of the English-visual terms
    tgt_weight: float = 1.0  # weight of the MT target-visual terms
    margin: float = 0.2  # triplet margin (VSE++)
    tau: float = 0.07  # InfoNCE temperature
    joint_dim: int = 1536  # joint space size (NRCCR's)
    visual_hidden: int | None = None  # image: Linear(D -> hidden) + ReLU; None = D. Frames: default 1024
    dropout: float = 0.2  # mapping dropout


class BaselineObjective(Objective):
    name = "baseline"

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.opts = parse_options(BaselineOptions, ctx.options, "baseline objective option")
        if self.opts.loss not in ("triplet", "infonce", "both"):
            raise ValueError(f"baseline loss must be triplet, infonce or both, not {self.opts.loss!r}")
        self.text = build_text_encoder(ctx)
        self.visual = build_visual_encoder(ctx, self.opts.visual_hidden)
        self.text_map = LatentMapping(self.text.hidden, self.opts.joint_dim, self.opts.dropout)
        self.visual_map = LatentMapping(self.visual.out_dim, self.opts.joint_dim, self.opts.dropout)

    def encode_text(self, tokens: dict[str, Tensor], view: str = "tgt") -> Tensor:
        h = self.text(tokens)
        return self.text_map(mean_pool(h, tokens["attention_mask"], include_padding=False))

    def encode_visual(self, visual: Tensor, visual_mask: Tensor | None) -> Tensor:
        return self.visual_map(self.visual(visual, visual_mask))

    def _pair_loss(self, text: Tensor, vis: Tensor, weight: Tensor | None) -> Tensor:
        o = self.opts
        loss = text.new_zeros(())
        if o.loss in ("triplet", "both"):
            loss = loss + triplet_loss(text, vis, margin=o.margin, weight=weight)
        if o.loss in ("infonce", "both"):
            loss = loss + infonce_loss(text, vis, tau=o.tau, weight=weight)
        return loss

    def forward(self, batch: dict[str, Any], stage: Stage) -> dict[str, Tensor]:
        v = self.encode_visual(batch["visual"], batch.get("visual_mask"))
        s = self.encode_text(batch["src"])
        t = self.encode_text(batch["tgt"])
        w = batch.get("weight")
        return {
            "src_loss": self.opts.src_weight * self._pair_loss(s, v, w),
            "tgt_loss": self.opts.tgt_weight * self._pair_loss(t, v, w),
        }
