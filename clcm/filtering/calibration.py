"""Calibrate a noise score against the corpus's clean pairs, whose own noise is estimated and taken out.

The combiner's clean class is a sample of the corpus, and a corpus holds some noise of its own. Held out (every
sample pair scored by a combiner that never trained on it), the corpus's scores follow the mixture
``(1 - pi) * C + pi * N``: C the scores of its clean pairs, N those of noise, which the synthetic corruptions stand
in for. Their survival functions (share above a value) satisfy ``S_corpus(h) >= pi * S_N(h)`` at every cut h, so
the smallest ratio over cuts in N's upper half is an upper bound of pi (on a clean corpus it is ~0), and
``S_C = (S_corpus - pi * S_N) / (1 - pi)`` estimates the clean pairs' survival function without their labels.
"""

from __future__ import annotations

import numpy as np

NOISE_SHARE_CUTS = (0.5, 0.6, 0.7, 0.8, 0.9)  # quantiles of N's scores at which pi is bounded
MAX_NOISE_SHARE = 0.5  # a corpus that is mostly noise has no clean class to learn from
GRID_POINTS = 256


def survival(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Share of ``values`` strictly above each grid point."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    return 1.0 - np.searchsorted(v, grid, side="right") / max(len(v), 1)


def estimate_noise_share(corpus: np.ndarray, noisy: np.ndarray) -> float:
    """Upper bound of the share of noise in ``corpus`` (held-out scores) given noise scores ``noisy``."""
    if not len(corpus) or not len(noisy):
        return 0.0
    cuts = np.quantile(noisy, NOISE_SHARE_CUTS)
    ratios = survival(corpus, cuts) / np.maximum(survival(noisy, cuts), 1e-9)
    return float(np.clip(ratios.min(), 0.0, MAX_NOISE_SHARE))


def clean_survival(corpus: np.ndarray, noisy: np.ndarray, share: float, grid: np.ndarray) -> np.ndarray:
    """Estimated share of the corpus's clean pairs scoring above each (ascending) grid point; non-increasing."""
    s = (survival(corpus, grid) - share * survival(noisy, grid)) / (1.0 - share)
    return np.minimum.accumulate(np.clip(s, 0.0, 1.0))


def score_grid(*values: np.ndarray, points: int = GRID_POINTS) -> np.ndarray:
    """Ascending, distinct quantiles of all values: where the calibration is tabulated."""
    v = np.concatenate([np.asarray(x, dtype=np.float64) for x in values])
    v = v[np.isfinite(v)]
    if not len(v):
        return np.zeros(1)
    return np.unique(np.quantile(v, np.linspace(0.0, 1.0, points)))


def interpolate(x: np.ndarray, grid: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Piecewise-linear lookup, constant beyond the grid's ends."""
    return np.interp(np.asarray(x, dtype=np.float64), grid, table)
