"""IBM Model 1 lexical translation model, fitted without supervision on the corpus itself (numpy only).

EM over all co-occurring (source word, target word) pairs of every sentence pair, vectorised with ``np.bincount``:
one E+M step is a handful of array passes over the token pairs, streamed in bounded chunks (see
:mod:`clcm.filtering.lexical_fit`), so 29,000 captions fit in seconds.
Both directions are fitted (p(tgt word | src word) and p(src word | tgt word)), each with a NULL source word.

Features per pair and direction (``f`` the generated side, ``e`` the conditioning side, NULL included):
- ``mean``: length-normalised IBM-1 log-likelihood, mean_f log(sum_e t(f|e) / (|e| + 1));
- ``min``: the worst-explained word, min_f log max_e t(f|e) — one swapped or foreign word shows up here;
- ``cov``: fraction of words whose best translation probability is below ``cov_floor`` — omissions and
  additions leave words of the other side unexplained;
- ``gap``: the largest shortfall of a word's best real-word (non-NULL) translation probability below what that
  word usually gets in the training corpus (log scale), weighted by that usual probability (how reliably the word
  is translated at all). A dropped "man" in the target leaves "man" far below its usual -0.3 while a rarely
  translated "is" or a word usually paraphrased costs little; this is the most specific omission/swap signal.
  (The weighting was picked on the val benchmark: word_drop AUC of gap_t2s 0.67 -> 0.72, word_swap of gap_s2t
  0.80 -> 0.83, fitted on train only.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clcm.filtering.fertility import expected_lengths
from clcm.filtering.id_seqs import IdSeqs, as_flat, encode
from clcm.filtering.model_files import load_model, save_model

_WORD = re.compile(r"\w+", re.UNICODE)
NULL = 0  # id of the NULL word in every source vocabulary
UNSEEN_LOGP = np.log(1e-7)  # log-prob of a word pair never seen together in training
REAL_FLOOR = -20.0  # best real-word log-prob of a word with no candidate at all
# Measured on benchmarks/filter_quality.py (Multi30K en-cs): 4-character stems beat 0/5/6 (inflected Czech forms
# merge) and 5 folds beat 2 (each model sees 80% of the corpus).
DEFAULT_STEM = 4
DEFAULT_FOLDS = 5
TYPICAL_PRIOR = 2.0  # pseudo-count pulling a rare word's typical best log-prob towards the corpus mean


def words(text: str, stem: int = 0) -> list[str]:
    """Lower-cased word tokens (punctuation carries no lexical signal), cut to ``stem`` characters if > 0.

    A crude prefix stem merges inflected forms (Czech "pes/psa/psem" partly, "zelený/zelené" fully), which makes
    the IBM-1 tables far denser on a small corpus.
    """
    toks = _WORD.findall(text.lower())
    return [t[:stem] for t in toks] if stem else toks


class Vocab:
    """word <-> id, id 0 reserved for NULL / unknown words."""

    def __init__(self, items: Sequence[str] = ()) -> None:
        self.items: list[str] = ["<null>", *items]
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.items)}

    def encode(self, texts: Iterable[str], stem: int) -> IdSeqs:
        """The word ids of ``texts`` (see :func:`words`), adding new words (ids in order of first appearance)."""
        index, items = self.index, self.items

        def ids_of(text: str) -> list[int]:
            ids = []
            for w in words(text, stem):
                i = index.get(w)
                if i is None:
                    i = index[w] = len(items)
                    items.append(w)
                ids.append(i)
            return ids

        return encode(texts, ids_of)

    def lookup(self, sentences: Sequence[list[str]]) -> list[np.ndarray]:
        get = self.index.get
        return [np.asarray([get(w, -1) for w in toks], dtype=np.int64) for toks in sentences]

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class Layout:
    """Every (target occurrence, source word incl. NULL) combination of a list of sentence pairs, flat.

    Combinations are grouped by occurrence (``starts``: first combination of each occurrence), occurrences by
    sentence (``sentence``: the sentence of each occurrence); ``e_word`` / ``f_word``: the word ids of each
    combination, ``occ``: its occurrence.
    """

    e_word: np.ndarray
    f_word: np.ndarray
    occ: np.ndarray
    starts: np.ndarray
    sentence: np.ndarray
    n_occ: int


def pair_layout(src_ids: Sequence[np.ndarray] | IdSeqs, tgt_ids: Sequence[np.ndarray] | IdSeqs) -> Layout:
    """The :class:`Layout` of aligned id sequences (vectorised: no per-sentence numpy calls)."""
    src, tgt = as_flat(src_ids), as_flat(tgt_ids)
    n_e = src.lengths() + 1  # + NULL
    n_f = tgt.lengths()
    z = np.zeros(0, dtype=np.int64)
    if not len(n_f) or not n_f.sum():
        return Layout(z, z, z, z, z, 0)
    e_null = np.zeros(int(n_e.sum()), dtype=np.int64)  # NULL (0) first in each sentence, then its words
    e_start = np.cumsum(n_e) - n_e
    real = np.ones(len(e_null), dtype=bool)
    real[e_start] = False
    e_null[real] = src.ids
    f_flat = tgt.ids.astype(np.int64)
    sentence = np.repeat(np.arange(len(n_f)), n_f)
    width = n_e[sentence]  # combinations per occurrence
    occ = np.repeat(np.arange(len(f_flat)), width)
    starts = np.cumsum(width) - width
    k = np.arange(len(occ)) - starts[occ]  # position of the source word within its sentence (NULL = 0)
    e_word = e_null[e_start[sentence][occ] + k]
    return Layout(e_word, f_flat[occ], occ, starts, sentence, len(f_flat))


def best_real(e_word: np.ndarray, logp: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Best log t(f|e) over the real (non-NULL) words e, per f occurrence (REAL_FLOOR when there is none)."""
    if not len(starts):
        return np.zeros(0)
    real = np.where(e_word == NULL, REAL_FLOOR, logp)
    return np.maximum(np.maximum.reduceat(real, starts), REAL_FLOOR)


