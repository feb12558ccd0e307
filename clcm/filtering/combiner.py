"""Combine per-scorer scores into one ``noise_score`` = P(noisy) in [0, 1].

Method (Bicleaner-style, no labels): the corpus's own pairs are the "clean" class and synthetic corruptions of them
(:mod:`clcm.filtering.synthetic_noise`) the "noisy" class. Every active scorer scores both; a small numpy MLP
(one tanh hidden layer, balanced logistic loss, full-batch Adam, fixed seed -> deterministic) learns P(noisy) from the
standardised scores. A plain average of the scorers' oriented z-scores (through a logistic) is the fallback when
there are too few pairs to train on. The fitted combiner is saved as JSON next to the scored shards.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clcm.filtering.base import LOWER_IS_BETTER

log = logging.getLogger(__name__)

MIN_TRAIN_PAIRS = 50  # below this the classifier would overfit; use the plain average


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


@dataclass
class Combiner:
    """A fitted combination of named score columns.

    Args:
        names: scorer names (feature order).
        directions: per scorer, HIGHER_IS_BETTER or LOWER_IS_BETTER (used by the average fallback).
        mean, std: feature standardisation (from the training data).
        kind: ``mlp`` or ``average``.
        params: MLP weights (lists) for ``mlp``.
        info: training summary (sizes, loss, per-type counts).
    """

    names: list[str]
    directions: list[str]
    mean: list[float]
    std: list[float]
    kind: str = "average"
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def _standardise(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        x = np.stack([np.asarray(scores[n], dtype=np.float64) for n in self.names], axis=1)  # (n, d)
        x = (x - np.asarray(self.mean)) / np.asarray(self.std)
        return np.nan_to_num(x, nan=0.0, posinf=8.0, neginf=-8.0).clip(-8.0, 8.0)

    def predict(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        """P(noisy) per pair (float32) from ``{scorer name: scores}``; NaN when no combinable scorer ran."""
        if not self.names:
            n = len(next(iter(scores.values()))) if scores else 0
            return np.full(n, np.nan, dtype=np.float32)
        x = self._standardise(scores)
        if self.kind == "mlp":
            p = {k: np.asarray(v) for k, v in self.params.items()}
            return _sigmoid(np.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]).astype(np.float32)
        sign = np.array([1.0 if d == LOWER_IS_BETTER else -1.0 for d in self.directions])  # +: noisier
        return _sigmoid((x * sign).mean(axis=1) * 2.0).astype(np.float32)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Combiner:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def _fit_mlp(x: np.ndarray, y: np.ndarray, seed: int, hidden: int, epochs: int, l2: float) -> dict[str, Any]:
    """Balanced logistic loss, full-batch Adam; x (n, d) standardised, y (n,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    d = x.shape[1]
    params = {
        "w1": rng.normal(0, 1 / np.sqrt(d), (d, hidden)),
        "b1": np.zeros(hidden),
        "w2": rng.normal(0, 1 / np.sqrt(hidden), hidden),
        "b2": np.zeros(()),
    }
    w = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9)) / len(y)  # class-balanced
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v2 = {k: np.zeros_like(v) for k, v in params.items()}
    lr, b1, b2, eps = 0.02, 0.9, 0.999, 1e-8
    loss = float("nan")
    for step in range(1, epochs + 1):
        h = np.tanh(x @ params["w1"] + params["b1"])  # (n, hidden)
        p = _sigmoid(h @ params["w2"] + params["b2"])  # (n,)
        loss = float(-(w * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum())
        g_logit = w * (p - y)  # (n,)
        g_h = np.outer(g_logit, params["w2"]) * (1 - h**2)
        grads = {
            "w2": h.T @ g_logit + l2 * params["w2"],
            "b2": g_logit.sum(),
            "w1": x.T @ g_h + l2 * params["w1"],
            "b1": g_h.sum(axis=0),
        }
        for k, g in grads.items():
            m[k] = b1 * m[k] + (1 - b1) * g
            v2[k] = b2 * v2[k] + (1 - b2) * g**2
            params[k] = params[k] - lr * (m[k] / (1 - b1**step)) / (np.sqrt(v2[k] / (1 - b2**step)) + eps)
    out = {k: np.asarray(v).tolist() for k, v in params.items()}
    out["final_loss"] = loss
    return out


def fit_combiner(
    clean: Mapping[str, np.ndarray],
    noisy: Mapping[str, np.ndarray],
    directions: Mapping[str, str],
    *,
    seed: int = 0,
    hidden: int = 32,
    epochs: int = 1500,
    l2: float = 1e-3,
    noise_types: Sequence[str] = (),
) -> Combiner:
    """Train on clean vs synthetic-noisy score tables (``{scorer name: scores}``); average fallback if too small.

    Args:
        clean, noisy: scores of the corpus pairs and of their corruptions, same scorer names.
        directions: scorer name -> direction (for the fallback and the saved description).
        seed: weight-init seed (training is otherwise deterministic).
        hidden, epochs, l2: MLP size, full-batch Adam steps and weight decay.
        noise_types: the corruption type of each noisy row (only recorded in ``info``).
    """
    names = sorted(clean)
    if not names:
        return Combiner([], [], [], [], info={"clean": 0, "noisy": 0, "note": "no combinable scorer"})
    x_clean = np.stack([np.asarray(clean[n], dtype=np.float64) for n in names], axis=1)
    x_noisy = np.stack([np.asarray(noisy[n], dtype=np.float64) for n in names], axis=1)
    x_all = np.concatenate([x_clean, x_noisy])
    with np.errstate(all="ignore"):
        mean = np.nan_to_num(np.nanmean(x_all, axis=0))
        std = np.nan_to_num(np.nanstd(x_all, axis=0), nan=1.0)
    std = np.where(std > 1e-6, std, 1.0)
    combiner = Combiner(names, [directions[n] for n in names], mean.tolist(), std.tolist())
    types = {t: noise_types.count(t) for t in sorted(set(noise_types))}
    combiner.info = {"clean": len(x_clean), "noisy": len(x_noisy), "noise_types": types, "seed": seed}
    if min(len(x_clean), len(x_noisy)) < MIN_TRAIN_PAIRS:
        log.warning("combiner: %d clean / %d noisy pairs is too few to train; using the plain average",
                    len(x_clean), len(x_noisy))  # fmt: skip
        return combiner
    x = combiner._standardise({n: x_all[:, i] for i, n in enumerate(names)})
    y = np.concatenate([np.zeros(len(x_clean)), np.ones(len(x_noisy))])
    params = _fit_mlp(x, y, seed, hidden, epochs, l2)
    combiner.info["final_loss"] = params.pop("final_loss")
    combiner.kind, combiner.params = "mlp", params
    return combiner
