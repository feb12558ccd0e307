"""Run-time helpers shared by training and evaluation: device and AMP choice, tokenizer loading, seeding."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from clcm.errors import ModelError, UsageError
from clcm.hub import check_model
from clcm.training.config import TrainConfig
from clcm.training.data import Tokenize


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a ModelError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"--device {name} requested but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise UsageError(f"bad --device {name!r}: {exc}") from exc


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``cfg.amp`` (resolved: never None) on ``device``; None = fp32."""
    if device.type != "cuda" or cfg.amp == "off":
        return None
    if cfg.amp not in ("auto", "bf16", "fp16"):
        raise UsageError(f"amp must be auto, bf16, fp16 or off, not {cfg.amp!r}")
    if cfg.amp == "bf16" or (cfg.amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def load_tokenizer(name: str) -> Any:
    from transformers import AutoConfig, AutoTokenizer

    check_model(name, what="text model")  # one line, in seconds, for a missing directory or an uncached model
    try:
        return AutoTokenizer.from_pretrained(name), AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load tokenizer/config of {name!r}: {exc}") from exc


def make_tokenize(cfg: TrainConfig, tokenizer: Any) -> Tokenize:
    max_tokens = cfg.max_tokens if cfg.max_tokens is not None else 250  # configs saved before objective defaults
    return Tokenize(tokenizer, lowercase=cfg.lowercase, clean_src=cfg.clean_src, max_tokens=max_tokens)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
