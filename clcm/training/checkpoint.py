"""Checkpoints: everything needed to rebuild an objective for evaluation and to resume training exactly.

A checkpoint holds only tensors and plain values (dict, list, tuple, str, int, float, bool, None) and is loaded with
``torch.load(weights_only=True)``: a crafted file cannot run code, it is refused with one line (exit 3). Paths may
be object-store URLs: checkpoints are serialised in memory and written or read whole through :mod:`clcm.storage`.
"""

from __future__ import annotations

import dataclasses
import io
import os
import random
from typing import Any

import numpy as np
import torch

from clcm import storage
from clcm.errors import InputError, ModelError
from clcm.training.objectives import build_objective
from clcm.training.objectives.base import BuildContext, Objective

FORMAT = "clcm-train-2"  # -2: plain values only (numpy RNG state as a tensor), loadable with weights_only=True
_REQUIRED = {"objective": str, "context": dict, "config": dict, "model": dict, "epoch": int}


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def plain(value: Any, where: str = "checkpoint") -> Any:
    """``value`` as tensors and plain types only (numpy scalars and arrays converted); anything else raises."""
    if value is None or isinstance(value, (str, bool, int, float, torch.Tensor)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {k: plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    kind = type(value).__name__
    raise TypeError(f"{where}: {kind} cannot be stored in a checkpoint (tensors and plain values only)")


def save(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Atomic torch.save, so a crash never leaves a half-written checkpoint: a local temp file renamed into place,
    or (a URL) serialised in memory and uploaded as one object."""
    payload = plain({"format": FORMAT, **payload})
    path = os.fspath(path)
    if storage.is_url(path):
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        storage.write_bytes(path, buffer.getvalue())
        return
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint written by :func:`save` (local or URL); never runs code from the file (``weights_only=True``)."""
    if not storage.is_file(path):
        raise InputError(f"cannot read checkpoint {path}: no such file")
    try:
        source = io.BytesIO(storage.read_bytes(path)) if storage.is_url(path) else path
        ckpt = torch.load(source, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise InputError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from exc
    except Exception as exc:  # any failure to parse an untrusted file means "not a checkpoint"
        code = "GLOBAL" in str(exc)  # the weights-only unpickler refused to import a callable
        detail = "loading it would run code, refused" if code else "not a file of tensors and plain values"
        raise InputError(f"{path} is not a clcm-train checkpoint ({detail}); nothing in it was run") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else None
        hint = f" (format {found!r}, expected {FORMAT!r})" if isinstance(found, str) else ""
        raise InputError(f"{path} is not a clcm-train checkpoint{hint}")
    bad = [k for k, t in _REQUIRED.items() if not isinstance(ckpt.get(k), t)]
    if bad:
        raise InputError(f"{path} is not a complete clcm-train checkpoint (missing or wrong: {', '.join(bad)})")
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
    try:
        context = BuildContext(**c)
    except TypeError as exc:  # keys this clcm does not know: not one of its checkpoints
        raise InputError(f"checkpoint context does not fit this clcm-train: {exc}") from exc
    objective = build_objective(ckpt["objective"], context)
    try:
        objective.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise ModelError(f"checkpoint weights do not fit objective {ckpt['objective']!r}: {exc}") from exc
    return objective.to(device)
