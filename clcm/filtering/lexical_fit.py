"""Fitting the (cross-fitted) IBM-1 models of :mod:`clcm.filtering.lexical_model` in bounded working memory.

The E-step touches every (target occurrence, source word) combination of the fit corpus (~150 per caption pair).
Laid out flat for the whole corpus, those are a dozen int64/float64 arrays of that length alive at once (~13 KB per
pair: 370 MB for 29,000 pairs). Here the corpus is cut into chunks of at most :data:`CHUNK_COMBINATIONS`
combinations, each laid out in pieces of at most :data:`LAYOUT_COMBINATIONS` (the layout's temporaries are the
largest arrays of the fit); what stays alive across the fit is the flat word ids (:class:`IdSeqs`), one int32 key
index per combination and a few small arrays per occurrence, and each EM step streams over the chunks.
The chunk bounds fix the order of the EM's floating-point sums: the fit is the same at every layout piece size.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clcm.filtering.fertility import fit_fertility
from clcm.filtering.id_seqs import IdSeqs
from clcm.filtering.lexical_model import TYPICAL_PRIOR, Direction, LexicalModel, Vocab, best_real, pair_layout

CHUNK_COMBINATIONS = 1 << 20  # combinations per EM chunk (its sums' order: changing it changes the last bits)
LAYOUT_COMBINATIONS = 1 << 17  # combinations laid out at a time (~10 MB of temporaries)
# Entries kept per direction (the highest t(f|e) in any fold): the fitted tables then stay ~4 MB a direction (5
# folds: 8 B key + 5 x 4 B log-probs each) at any corpus size instead of growing with it (625k entries, 17.5 MB, on
# 29k Multi30K en-cs pairs, where the 150,000th entry is t ~ 2e-8 s2t, 6e-6 t2s: almost unseen, 1e-7, anyway).
MAX_ENTRIES = 150_000


@dataclass
class Chunk:
    """The combinations of a run of sentence pairs: ``key`` (int32 index into the direction's sorted key table, per
    combination), and per target occurrence its first combination (``starts``, chunk-local), its sentence (global
    index) and its word."""

    key: np.ndarray
    starts: np.ndarray
    sentence: np.ndarray
    f_word: np.ndarray

    def widths(self) -> np.ndarray:
        return np.diff(np.append(self.starts, len(self.key)))


def chunk_bounds(e_ids: IdSeqs, f_ids: IdSeqs, budget: int) -> list[tuple[int, int]]:
    """Sentence ranges of at most ``budget`` combinations each (a longer single sentence gets a range alone)."""
    combos = f_ids.lengths() * (e_ids.lengths() + 1)
    bounds, start, total = [], 0, 0
    for i, c in enumerate(combos.tolist()):
        if total and total + c > budget:
            bounds.append((start, i))
            start, total = i, 0
        total += c
    if start < len(combos):
        bounds.append((start, len(combos)))
    return bounds


def chunked_layout(e_ids: IdSeqs, f_ids: IdSeqs, n_f: int, budget: int) -> tuple[np.ndarray, list[Chunk]]:
    """The sorted table of co-occurring keys ``e * n_f + f`` and the corpus as :class:`Chunk` s indexing it."""
    pieces = []  # per layout piece: its distinct keys, each combination's index into them, its occurrences
    chunk_pieces = []  # per chunk: the range of its pieces
    for lo, hi in chunk_bounds(e_ids, f_ids, budget):
        first = len(pieces)
        for a, b in chunk_bounds(e_ids.span(lo, hi), f_ids.span(lo, hi), LAYOUT_COMBINATIONS):
            layout = pair_layout(e_ids.span(lo + a, lo + b), f_ids.span(lo + a, lo + b))
            local_keys, local = np.unique(layout.e_word * n_f + layout.f_word, return_inverse=True)
            occurrences = (layout.starts, layout.sentence + lo + a, layout.f_word[layout.starts])
            pieces.append((local_keys, local.astype(np.int32), *occurrences))
            del layout, local
        chunk_pieces.append((first, len(pieces)))
    keys = np.unique(np.concatenate([p[0] for p in pieces])) if pieces else np.zeros(0, dtype=np.int64)
    chunks = []
    for first, last in chunk_pieces:
        key, starts, sentence, f_word = [], [], [], []
        offset = 0
        for i in range(first, last):
            local_keys, local, piece_starts, piece_sentence, piece_f_word = pieces[i]
            pieces[i] = None  # type: ignore[call-overload]  # freed as the chunk is assembled
            key.append(np.searchsorted(keys, local_keys).astype(np.int32)[local])
            starts.append((piece_starts + offset).astype(np.int32))
            sentence.append(piece_sentence.astype(np.int32))
            f_word.append(piece_f_word.astype(np.int32))
            offset += len(local)
        chunks.append(Chunk(*(np.concatenate(a) for a in (key, starts, sentence, f_word))))
    return keys, chunks


@dataclass
class FoldPart:
    """A chunk's combinations of the pairs one model is fitted on: their keys and occurrences."""

    key: np.ndarray
    starts: np.ndarray
    widths: np.ndarray
    f_word: np.ndarray