@dataclass
class Direction:
    """t(f|e) for one direction: sorted keys ``e * n_f + f`` and their log-probabilities (NaN: a key this model
    did not see, which cross-fitted models sharing one key table have)."""

    keys: np.ndarray  # int64, sorted
    logp: np.ndarray  # float32
    n_f: int
    typical: np.ndarray | None = None  # per f word: its usual best log t(f|e) over real words (see ``gap``)

    def lookup(self, e: np.ndarray, f: np.ndarray) -> np.ndarray:
        """log t(f|e) for aligned arrays of word ids (-1 = unknown word -> unseen)."""
        key = e * self.n_f + f
        out = np.full(len(key), UNSEEN_LOGP, dtype=np.float64)
        if not len(self.keys):
            return out
        pos = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        found = (f >= 0) & (e >= 0) & (self.keys[pos] == key)
        out[found] = self.logp[pos[found]]
        out[np.isnan(out)] = UNSEEN_LOGP
        return out


@dataclass
class Analysis:
    """One lexical pass over a batch: the per-pair features and each target word's ``gap`` shortfall."""

    features: dict[str, np.ndarray]
    target_shortfalls: list[np.ndarray]


class LexicalModel:
    """IBM Model 1 in both directions; :meth:`analyse` gives per-pair lexical-fit features.

    Attributes:
        src_vocab, tgt_vocab: the vocabularies (shared by cross-fitted models, see ``known_*``).
        s2t, t2s: t(tgt|src) and t(src|tgt) tables.
        known_src, known_tgt: per vocabulary id, whether this model saw the word (other ids read as unknown).
        fertility, bias, length_fallback: expected target length (see :mod:`clcm.filtering.fertility`).
    """

    def __init__(self, src_vocab: Vocab, tgt_vocab: Vocab, *, cov_floor: float, stem: int = 0) -> None:
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.cov_floor, self.stem = cov_floor, stem
        empty = Direction(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), len(tgt_vocab))
        self.s2t, self.t2s = empty, empty
        self.known_src = np.ones(len(src_vocab), dtype=bool)
        self.known_tgt = np.ones(len(tgt_vocab), dtype=bool)
        self.fertility, self.bias, self.length_fallback = np.zeros(len(src_vocab)), 0.0, 1.0
        self.fit_seconds = 0.0

    @classmethod
    def fit(
        cls,
        src_texts: Sequence[str],
        tgt_texts: Sequence[str],
        *,
        iters: int = 12,
        cov_floor: float = 0.05,
        stem: int = DEFAULT_STEM,
    ) -> LexicalModel:
        """Fit both directions on parallel texts (duplicates are fine; nothing is labelled).

        Args:
            src_texts, tgt_texts: aligned sentences.
            iters: EM iterations (the likelihood converges in ~5, the per-word features sharpen up to ~15; 12 was
                picked on the val benchmark: gap_t2s word_drop AUC 0.722 at 6, 0.730 at 10, 0.732 at 15).
            cov_floor: a word counts as unexplained when its best translation probability is below this.
            stem: cut words to this many characters (0: whole words); see :func:`words`.
        """
        from clcm.filtering.lexical_fit import fit_models  # the fit builds LexicalModels: imported when used

        return fit_models(src_texts, tgt_texts, None, 1, iters=iters, cov_floor=cov_floor, stem=stem)[0]

    def ids(self, src_texts: Sequence[str], tgt_texts: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Word ids of the texts in the (shared) vocabularies; -1 for a word not in them."""
        src = self.src_vocab.lookup([words(s, self.stem) for s in src_texts])
        tgt = self.tgt_vocab.lookup([words(t, self.stem) for t in tgt_texts])
        return src, tgt

    def analyse(self, src_texts: Sequence[str], tgt_texts: Sequence[str]) -> Analysis:
        """Per-pair features ``{mean,min,cov,gap}_{s2t,t2s}`` and ``length_resid`` (float32; NaN where a side has
        no words), and per pair, per target word, its ``gap`` shortfall."""
        return self.analyse_ids(*self.ids(src_texts, tgt_texts))

    def analyse_ids(self, src_ids: Sequence[np.ndarray], tgt_ids: Sequence[np.ndarray]) -> Analysis:
        """:meth:`analyse` of word ids from :meth:`ids` (words this model did not see become unknown here)."""
        src_ids = [np.where((s >= 0) & self.known_src[np.maximum(s, 0)], s, -1) for s in src_ids]
        tgt_ids = [np.where((t >= 0) & self.known_tgt[np.maximum(t, 0)], t, -1) for t in tgt_ids]
        out: dict[str, np.ndarray] = {}
        shortfalls: dict[str, np.ndarray] = {}
        for tag, direction, e_ids, f_ids in (("s2t", self.s2t, src_ids, tgt_ids), ("t2s", self.t2s, tgt_ids, src_ids)):
            feats, shortfalls[tag] = self._direction_features(direction, e_ids, f_ids)
            out.update({f"{k}_{tag}": v for k, v in feats.items()})
        expected = expected_lengths(src_ids, self.fertility, self.bias, self.length_fallback)
        out["length_resid"] = (np.array([len(t) for t in tgt_ids]) - expected).astype(np.float32)
        per_pair = np.split(shortfalls["s2t"], np.cumsum([len(t) for t in tgt_ids])[:-1]) if tgt_ids else []
        return Analysis(out, per_pair)

    def features(self, src_texts: Sequence[str], tgt_texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The per-pair features of :meth:`analyse`."""
        return self.analyse(src_texts, tgt_texts).features

    def _direction_features(
        self, direction: Direction, e_ids: list[np.ndarray], f_ids: list[np.ndarray]
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Per-sentence features of the ``f`` side, and each ``f`` word's ``gap`` shortfall (flat, in order)."""
        n = len(f_ids)
        mean = np.full(n, np.nan, dtype=np.float32)
        worst = np.full(n, np.nan, dtype=np.float32)
        cov = np.full(n, np.nan, dtype=np.float32)
        gap = np.full(n, np.nan, dtype=np.float32)
        shortfall = np.zeros(0)
        # An unknown word (-1) on the conditioning side stays -1 (it explains nothing); NULL is added to every side.
        layout = pair_layout(e_ids, f_ids)
        if layout.n_occ:
            occ, n_occ = layout.occ, layout.n_occ
            logp = direction.lookup(layout.e_word, layout.f_word)
            # log-sum-exp per target occurrence for the IBM-1 likelihood; max per occurrence for min/cov.
            best = np.maximum.reduceat(logp, layout.starts)
            total = np.bincount(occ, weights=np.exp(logp - best[occ]), minlength=n_occ)
            n_e_per_occ = np.diff(np.append(layout.starts, len(occ)))
            tok_ll = best + np.log(total) - np.log(n_e_per_occ)
            sent_of_occ = np.repeat(np.arange(n), [len(f) for f in f_ids])
            real = best_real(layout.e_word, logp, layout.starts)
            f_words = layout.f_word[layout.starts]
            # Words the model never saw (possible only when scoring text it was not fitted on) carry no evidence
            # either way: they are left out of every feature instead of looking untranslatable.
            known = (f_words >= 0).astype(np.float64)
            lens = np.bincount(sent_of_occ, weights=known, minlength=n)
            has = lens > 0
            sum_ll = np.bincount(sent_of_occ, weights=tok_ll * known, minlength=n)
            mins = np.full(n, np.inf)
            np.minimum.at(mins, sent_of_occ, np.where(known > 0, best, np.inf))
            low = np.bincount(sent_of_occ, weights=(best < np.log(self.cov_floor)) * known, minlength=n)
            typical = direction.typical[np.maximum(f_words, 0)] if direction.typical is not None else real
            shortfall = np.where(known > 0, np.maximum(typical - real, 0.0) * np.exp(typical), 0.0)
            gaps = np.zeros(n)
            np.maximum.at(gaps, sent_of_occ, shortfall)
            gap[has] = gaps[has].astype(np.float32)
            mean[has] = (sum_ll[has] / lens[has]).astype(np.float32)
            worst[has] = mins[has].astype(np.float32)
            cov[has] = (1.0 - low[has] / lens[has]).astype(np.float32)
        return {"mean": mean, "min": worst, "cov": cov, "gap": gap}, shortfall

    # Persistence: plain arrays (vocabularies as UTF-8 bytes, see clcm.filtering.model_files).
    def to_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """This model's arrays (not its vocabularies: cross-fitted models share those, see :func:`vocab_strings`)."""
        arrays = {
            "cov_floor": np.float64(self.cov_floor),
            "stem": np.int64(self.stem),
            "known_src": self.known_src,
            "known_tgt": self.known_tgt,
            "fertility": self.fertility,
            "bias": np.float64(self.bias),
            "length_fallback": np.float64(self.length_fallback),
        }
        for tag, d in (("s2t", self.s2t), ("t2s", self.t2s)):
            arrays |= {f"{tag}_keys": d.keys, f"{tag}_logp": d.logp, f"{tag}_typical": d.typical}
        return {prefix + k: v for k, v in arrays.items()}

    @classmethod
    def from_arrays(
        cls, z: dict[str, np.ndarray], src_vocab: Vocab, tgt_vocab: Vocab, prefix: str = ""
    ) -> LexicalModel:
        model = cls(src_vocab, tgt_vocab, cov_floor=float(z[prefix + "cov_floor"]), stem=int(z[prefix + "stem"]))
        for tag, n_f in (("s2t", len(tgt_vocab)), ("t2s", len(src_vocab))):
            keys = z[f"{prefix}{tag}_keys"] if f"{prefix}{tag}_keys" in z else z[f"{tag}_keys"]  # shared by folds
            setattr(model, tag, Direction(keys, z[f"{prefix}{tag}_logp"], n_f, z[f"{prefix}{tag}_typical"]))
        model.known_src, model.known_tgt = z[prefix + "known_src"], z[prefix + "known_tgt"]
        model.fertility, model.bias = z[prefix + "fertility"], float(z[prefix + "bias"])
        model.length_fallback = float(z[prefix + "length_fallback"])
        return model

    def save(self, path: str | Path) -> None:
        save_model(path, self.to_arrays(), vocab_strings(self))

    @classmethod
    def load(cls, path: str | Path) -> LexicalModel:
        arrays, strings = load_model(path)
        return cls.from_arrays(arrays, *vocabs_of(strings))


def vocab_strings(model: LexicalModel) -> dict[str, list[str]]:
    """The vocabularies of a model as string lists for :func:`~clcm.filtering.model_files.save_model`."""
    return {"src_vocab": model.src_vocab.items[1:], "tgt_vocab": model.tgt_vocab.items[1:]}


def vocabs_of(strings: dict[str, list[str]]) -> tuple[Vocab, Vocab]:
    return Vocab(strings["src_vocab"]), Vocab(strings["tgt_vocab"])
