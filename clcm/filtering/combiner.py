"""Combine per-scorer scores into one calibrated ``noise_score`` in [0, 1] that cannot lose a decisive signal.

Method (Bicleaner-style, no labels): the corpus's own pairs are the "clean" class and synthetic corruptions of them
(:mod:`clcm.filtering.synthetic_noise`) the "noisy" class. Design (issue 11):

1. one-sided features: each scorer's value becomes two non-negative *excess* features, how far it lies beyond the
   clean median (in robust units, no clipping) on its bad side and on its good side. Both can only add noise
   evidence: a target far too long or a worst word that is suspiciously good (a short, truncated target) never
   makes a pair look cleaner than a typical one.
2. a monotone network: non-negative weights (a tanh hidden layer plus a linear skip term that keeps growing past the
   training range), so the raw noise logit never falls when any feature grows.
3. decisive rules: a pair that ``langid``, ``repetition`` or ``copy`` rejects at its default threshold
   (:data:`DECISIVE_RULES`) scores at least ``RULE_FLOOR`` (0.999), above every pair no rule rejects (the filter
   also drops it under that rule's own reason by default); no other score can out-vote it.
4. cross-fitted: :data:`FOLDS` networks, each trained on the pairs of the other folds (by source text) and their
   corruptions; every pair is scored by the network of its own fold, which never trained on it as "clean".
5. calibrated: ``noise_score`` is the estimated share of the corpus's clean pairs that score less noisy (their CDF,
   :mod:`clcm.filtering.calibration`), so a threshold t rejects about 1 - t of the clean pairs the rules keep.
   ``clean_rejection`` tabulates that estimate for the filter's report. Corpus pairs a decisive rule rejects are
   noise by definition: they are left out of the clean class (training and calibration).

Too few pairs to train on: an ``average`` of the bad-side excesses. The fitted combiner is saved as JSON.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from clcm import storage
from clcm.filtering.base import LOWER_IS_BETTER
from clcm.filtering.calibration import clean_survival, estimate_noise_share, interpolate, score_grid

log = logging.getLogger(__name__)

FILE_NAME = "combiner.json"  # in the score stage's models/ directory
MIN_TRAIN_PAIRS = 50  # below this the network would overfit; use the plain average
FOLDS = 3
DECISIVE_RULES = ("copy", "repetition", "langid")  # in reason precedence: a copied target is "untranslated"
# A pair a decisive rule rejects scores in [RULE_FLOOR, 1] (higher the further past the threshold); every other
# pair below RULE_FLOOR, so a rule's reject outranks every pair no rule rejects.
RULE_FLOOR = 0.999
RAW_DECIMALS = 9
TIE_BREAK = 1e-3  # share of noise_score given to the raw logit, so pairs beyond every clean one stay ordered
AVERAGE_SCALE = 3.0  # average fallback: a mean excess of 3 robust sd's beyond the clean median -> 0.63
REJECTION_GRID = tuple(np.round(np.concatenate([np.arange(0.5, 0.95, 0.01), np.arange(0.95, 1.0, 0.001)]), 4))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def fold_of(key: str | None, folds: int) -> int:
    """The combiner fold of a pair, from its source text (a corruption keeps its pair's source, so its fold)."""
    return zlib.crc32(("combiner\t" + (key or "")).encode("utf-8")) % folds


def _matrix(scores: Mapping[str, Any], names: Sequence[str]) -> np.ndarray:
    return np.stack([np.asarray(scores[n], dtype=np.float64) for n in names], axis=1).reshape(-1, len(names))


def excess_features(x: np.ndarray, median: np.ndarray, scale: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """(n, 2d): per scorer, max(z, 0) and max(-z, 0) with z the noisier-is-positive robust z-score; NaN -> 0."""
    z = np.nan_to_num(sign * (x - median) / scale, nan=0.0, posinf=1e6, neginf=-1e6)
    return np.concatenate([np.maximum(z, 0.0), np.maximum(-z, 0.0)], axis=1)


def _robust_location_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        med = np.nan_to_num(np.nanmedian(x, axis=0)) if len(x) else np.zeros(x.shape[1])
        mad = 1.4826 * np.nanmedian(np.abs(x - med), axis=0) if len(x) else np.ones(x.shape[1])
        std = np.nanstd(x, axis=0) if len(x) else np.ones(x.shape[1])
    scale = np.where(np.nan_to_num(mad) > 1e-6, mad, np.where(np.nan_to_num(std) > 1e-6, std, 1.0))
    return med, np.nan_to_num(scale, nan=1.0)


def _raw_logit(f: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    w1, b1, w2, a, b2 = (np.asarray(p[k], dtype=np.float64) for k in ("w1", "b1", "w2", "a", "b2"))
    # Row-wise products, not BLAS matmuls: a BLAS kernel's rounding depends on the batch's shape, and a pair's
    # noise_score must not depend on which batch it was scored in.
    h = np.tanh((f[:, :, None] * w1[None]).sum(axis=1) + b1)
    return (h * w2.reshape(1, -1)).sum(axis=1) + (f * a.reshape(1, -1)).sum(axis=1) + b2


def _fit_monotone(f: np.ndarray, y: np.ndarray, seed: int, hidden: int, epochs: int, l2: float) -> dict[str, Any]:
    """Balanced logistic loss, full-batch Adam, weights projected onto >= 0 (monotone in every feature)."""
    rng = np.random.default_rng(seed)
    d = f.shape[1]
    p = {
        "w1": np.abs(rng.normal(0, 1 / np.sqrt(d), (d, hidden))),
        "b1": rng.normal(0, 0.5, hidden),
        "w2": np.abs(rng.normal(0, 1 / np.sqrt(hidden), hidden)),
        "a": np.full(d, 0.01),
        "b2": np.zeros(()),
    }
    nonneg = ("w1", "w2", "a")
    w = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9)) / len(y)  # class-balanced
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    lr, beta1, beta2, eps = 0.03, 0.9, 0.999, 1e-8
    for step in range(1, epochs + 1):
        h = np.tanh(f @ p["w1"] + p["b1"])
        prob = _sigmoid(h @ p["w2"] + f @ p["a"] + p["b2"])
        g = w * (prob - y)
        g_h = np.outer(g, p["w2"]) * (1 - h**2)
        grads = {"w2": h.T @ g + l2 * p["w2"], "a": f.T @ g + l2 * p["a"], "b2": g.sum(),
                 "w1": f.T @ g_h + l2 * p["w1"], "b1": g_h.sum(axis=0)}  # fmt: skip
        for k, gk in grads.items():
            m[k] = beta1 * m[k] + (1 - beta1) * gk
            v2[k] = beta2 * v2[k] + (1 - beta2) * gk**2
            p[k] = p[k] - lr * (m[k] / (1 - beta1**step)) / (np.sqrt(v2[k] / (1 - beta2**step)) + eps)
            if k in nonneg:
                p[k] = np.maximum(p[k], 0.0)
    return {k: np.asarray(v).tolist() for k, v in p.items()}


def _rank_auc(neg: np.ndarray, pos: np.ndarray) -> float:
    """P(pos > neg), ties half (the held-out separation of the synthetic noise; for the manifest)."""
    if not len(neg) or not len(pos):
        return float("nan")
    both = np.sort(neg)
    below = np.searchsorted(both, pos, side="left")
    ties = np.searchsorted(both, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(neg) * len(pos)))


