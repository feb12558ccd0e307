"""NRF (methods.md §3): noise-robust fine-tuning with a source-guided noise filter and selected parallel data.

Only NRF's abstract is public; the design below is the project's reconstruction (methods.md §3.2, [ASSUMPTION]),
with every choice a field of :class:`NRFOptions`. On the NRCCR backbone (text encoder -> token head -> attention
block -> mean -> mapping; visual encoder -> mapping):

- Noise filter N: target token features attend to source token features (cross-attention blocks with residual +
  LayerNorm and an FFN), mean-pooled and mapped to t̃, the "clean" reading of the possibly noisy translation.
- L_den = InfoNCE(t̃, ŝ.detach()) + 0.1·mean‖t̃ − ŝ.detach()‖², on the *selected* parallel rows only: the batch's
  ``nrf_selected`` mask from ``clcm-data filter`` (its top 50% by z(LaBSE cos) + z(BT chrF)), or with
  ``selection: threshold`` the spec's alternative rule score_embedding ≥ 0.8 and score_bt_chrf ≥ 0.5
  (``select_min``); all rows, with a logged note, when the batch has no mask.
- NRF trains on *every* pair by default (``keep_column`` resolves to null): the spec feeds all pairs to L_con and
  only the selected subset to L_den. Validation with ``fuse_mt`` fuses at w = 0.5 (the spec).
- L_sd = NRCCR's D(t̃.detach(), t̂, v): the target-only embedding t̂ learns N's similarity view.
- L_con = InfoNCE(v, ŝ) + InfoNCE(v, t̂) + InfoNCE(v, t̃) + InfoNCE(ŝ, t̂) on all rows (or triplets for V–S, V–T).
- Stage ``warmup`` (selected rows, no visual loss): L_den + InfoNCE(ŝ, t̂). Stage ``finetune``:
  L_con + 0.4·L_sd + 0.5·L_den. Test time: t̂ alone, optionally fused with the MT->source query (``fuse_mt``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from clcm.configs import check_config, option
from clcm.errors import UsageError
from clcm.training.config import parse_options
from clcm.training.losses import infonce_loss, similarity_distill_loss, triplet_loss
from clcm.training.models import LatentMapping, TextHead, mean_pool
from clcm.training.objectives.base import BuildContext, Objective, Stage
from clcm.training.objectives.common import build_text_encoder, build_visual_encoder

log = logging.getLogger(__name__)


# methods.md §3.2's alternative selection rule: q1 = LaBSE-style cosine >= 0.8 and BT chrF >= 0.5 (both in [0, 1]).
SPEC_THRESHOLDS = {"score_embedding": 0.8, "score_bt_chrf": 0.5}


@dataclass(frozen=True)
class NRFOptions:
    """NRF's config keys (``objective_options:``); every default is an [ASSUMPTION] from methods.md §3.2."""

    joint_dim: int = 1536  # NRCCR's joint space (NRF fine-tunes the NRCCR backbone)
    visual_hidden: int = 1024  # visual encoder width before the mapping (NRCCR's Linear(512 -> 1024))
    visual_relu: bool = False  # NRCCR-CLIP (the spec's backbone) has no activation after that Linear
    heads: int = 8  # heads of the NRCCR attention block and of the noise filter
    qk_dim: int = 512  # NRCCR attention block's query/key width
    filter_blocks: int = option(1, ge=1)  # cross-attention blocks in N (spec: 1-2)
    filter_ffn: int | None = None  # N's FFN width; None = 4 × encoder hidden (3072 for mBERT)
    tau: float = 0.07  # InfoNCE and distillation temperature
    sd_weight: float = 0.4  # L_sd weight in fine-tuning (NRCCR's dtl_beta)
    den_weight: float = 0.5  # L_den weight in fine-tuning
    den_mse_weight: float = 0.1  # MSE part of L_den next to its InfoNCE
    # "infonce", or "triplet" (NRCCR's hardest-negative, margin 0.2) for V–S and V–T
    contrastive: str = option("infonce", choices=("infonce", "triplet"))
    triplet_margin: float = 0.2  # margin when contrastive = "triplet"
    warmup_epochs: int = option(5, ge=0)  # stage 1 length (noise-filter warm-up on selected parallel text)
    finetune_epochs: int | None = None  # stage 2 length; None = the trainer's epochs
    encoder_lr_scale: float = 0.2  # encoder lr = scale × head lr (spec: 2e-5 vs 1e-4)
    fuse_mt: bool = False  # evaluate with the MT->source query fused in (NRCCR §1.5; weight from the trainer)
    pool_include_padding: bool = True  # NRCCR's mean over padded positions (parity with the backbone)
    # "mask": the shards' nrf_selected column; "threshold": every select_min column >= min
    selection: str = option("mask", choices=("mask", "threshold"))
    select_min: dict[str, float] = field(default_factory=lambda: dict(SPEC_THRESHOLDS))

    def __post_init__(self) -> None:
        check_config(self)
        if self.selection == "threshold" and not self.select_min:
            raise UsageError("nrf selection 'threshold' needs select_min {column: minimum}")


