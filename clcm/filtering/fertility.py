"""Expected target length from the source words: per-word "fertility" regression fitted on the corpus (numpy only).

Target word count ~ bias + sum over source words of fertility(word), ridge least squares solved by conjugate
gradients with ``np.bincount`` mat-vecs (no dense design matrix). Articles get ~0 target words in Czech, "is
sitting" ~1 in total, a noun ~1: the residual (actual - expected count) is far sharper than a global length ratio.
Measured on Multi30K en-cs val: a one-word drop lowers the residual by 1, AUC 0.73 alone (length ratio 0.60).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clcm.filtering.id_seqs import IdSeqs, as_flat

RIDGE = 1.0  # pulls rare words towards 0 (the bias and common words carry the length)
CG_ITERS = 100  # the residual norm stops changing after ~60 on 29k captions


def fit_fertility(
    src_ids: Sequence[np.ndarray] | IdSeqs, tgt_lens: np.ndarray, n_src: int
) -> tuple[np.ndarray, float]:
    """(fertility per source word id, bias) minimising ||len - bias - sum fert||^2 + RIDGE * ||fert||^2."""
    flat, sent = _flatten(src_ids)
    n = len(src_ids)

    def design(w: np.ndarray) -> np.ndarray:  # X @ w, w = (fertilities..., bias)
        return np.bincount(sent, weights=w[flat], minlength=n) + w[-1]

    def design_t(r: np.ndarray) -> np.ndarray:  # X.T @ r
        return np.append(np.bincount(flat, weights=r[sent], minlength=n_src), r.sum())

    ridge = np.append(np.full(n_src, RIDGE), 0.0)
    y = np.asarray(tgt_lens, dtype=np.float64)
    w = np.zeros(n_src + 1)
    r = design_t(y)  # residual of the normal equations (w = 0)
    p, rr = r.copy(), float(r @ r)
    for _ in range(CG_ITERS):
        if rr < 1e-12:
            break
        ap = design_t(design(p)) + ridge * p
        alpha = rr / float(p @ ap)
        w += alpha * p
        r -= alpha * ap
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return w[:-1], float(w[-1])


def expected_lengths(
    src_ids: Sequence[np.ndarray], fertility: np.ndarray, bias: float, fallback: float | None = None
) -> np.ndarray:
    """bias + sum of the words' fertilities; an unknown word (id -1) counts as ``fallback`` (default: the mean
    fertility of the words, id 0 excluded)."""
    if fallback is None:
        fallback = float(fertility[1:].mean()) if len(fertility) > 1 else 1.0
    flat, sent = _flatten(src_ids)
    per_word = np.where(flat >= 0, fertility[np.maximum(flat, 0)], fallback)
    return bias + np.bincount(sent, weights=per_word, minlength=len(src_ids))


def _flatten(seqs: Sequence[np.ndarray] | IdSeqs) -> tuple[np.ndarray, np.ndarray]:
    """All ids of all sequences in one array, and the sequence index of each."""
    flat = as_flat(seqs)
    return flat.ids.astype(np.int64), np.repeat(np.arange(len(flat)), flat.lengths())