def fold_parts(chunks: Sequence[Chunk], group: np.ndarray, k: int) -> list[FoldPart]:
    """The combinations of every chunk whose sentence's ``group`` is not ``k`` (empty chunks left out)."""
    parts = []
    for c in chunks:
        occ_in = group[c.sentence] != k
        if not occ_in.any():
            continue
        rows = np.repeat(occ_in, c.widths())
        starts = (np.cumsum(rows) - 1)[c.starts[occ_in]]  # intp: the EM's reduceat and repeat take it uncast
        key = c.key[rows]
        parts.append(FoldPart(key, starts, np.diff(np.append(starts, len(key))), c.f_word[occ_in]))
    return parts


def em(parts: Sequence[FoldPart], key_e: np.ndarray, n_keys: int, n_e: int, iters: int) -> np.ndarray:
    """EM for IBM Model 1 (uniform start), streaming over ``parts``: t per key (0 for keys no part uses)."""
    t = np.ones(n_keys)  # uniform start (the first E-step normalises per occurrence, so the constant cancels)
    if not parts:
        return t * 0.0
    for _ in range(iters):
        counts = np.zeros(n_keys)
        for part in parts:
            p = t[part.key]
            denom = np.add.reduceat(p, part.starts)  # per occurrence: contiguous, faster than a bincount over occ
            p /= np.repeat(denom, part.widths)
            counts += np.bincount(part.key, weights=p, minlength=n_keys)
            del p, denom
        totals = np.bincount(key_e, weights=counts, minlength=n_e)
        t = counts / np.maximum(totals[key_e], 1e-300)
    return t


def fit_direction(
    chunks: Sequence[Chunk], keys: np.ndarray, group: np.ndarray, k: int, n_e: int, n_f: int, iters: int
) -> Direction:
    """t(f|e) of the model fitted on the pairs whose group is not ``k``, with each f word's typical best log-prob.

    The models share ``keys``: a key none of this model's pairs has gets NaN (read as unseen, see
    :meth:`Direction.lookup`), which costs 4 bytes per key instead of a table of this model's own keys (12).
    """
    key_e = keys // n_f
    parts = fold_parts(chunks, group, k)
    logp = np.log(np.maximum(em(parts, key_e, len(keys), n_e, iters), 1e-12)).astype(np.float32)
    seen = np.zeros(len(keys), dtype=bool)
    counts, sums, total, n_best = np.zeros(n_f), np.zeros(n_f), 0.0, 0
    for part in parts:
        seen[part.key] = True
        best = best_real(key_e[part.key], logp[part.key].astype(np.float64), part.starts)
        counts += np.bincount(part.f_word, minlength=n_f)
        sums += np.bincount(part.f_word, weights=best, minlength=n_f)
        total, n_best = total + float(best.sum()), n_best + len(best)
    prior = total / n_best if n_best else 0.0
    typical = ((sums + TYPICAL_PRIOR * prior) / (counts + TYPICAL_PRIOR)).astype(np.float32)
    logp[~seen] = np.nan
    return Direction(keys, logp, n_f, typical)