class NoiseFilterBlock(nn.Module):
    """Target tokens attend to source tokens: post-LN cross-attention (residual) then FFN (residual)."""

    def __init__(self, hidden: int, heads: int, ffn: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, ffn), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn, hidden))
        self.norm2 = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, f_t: Tensor, f_s: Tensor, mask_s: Tensor) -> Tensor:
        """f_t (B, m, H) queries, f_s (B, n, H) keys/values, mask_s (B, n) True on real tokens -> (B, m, H)."""
        out, _ = self.attn(f_t, f_s, f_s, key_padding_mask=~mask_s.bool(), need_weights=False)
        x = self.norm1(f_t + self.dropout(out))
        return self.norm2(x + self.dropout(self.ffn(x)))


class NoiseFilter(nn.Module):
    """N: a stack of :class:`NoiseFilterBlock` over the target's token grid, mean-pooled to (B, H)."""

    def __init__(self, hidden: int, heads: int, ffn: int, blocks: int = 1) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(NoiseFilterBlock(hidden, heads, ffn) for _ in range(blocks))

    def forward(self, f_t: Tensor, mask_t: Tensor, f_s: Tensor, mask_s: Tensor, include_padding: bool) -> Tensor:
        x = f_t
        for block in self.blocks:
            x = block(x, f_s, mask_s)
        return mean_pool(x, mask_t, include_padding)


