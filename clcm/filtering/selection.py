"""Selection over persisted scores: hard rules, noise threshold, keep-fraction, min-per-media, NRF subset.

Pure numpy; never re-scores. Decision order (the first failing step names the ``reject_reason``):
1. hard rules: ``score_<name>`` beyond a threshold in the scorer's bad direction -> that scorer's reason; the
   decisive rules (``langid``, ``repetition``, ``copy`` at their default thresholds) are on by default wherever
   their columns exist (``default_rules=False`` turns them off; ``rules`` adds rules or overrides thresholds);
2. ``noise_score > threshold`` -> ``noise_score``;
3. ``keep_fraction``: only the best F of all pairs by ``noise_score`` survive -> ``below_keep_fraction``;
4. ``min_per_media`` K: every media item keeps its best K pairs by ``noise_score`` among those dropped by steps
   2-3 (hard-rule failures are never rescued: a wrong-language caption is no caption); such pairs are kept
   *despite* their score and marked ``rescued`` (the report counts them);
5. NRF (methods.md §3.2): among kept pairs, the top ``nrf_fraction`` by quality q are ``nrf_selected``;
   q = z(score_embedding) + z(score_bt_chrf) when those columns exist (the spec's LaBSE cosine + BT chrF),
   else q = -noise_score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from clcm.configs import FieldError, check_config, option
from clcm.filtering.base import HIGHER_IS_BETTER
from clcm.filtering.combiner import DECISIVE_RULES
from clcm.filtering.registry import SCORERS

NOISE_REASON = "noise_score"
FRACTION_REASON = "below_keep_fraction"
NRF_QUALITY = ("embedding", "bt_chrf")
# noise_score is the estimated share of clean pairs scoring less noisy (the combiner's calibration), so this drops
# about 3% of clean pairs on top of the hard rules. Measured in benchmarks/results/filter_quality*.json.
DEFAULT_THRESHOLD = 0.97


@dataclass(frozen=True)
class SelectionConfig:
    """Args:
    threshold: drop pairs with noise_score above it (None: no threshold); noise_score t means "about 1 - t of
        clean pairs score noisier", so 0.97 drops ~3% of clean pairs (report.json states the estimate). At most 1
        and finite (NaN, inf or 1.5 would silently keep everything); a negative threshold drops every pair.
    keep_fraction: keep the best F in (0, 1] by noise_score (None: no limit).
    rules: scorer name -> threshold of a hard rule (None: that scorer's default threshold).
    default_rules: also apply the decisive rules (DECISIVE_RULES, default thresholds) whose columns exist.
    min_per_media: keep at least the best K pairs of every media item (0: off).
    nrf_fraction: share of kept pairs marked ``nrf_selected`` (methods.md §3.2 uses top 50%).
    """

    threshold: float | None = option(DEFAULT_THRESHOLD, le=1)  # noise_score <= 1: above 1 would keep every pair
    keep_fraction: float | None = option(None, gt=0, le=1)
    rules: Mapping[str, float | None] = field(default_factory=dict)
    default_rules: bool = True
    min_per_media: int = option(0, ge=0)
    nrf_fraction: float = option(0.5, ge=0, le=1)  # the NRF spec's top-k = 50%

    def __post_init__(self) -> None:
        # a NaN or infinite threshold never (or always) fires: filtering switched off without a word
        rules = self.rules.items() if isinstance(self.rules, Mapping) else ()
        bad = {name: v for name, v in rules if isinstance(v, float) and not math.isfinite(v)}
        if bad:
            raise FieldError("rules", f"hard-rule thresholds must be finite numbers, got {bad}")
        check_config(self)  # types (NaN is not a number there) and declared ranges (threshold at most 1)
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise FieldError("threshold", f"must be a finite number at most 1 (or null), got {self.threshold}")


@dataclass
class Selection:
    keep: np.ndarray  # bool (n,)
    reason: list[str | None]
    nrf_selected: np.ndarray  # bool (n,)
    rule_thresholds: dict[str, float]
    rescued: np.ndarray  # bool (n,): kept by min_per_media although noise_score / keep_fraction dropped it


def rule_threshold(name: str, value: float | None) -> float:
    return SCORERS[name].default_threshold if value is None else float(value)


def active_rules(config: SelectionConfig, available: Sequence[str]) -> dict[str, float | None]:
    """The hard rules to apply: the default decisive ones present in ``available``, then the configured ones."""
    defaults = {n: None for n in DECISIVE_RULES if n in available} if config.default_rules else {}
    return defaults | dict(config.rules)


def _zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    sd = np.nanstd(x) if np.isfinite(x).any() else 0.0
    z = (x - np.nanmean(x)) / sd if sd > 0 else np.zeros_like(x)
    return np.nan_to_num(z)


def select(
    noise: np.ndarray, scores: Mapping[str, np.ndarray], media_ids: Sequence[str], config: SelectionConfig
) -> Selection:
    """Decide keep / reason / nrf_selected for every pair.

    Args:
        noise: noise_score per pair (NaN counts as noisy for threshold and fraction).
        scores: scorer name -> scores (the columns hard rules and NRF quality read).
        media_ids: media id per pair (for min_per_media).
        config: the selection settings.
    """
    n = len(noise)
    noise = np.nan_to_num(np.asarray(noise, dtype=np.float64), nan=np.inf)
    reason: list[str | None] = [None] * n
    thresholds: dict[str, float] = {}
    for name, value in active_rules(config, list(scores)).items():
        if name not in scores:
            raise KeyError(name)
        t = thresholds[name] = rule_threshold(name, value)
        s = np.asarray(scores[name], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            bad = s < t if SCORERS[name].direction == HIGHER_IS_BETTER else s > t
        for i in np.flatnonzero(bad):
            reason[i] = reason[i] or SCORERS[name].reason
    hard = np.array([r is not None for r in reason], dtype=bool)
    if config.threshold is not None:
        for i in np.flatnonzero(noise > config.threshold):
            reason[i] = reason[i] or NOISE_REASON
    if config.keep_fraction is not None:
        n_keep = int(np.floor(config.keep_fraction * n + 1e-9))
        order = np.argsort(noise, kind="stable")
        for i in order[n_keep:]:
            reason[int(i)] = reason[int(i)] or FRACTION_REASON
    keep = np.array([r is None for r in reason], dtype=bool)
    rescued = np.zeros(n, dtype=bool)
    if config.min_per_media > 0:
        by_media: dict[str, list[int]] = {}
        for i, m in enumerate(media_ids):
            by_media.setdefault(m, []).append(i)
        for idx in by_media.values():
            short = config.min_per_media - int(keep[idx].sum())
            if short <= 0:
                continue
            rescuable = sorted((i for i in idx if not keep[i] and not hard[i]), key=lambda i: (noise[i], i))
            for i in rescuable[:short]:
                keep[i], reason[i], rescued[i] = True, None, True
    quality = (
        sum(_zscore(scores[q]) for q in NRF_QUALITY if q in scores)
        if any(q in scores for q in NRF_QUALITY)
        else -noise
    )
    nrf = np.zeros(n, dtype=bool)
    kept = np.flatnonzero(keep)
    n_sel = int(round(config.nrf_fraction * len(kept)))
    if n_sel:
        order = kept[np.argsort(-np.asarray(quality)[kept], kind="stable")]
        nrf[order[:n_sel]] = True
    return Selection(keep, reason, nrf, thresholds, rescued)