def fit_models(
    src_texts: Sequence[str],
    tgt_texts: Sequence[str],
    group: np.ndarray | None,
    n_models: int,
    *,
    iters: int,
    cov_floor: float,
    stem: int,
    budget: int | None = None,
) -> list[LexicalModel]:
    """Model k fitted on the pairs whose ``group`` is not k (``group`` None: one model on every pair).

    The models share one vocabulary and one sorted table of co-occurring word pairs (sorting it is the costly part
    of a fit): each is EM over its pairs' rows of that table. A word none of a model's pairs has is unknown to it
    (``known_*`` masks), exactly as if it had been fitted alone. ``budget``: combinations per chunk (default
    :data:`CHUNK_COMBINATIONS`).
    """
    start = time.perf_counter()
    group = np.full(len(src_texts), -1) if group is None else np.asarray(group)
    src_vocab, tgt_vocab = Vocab(), Vocab()
    src_ids, tgt_ids = src_vocab.encode(src_texts, stem), tgt_vocab.encode(tgt_texts, stem)
    models = [LexicalModel(src_vocab, tgt_vocab, cov_floor=cov_floor, stem=stem) for _ in range(n_models)]
    for tag, e_ids, f_ids, n_e, n_f in (("s2t", src_ids, tgt_ids, len(src_vocab), len(tgt_vocab)),
                                        ("t2s", tgt_ids, src_ids, len(tgt_vocab), len(src_vocab))):  # fmt: skip
        keys, chunks = chunked_layout(e_ids, f_ids, n_f, budget or CHUNK_COMBINATIONS)
        directions = [fit_direction(chunks, keys, group, k, n_e, n_f, iters) for k in range(n_models)]
        del keys, chunks
        for model, direction in zip(models, cap_entries(directions, MAX_ENTRIES), strict=True):
            setattr(model, tag, direction)
    for k, model in enumerate(models):
        idx = np.flatnonzero(group != k)
        model_src, tgt_lens = src_ids.take(idx), tgt_ids.lengths()[idx]
        model.known_src, model.known_tgt = _known(model_src, len(src_vocab)), _known(tgt_ids.take(idx), len(tgt_vocab))
        model.fertility, model.bias = fit_fertility(model_src, tgt_lens, len(src_vocab))
        known_fert = model.fertility[model.known_src]
        model.length_fallback = float(known_fert.mean()) if len(known_fert) else 1.0
        model.fit_seconds = (time.perf_counter() - start) / n_models
    return models


def cap_entries(directions: list[Direction], limit: int) -> list[Direction]:
    """The folds' directions (sharing one key table) cut to the ``limit`` keys of highest log-prob in any fold.

    A dropped entry reads as unseen (UNSEEN_LOGP) afterwards; ``typical`` stays as fitted on the full table.
    """
    keys = directions[0].keys
    if len(keys) <= limit:
        return directions
    best = np.max([np.nan_to_num(d.logp, nan=-np.inf) for d in directions], axis=0)
    kept = np.sort(np.argsort(-best, kind="stable")[:limit])
    kept_keys = keys[kept]  # shared by the folds, as before
    return [Direction(kept_keys, d.logp[kept], d.n_f, d.typical) for d in directions]


def _known(seqs: IdSeqs, n: int) -> np.ndarray:
    """Which of ``n`` ids occur in ``seqs`` (id 0, NULL, never does)."""
    return np.bincount(seqs.ids, minlength=n) > 0