class NRFObjective(Objective):
    """NRF: noise-filter warm-up on selected parallel text (``warmup``), then noise-robust ``finetune``."""

    name = "nrf"
    train_defaults: ClassVar[dict[str, Any]] = {"fusion_weight": 0.5, "keep_column": None}

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.opts = o = parse_options(NRFOptions, ctx.options, "nrf objective option")
        self.encoder = build_text_encoder(ctx)
        hidden = self.encoder.hidden
        self.head = TextHead(hidden, o.heads, o.qk_dim)
        self.text_map = LatentMapping(hidden, o.joint_dim)  # shared by ŝ, t̂ and t̃ (one joint space)
        self.noise_filter = NoiseFilter(hidden, o.heads, o.filter_ffn or 4 * hidden, o.filter_blocks)
        self.visual = build_visual_encoder(ctx, o.visual_hidden, relu=o.visual_relu)
        self.visual_map = LatentMapping(self.visual.out_dim, o.joint_dim)
        self._noted_no_mask = False

    def stages(self) -> list[Stage]:
        warmup = [Stage("warmup", self.opts.warmup_epochs, validate=False)] if self.opts.warmup_epochs else []
        return [*warmup, Stage("finetune", self.opts.finetune_epochs)]

    def param_groups(self, stage: Stage, lr: float) -> list[dict[str, Any]]:
        modules: list[nn.Module] = [self.head, self.text_map, self.noise_filter]
        if stage.name != "warmup":  # the warm-up sees no visual input
            modules += [self.visual, self.visual_map]
        heads = [p for m in modules for p in m.parameters() if p.requires_grad]
        enc = [p for p in self.encoder.parameters() if p.requires_grad]
        groups = [
            {"params": heads, "lr": lr},
            {"params": enc, "lr": lr * self.opts.encoder_lr_scale, "lr_scale": self.opts.encoder_lr_scale},
        ]
        return [g for g in groups if g["params"]]

    def _tokens(self, tokens: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        return self.head.tokens(self.encoder(tokens)), tokens["attention_mask"]

    def data_columns(self) -> tuple[str, ...]:
        return tuple(self.opts.select_min) if self.opts.selection == "threshold" else ()

    def _selected(self, batch: dict[str, Any], size: int, device: torch.device) -> Tensor:
        if self.opts.selection == "threshold":
            cols = batch["columns"]
            keep = torch.ones(size, dtype=torch.bool, device=device)
            for name, minimum in self.opts.select_min.items():
                keep &= torch.as_tensor(cols[name], device=device) >= minimum  # NaN (no score) is not selected
            return keep
        mask = batch.get("nrf_selected")
        if mask is None:
            if not self._noted_no_mask:
                log.info("nrf: batches carry no nrf_selected mask; L_den uses every row (no parallel-data selection)")
                self._noted_no_mask = True
            return torch.ones(size, dtype=torch.bool, device=device)
        return torch.as_tensor(mask, dtype=torch.bool, device=device)

    def _den_loss(self, t_tilde: Tensor, s: Tensor, selected: Tensor) -> Tensor:
        if int(selected.sum()) < 2:  # InfoNCE needs a negative; keep the term in the graph at 0
            return t_tilde.sum() * 0.0
        tt, ss = t_tilde[selected], s[selected].detach()
        mse = (tt - ss).pow(2).sum(1).mean()
        return infonce_loss(tt, ss, tau=self.opts.tau) + self.opts.den_mse_weight * mse

    def _vt(self, text: Tensor, v: Tensor) -> Tensor:
        o = self.opts
        if o.contrastive == "triplet":
            return triplet_loss(text, v, margin=o.triplet_margin)
        return infonce_loss(v, text, tau=o.tau)

    def forward(self, batch: dict[str, Any], stage: Stage) -> dict[str, Tensor]:
        if stage.name not in ("warmup", "finetune"):
            raise UsageError(f"nrf has stages 'warmup' and 'finetune', not {stage.name!r}")
        o = self.opts
        pad = o.pool_include_padding
        f_s, m_s = self._tokens(batch["src"])
        f_t, m_t = self._tokens(batch["tgt"])
        s = self.text_map(self.head.self_pool(f_s, m_s, pad))  # ŝ (B, d)
        t = self.text_map(self.head.self_pool(f_t, m_t, pad))  # t̂ (B, d)
        t_tilde = self.text_map(self.noise_filter(f_t, m_t, f_s, m_s, pad))  # t̃ (B, d)
        selected = self._selected(batch, s.size(0), s.device)
        den = self._den_loss(t_tilde, s, selected)
        if stage.name == "warmup":  # parallel text only: the selected rows
            st = infonce_loss(s[selected], t[selected], tau=o.tau) if int(selected.sum()) >= 2 else t.sum() * 0.0
            return {"den_loss": den, "st_loss": st}
        v = self.encode_visual(batch["visual"], batch.get("visual_mask"))
        return {
            "vs_loss": self._vt(s, v),
            "vt_loss": self._vt(t, v),
            "v_filtered_loss": infonce_loss(v, t_tilde, tau=o.tau),
            "st_loss": infonce_loss(s, t, tau=o.tau),
            "sd_loss": o.sd_weight * similarity_distill_loss(t_tilde.detach(), t, v, tau=o.tau),
            "den_loss": o.den_weight * den,
        }

    def query_views(self) -> tuple[str, ...]:
        return ("tgt", "mt_en") if self.opts.fuse_mt else ("tgt",)

    def encode_visual(self, visual: Tensor, visual_mask: Tensor | None) -> Tensor:
        return self.visual_map(self.visual(visual, visual_mask))

    def encode_text(self, tokens: dict[str, Tensor], view: str) -> Tensor:
        if view not in self.query_views():
            raise UsageError(f"nrf scores the views {self.query_views()}, not {view!r}")
        f, m = self._tokens(tokens)  # target-only (or MT->source) query: the noise filter is not used
        return self.text_map(self.head.self_pool(f, m, self.opts.pool_include_padding))
