"""Builders shared by the objectives: the text encoder and the visual encoder from a BuildContext."""

from __future__ import annotations

from torch import nn

from clcm.training.models import FrameEncoder, ImageEncoder, TextEncoder
from clcm.training.objectives.base import BuildContext


def build_text_encoder(ctx: BuildContext) -> TextEncoder:
    return TextEncoder(ctx.text_model, ctx.trainable_layers)


def build_visual_encoder(ctx: BuildContext, hidden: int | None, relu: bool = True) -> nn.Module:
    """Frame sequences: NRCCR's one-layer temporal transformer (hidden 1024 by default); images: Linear (+ReLU)."""
    if ctx.frames:
        return FrameEncoder(ctx.visual_dim, hidden or 1024)
    return ImageEncoder(ctx.visual_dim, hidden or ctx.visual_dim, relu=relu)
