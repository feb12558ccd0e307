"""Count-based n-gram models over integer ids, vectorised with numpy (sorted int64 keys + ``searchsorted``).

An n-gram (i1, ..., iL) is the base-``radix`` number i1 * radix^(L-1) + ... + iL, so every table is a sorted key
array plus a value array and a batch of lookups is one ``searchsorted``. No Python dicts: a model over a large corpus
stays a few arrays (fast to save, load and share across Beam workers).
"""

from __future__ import annotations

import numpy as np

DISCOUNT = 0.75  # the usual Kneser-Ney absolute discount
CHUNK = 32_768  # neighbour-list entries walked per chunk in ``between`` (bounds its temporary arrays)


def encode(ids: np.ndarray, radix: int) -> np.ndarray:
    """Rows of ids, shape (n, L), to one int64 key per row; L = 0 gives key 0 (the empty history)."""
    key = np.zeros(len(ids), dtype=np.int64)
    for j in range(ids.shape[1]):
        key = key * radix + ids[:, j]
    return key


Level = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # grams, counts, ctx keys, totals, types


def _levels(keys: np.ndarray, counts: np.ndarray, order: int, radix: int) -> list[list[Level]]:
    """Per row of ``counts`` (models over the same ``keys``), its levels, length 1 first: the gram keys and the
    context keys are shared; counts, context totals and context types (grams of count > 0) are the row's own, as
    narrow integers (whole numbers, so float64 arithmetic on them is exact, as on float64 copies)."""
    if float(radix) ** order >= 2.0**62:
        raise ValueError(f"{order}-grams over {radix} ids do not fit int64 keys")
    keep = (counts > 0).any(axis=0)
    grams, values = (keys, counts) if keep.all() else (keys[keep], counts[:, keep])  # shared, not copied
    out: list[list[Level]] = [[] for _ in values]
    for length in range(order, 0, -1):
        if length < order:  # continuation counts: distinct (length+1)-grams ending in each length-gram
            grams, inverse = np.unique(grams % radix**length, return_inverse=True)
            values = np.stack([np.bincount(inverse, weights=v > 0, minlength=len(grams)) for v in values])
        ctx, inverse = np.unique(grams // radix, return_inverse=True)
        for levels, v in zip(out, values, strict=True):
            totals = np.bincount(inverse, weights=v, minlength=len(ctx))
            types = np.bincount(inverse, weights=v > 0, minlength=len(ctx))
            levels.insert(0, (grams, whole_counts(v), ctx, whole_counts(totals), whole_counts(types)))
    return out


def whole_counts(values: np.ndarray) -> np.ndarray:
    """Whole-number counts in the narrowest of uint16 / int32 / float64 that holds them (exact: arithmetic on them
    is float64). Integer counts of at most 4 bytes are kept, not copied (views of a fold count matrix stay views)."""
    if values.dtype.kind in "ui" and values.dtype.itemsize <= 4:
        return values
    top = values.max() if values.size else 0
    return values.astype(np.uint16 if top < 2**16 else np.int32 if top < 2**31 else np.float64)


def lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` at ``query`` keys (0 where a key is absent); ``keys`` sorted."""
    out = np.zeros(len(query), dtype=values.dtype)
    if not len(keys) or not len(query):
        return out
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    found = keys[pos] == query
    out[found] = values[pos[found]]
    return out


class KneserNeyLM:
    """Interpolated Kneser-Ney LM from top-order n-gram counts (sentences padded with order-1 BOS ids).

    Lower orders use continuation counts (how many distinct words precede an n-gram); with BOS padding every
    shorter n-gram occurrence is the suffix of a top-order one, so the top-order counts are all it needs.
    """

    def __init__(
        self, keys: np.ndarray, counts: np.ndarray, order: int, radix: int, levels: list[Level] | None = None
    ) -> None:
        self.order, self.radix = order, radix
        self.levels = _levels(keys, counts[None], order, radix)[0] if levels is None else levels
        self.vocab_size = int(np.count_nonzero(self.levels[0][1])) + 1  # + 1: mass for unseen words

    @classmethod
    def several(cls, keys: np.ndarray, counts: np.ndarray, order: int, radix: int) -> list[KneserNeyLM]:
        """One LM per row of ``counts`` (cross-fitted folds) over the same ``keys``: they share their gram and context
        key arrays, and a gram some other row has but this one lacks counts 0, which reads as absent."""
        return [
            cls(keys, c, order, radix, lv) for c, lv in zip(counts, _levels(keys, counts, order, radix), strict=True)
        ]

    def prob(self, history: np.ndarray, word: np.ndarray) -> np.ndarray:
        """p(word | history) for rows of ``history`` (n, order-1) and ``word`` (n,)."""
        p = np.full(len(word), 1.0 / self.vocab_size)
        for length, (grams, values, ctx_keys, totals, types) in enumerate(self.levels, start=1):
            ctx = encode(history[:, history.shape[1] - (length - 1) :], self.radix)
            total = lookup(ctx_keys, totals, ctx)
            n_types = lookup(ctx_keys, types, ctx)
            count = lookup(grams, values, ctx * self.radix + word)
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            p = np.where(seen, np.maximum(count - DISCOUNT, 0.0) / safe + DISCOUNT * n_types / safe * p, p)
        return p


class BigramTable:
    """Maximum-likelihood bigram probabilities p(b|a), indexed both by (a, b) and by (b, a).

    A probability is computed when looked up, from the integer counts and a per-word total, so a table holds no float
    array per bigram. Tables of cross-fitted folds (see :meth:`several`) share their key arrays and the (b, a) order,
    and take their counts as given (a view of the folds' count matrix, not a copy): a bigram this fold did not count
    has p = 0 (which reads as absent and adds nothing to :meth:`between`).
    """

    def __init__(self, keys: np.ndarray, counts: np.ndarray, radix: int, shared: BigramTable | None = None) -> None:
        self.radix = radix
        if shared is None:
            keep = counts > 0
            if not keep.all():
                keys, counts = keys[keep], counts[keep]
            second = keys % radix
            by_second = np.argsort(second * radix + keys // radix, kind="stable")
            self.keys, self.keys_t = keys, (second * radix + keys // radix)[by_second]  # (a, b) and (b, a) order
            self.by_second = by_second.astype(np.int32 if len(keys) < 2**31 else np.int64)
        else:
            self.keys, self.keys_t, self.by_second = shared.keys, shared.keys_t, shared.by_second
        self.counts = counts
        self.totals = np.maximum(np.bincount(self.keys // radix, weights=counts, minlength=radix), 1)  # per a

    @classmethod
    def several(cls, keys: np.ndarray, counts: np.ndarray, radix: int) -> list[BigramTable]:
        """One table per row of ``counts`` (cross-fitted folds) over the same ``keys``, sharing their key arrays."""
        keep = (counts > 0).any(axis=0)
        if not keep.all():
            keys, counts = keys[keep], counts[:, keep]
        first = cls(keys, counts.sum(axis=0), radix)
        return [cls(first.keys, c, radix, shared=first) for c in counts]

    def _p_at(self, pos: np.ndarray, a: np.ndarray) -> np.ndarray:
        """p(b|a) of the bigrams at table positions ``pos`` whose first words are ``a``."""
        return self.counts[pos] / self.totals[a]

    def _p_of(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """p(b|a) per query (0 where the bigram is absent)."""
        return lookup(self.keys, self.counts, a * self.radix + b) / self.totals[a]

    def between(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """sum_x p(x|a) p(b|x) per query: how likely exactly one word stands between a and b.

        Walks the shorter of a's successor list and b's predecessor list for each distinct query (captions repeat
        the same word pairs, and the frequent ones, with the longest lists, most).
        """
        r = self.radix
        pairs, inverse = np.unique(a * r + b, return_inverse=True)
        a, b = pairs // r, pairs % r
        out_start, out_end = np.searchsorted(self.keys, a * r), np.searchsorted(self.keys, (a + 1) * r)
        in_start, in_end = np.searchsorted(self.keys_t, b * r), np.searchsorted(self.keys_t, (b + 1) * r)
        out_deg, in_deg = out_end - out_start, in_end - in_start
        via_out = out_deg <= in_deg
        # chunks of queries whose walks together expand to about CHUNK entries (a frequent word's list is long)
        walked = np.cumsum(np.minimum(out_deg, in_deg))
        cuts = np.unique(np.searchsorted(walked, np.arange(CHUNK, walked[-1] if len(walked) else 0, CHUNK)))
        columns = (a, b, via_out, out_start, out_deg, in_start, in_deg)
        out = np.zeros(len(pairs))
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(pairs)], strict=True):
            out[lo:hi] = self._between(*(c[lo:hi] for c in columns))
        return out[inverse.reshape(-1)]

    def _between(
        self, a: np.ndarray, b: np.ndarray, via_out: np.ndarray, out_start: np.ndarray, out_deg: np.ndarray,
        in_start: np.ndarray, in_deg: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        r = self.radix
        total = np.zeros(len(a))
        q, e = _expand(np.flatnonzero(via_out), out_start[via_out], out_deg[via_out])
        x = self.keys[e] % r  # successors x of a: p(x|a) * p(b|x)
        total += np.bincount(q, weights=self._p_at(e, a[q]) * self._p_of(x, b[q]), minlength=len(a))
        q, e = _expand(np.flatnonzero(~via_out), in_start[~via_out], in_deg[~via_out])
        x = self.keys_t[e] % r  # predecessors x of b: p(b|x) * p(x|a)
        p_bx = self._p_at(self.by_second[e], x)
        total += np.bincount(q, weights=p_bx * self._p_of(a[q], x), minlength=len(a))
        return total


def _expand(queries: np.ndarray, starts: np.ndarray, degrees: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query index, table position) for every position in [start, start + degree) of every query."""
    q = np.repeat(queries, degrees)
    offsets = np.arange(int(degrees.sum())) - np.repeat(np.cumsum(degrees) - degrees, degrees)
    return q, np.repeat(starts, degrees) + offsets
