"""Checkpoints: everything needed to rebuild an objective for evaluation and to resume training exactly."""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clcm.errors import InputError, ModelError
from clcm.training.objectives import build_objective
from clcm.training.objectives.base import BuildContext, Objective

FORMAT = "clcm-train-1"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, payload: dict[str, Any]) -> None:
    """Atomic torch.save (temp file + rename) so a crash never leaves a half-written checkpoint."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save({"format": FORMAT, **payload}, tmp)
    os.replace(tmp, path)


def load(path: str | Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as exc:
        raise InputError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InputError(f"{path} is not a clcm-train checkpoint")
    return ckpt


def context_dict(ctx: BuildContext) -> dict[str, Any]:
    d = dataclasses.asdict(ctx)
    d["options"] = dict(ctx.options)
    return d


def rebuild(ckpt: dict[str, Any], device: torch.device) -> Objective:
    """The objective of a checkpoint with its weights loaded, on ``device``."""
    c = dict(ckpt["context"])
    if c.get("trainable_layers") is not None:
        c["trainable_layers"] = tuple(c["trainable_layers"])
    objective = build_objective(ckpt["objective"], BuildContext(**c))
    try:
        objective.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise ModelError(f"checkpoint weights do not fit objective {ckpt['objective']!r}: {exc}") from exc
    return objective.to(device)