@dataclass
class Combiner:
    """A fitted combination of named score columns (see the module docstring).

    Args:
        names: scorer names (feature order).
        directions: per scorer, HIGHER_IS_BETTER or LOWER_IS_BETTER.
        kind: ``mlp`` (cross-fitted monotone networks) or ``average`` (too little data).
        folds: per fold, the clean ``median`` / ``scale`` of every scorer and the network ``params``.
        calibration: ``grid`` of raw logits and the estimated clean ``cdf`` at each.
        rules: decisive scorer -> threshold (``noise_score >= RULE_FLOOR`` beyond it).
        clean_rejection: ``thresholds`` and the estimated share of clean pairs above each (``rates``).
        info: training summary (sizes, per-type counts, noise share estimate, held-out AUC, small-corpus note).
    """

    names: list[str]
    directions: list[str]
    kind: str = "average"
    folds: list[dict[str, Any]] = field(default_factory=list)
    calibration: dict[str, list[float]] = field(default_factory=dict)
    rules: dict[str, float] = field(default_factory=dict)
    clean_rejection: dict[str, list[float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def _sign(self) -> np.ndarray:
        return np.array([1.0 if d == LOWER_IS_BETTER else -1.0 for d in self.directions])

    def _fold_raw(self, x: np.ndarray, fold: Mapping[str, Any]) -> np.ndarray:
        f = excess_features(x, np.asarray(fold["median"]), np.asarray(fold["scale"]), self._sign)
        raw = _raw_logit(f, fold["params"]) if self.kind == "mlp" else f[:, : len(self.names)].mean(axis=1)
        # rounded: matrix products of different batch sizes differ in the last bits, and tied pairs (equal scores)
        # sit on a step of the calibration table, where those bits would decide the score
        return np.round(raw, RAW_DECIMALS)

    def raw(self, scores: Mapping[str, Any], keys: Sequence[str | None] | None = None) -> np.ndarray:
        """The uncalibrated noise logit per pair; ``keys`` (source texts) pick each pair's fold."""
        x = _matrix(scores, self.names)
        if len(self.folds) == 1 or keys is None:
            return np.mean([self._fold_raw(x, fold) for fold in self.folds], axis=0) if self.folds else x[:, 0] * 0
        which = np.array([fold_of(k, len(self.folds)) for k in keys], dtype=np.int64)
        out = np.zeros(len(x))
        for k, fold in enumerate(self.folds):
            rows = which == k
            if rows.any():
                out[rows] = self._fold_raw(x[rows], fold)
        return out

    def rule_excess(self, scores: Mapping[str, Any]) -> np.ndarray:
        """Per pair, how far past its threshold the worst decisive rule is (relative; <= 0: no rule fires)."""
        n = len(next(iter(scores.values()))) if scores else 0
        worst = np.zeros(n)
        for name, threshold in self.rules.items():
            sign = 1.0 if self.directions[self.names.index(name)] == LOWER_IS_BETTER else -1.0
            past = np.nan_to_num(sign * (np.asarray(scores[name], dtype=np.float64) - threshold), nan=0.0)
            worst = np.maximum(worst, past / max(abs(threshold), 0.1))
        return worst

    def calibrate(self, raw: np.ndarray, scores: Mapping[str, Any]) -> np.ndarray:
        """noise_score from raw logits: the clean CDF (plus a tie-break), at least RULE_FLOOR where a rule fires."""
        if self.calibration:
            cdf = interpolate(raw, np.asarray(self.calibration["grid"]), np.asarray(self.calibration["cdf"]))
            noise = (1 - TIE_BREAK) * cdf + TIE_BREAK * _sigmoid(raw)
        else:
            noise = 1.0 - np.exp(-np.maximum(raw, 0.0) / AVERAGE_SCALE)
        past = self.rule_excess(scores)
        return np.where(past > 0, 1.0 - (1.0 - RULE_FLOOR) * np.exp(-past), RULE_FLOOR * noise)

    def predict(self, scores: Mapping[str, Any], keys: Sequence[str | None] | None = None) -> np.ndarray:
        """noise_score per pair (float32) from ``{scorer name: scores}``; NaN when no combinable scorer ran.

        Args:
            scores: scorer name -> scores (extra names are ignored).
            keys: the pairs' source texts: each pair is scored by the fold model that never trained on it.
        """
        if not self.names:
            n = len(next(iter(scores.values()))) if scores else 0
            return np.full(n, np.nan, dtype=np.float32)
        return self.calibrate(self.raw(scores, keys), scores).astype(np.float32)

    def expected_clean_rejection(self, threshold: float) -> float | None:
        """Estimated share of the corpus's clean pairs with noise_score above ``threshold`` (None: not tabulated)."""
        if not self.clean_rejection:
            return None
        t, r = np.asarray(self.clean_rejection["thresholds"]), np.asarray(self.clean_rejection["rates"])
        return round(float(np.interp(threshold, t, r)), 4)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    def save(self, path: str | os.PathLike) -> None:
        """Write the combiner's JSON (local path or object-store URL, atomically)."""
        storage.write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Combiner:
        """A combiner from its JSON (plain numbers and names: loading runs no code)."""
        return cls(**json.loads(storage.read_text(path)))


def fit_combiner(
    clean: Mapping[str, np.ndarray],
    noisy: Mapping[str, np.ndarray],
    directions: Mapping[str, str],
    *,
    clean_keys: Sequence[str | None] | None = None,
    noisy_keys: Sequence[str | None] | None = None,
    seed: int = 0,
    folds: int = FOLDS,
    hidden: int = 16,
    epochs: int = 600,
    l2: float = 1e-4,
    noise_types: Sequence[str] = (),
    rules: Mapping[str, float] | None = None,
) -> Combiner:
    """Train on clean vs synthetic-noisy score tables (``{scorer name: scores}``), cross-fitted by key.

    Args:
        clean, noisy: scores of the corpus pairs and of their corruptions, same scorer names.
        directions: scorer name -> direction.
        clean_keys, noisy_keys: source text per row (a corruption's is its clean pair's): they pick the folds.
            None: rows are assigned to folds in turn.
        seed: weight-init seed (training is otherwise deterministic).
        folds: cross-fitting folds (1: one network, no held-out calibration).
        hidden, epochs, l2: network size, full-batch Adam steps and weight decay.
        noise_types: the corruption type of each noisy row (recorded in ``info``).
        rules: decisive scorer -> threshold (None: the active ones of DECISIVE_RULES at their default thresholds).
    """
    names = sorted(clean)
    if not names:
        return Combiner([], [], info={"clean": 0, "noisy": 0, "note": "no combinable scorer"})
    if rules is None:
        from clcm.filtering.registry import SCORERS

        rules = {n: SCORERS[n].default_threshold for n in DECISIVE_RULES if n in names}
    x_clean, x_noisy = _matrix(clean, names), _matrix(noisy, names)
    combiner = Combiner(names, [directions[n] for n in names], rules=dict(rules))
    types = {t: list(noise_types).count(t) for t in sorted(set(noise_types))}
    combiner.info = {"clean": len(x_clean), "noisy": len(x_noisy), "noise_types": types, "seed": seed}
    if min(len(x_clean), len(x_noisy)) < MIN_TRAIN_PAIRS:
        log.warning("combiner: %d clean / %d noisy pairs is too few to train; using the plain average",
                    len(x_clean), len(x_noisy))  # fmt: skip
        med, scale = _robust_location_scale(x_clean if len(x_clean) else x_noisy)
        combiner.folds = [{"median": med.tolist(), "scale": scale.tolist()}]
        return combiner
    folds = max(1, folds)

    def fold_ids(keys: Sequence[str | None] | None, n: int) -> np.ndarray:
        return np.arange(n) % folds if keys is None else np.array([fold_of(k, folds) for k in keys], dtype=np.int64)

    fc, fn = fold_ids(clean_keys, len(x_clean)), fold_ids(noisy_keys, len(x_noisy))
    table_c, table_n = ({n: x[:, i] for i, n in enumerate(names)} for x in (x_clean, x_noisy))
    # corpus pairs a decisive rule rejects are noise, not "clean": they stay out of training and calibration
    ok_c, ok_n = combiner.rule_excess(table_c) <= 0, combiner.rule_excess(table_n) <= 0
    combiner.kind = "mlp"
    held_c, held_n = np.zeros(len(x_clean)), np.zeros(len(x_noisy))
    sign = combiner._sign
    for k in range(folds):
        train_c, train_n = ((fc != k) & ok_c, fn != k) if folds > 1 else (ok_c, fn == fn)
        med, scale = _robust_location_scale(x_clean[train_c])
        f = excess_features(np.concatenate([x_clean[train_c], x_noisy[train_n]]), med, scale, sign)
        y = np.concatenate([np.zeros(int(train_c.sum())), np.ones(int(train_n.sum()))])
        params = _fit_monotone(f, y, seed + k, hidden, epochs, l2)
        fold = {"median": med.tolist(), "scale": scale.tolist(), "params": params}
        combiner.folds.append(fold)
        held_c[fc == k] = combiner._fold_raw(x_clean[fc == k], fold)
        held_n[fn == k] = combiner._fold_raw(x_noisy[fn == k], fold)
    share = estimate_noise_share(held_c[ok_c], held_n[ok_n])
    grid = score_grid(held_c[ok_c], held_n[ok_n])
    cdf = 1.0 - clean_survival(held_c[ok_c], held_n[ok_n], share, grid)
    combiner.calibration = {"grid": grid.tolist(), "cdf": cdf.tolist()}
    final_c, final_n = combiner.calibrate(held_c, table_c)[ok_c], combiner.calibrate(held_n, table_n)[ok_n]
    t = np.asarray(REJECTION_GRID)
    combiner.clean_rejection = {"thresholds": t.tolist(),
                                "rates": np.round(clean_survival(final_c, final_n, share, t), 5).tolist()}  # fmt: skip
    combiner.info["rule_rejected_in_sample"] = int((~ok_c).sum())
    combiner.info |= {"folds": folds, "noise_share_estimate": round(share, 4),
                      "held_out_auc": round(_rank_auc(held_c, held_n), 4)}  # fmt: skip
    return combiner
