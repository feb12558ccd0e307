"""Build the scorer set for a corpus, score batches with it, and train the combiner on synthetic noise.

Used by the score pipeline (before its Beam run and inside its workers) and by the quality benchmark.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clcm import memory
from clcm.errors import UsageError
from clcm.filtering.base import BuildContext, FeaturePass, FeatureScorer, PairBatch, Scorer
from clcm.filtering.combiner import Combiner, fit_combiner
from clcm.filtering.registry import EMBEDDING_SCORERS, NEEDS_FLUENCY, NEEDS_LEXICAL, SCORERS
from clcm.filtering.synthetic_noise import Pair, corrupt

log = logging.getLogger(__name__)

# Scores the synthetic corruptions cannot fake: the MT model's log-prob of a corrupted target is unknown.
NOT_COMBINED = ("mt_logprob",)


@dataclass(frozen=True)
class ScorerSpec:
    """What a worker needs to rebuild the scorers: their names, options and the directory of their saved models.

    Args:
        names: scorer names, in column order.
        model_dir: directory (local path or object-store URL) the driver saved the fitted scorer models into.
        options: per scorer name, its constructor parameters (JSON-like values).
        device: device of neural scorers.
    """

    names: tuple[str, ...]
    model_dir: str | None = None
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    device: str = "cpu"

    def build(self) -> list[Scorer]:
        """The scorers, loading their models from ``model_dir`` (nothing is fitted in a worker)."""
        context = BuildContext(model_dir=self.model_dir or None, device=self.device, options=self.options)
        return build_scorers(self.names, context)


def check_scorers(names: Sequence[str], options: Mapping[str, Mapping[str, Any]] = {}) -> None:
    """UsageError for unknown scorer names, options of scorers not asked for and unknown option keys."""
    unknown = [n for n in names if n not in SCORERS]
    if unknown:
        raise UsageError(f"unknown scorer(s) {unknown}; known: {sorted(SCORERS)}")
    stray = [n for n in options if n not in SCORERS]
    if stray:
        raise UsageError(f"scorer_options for unknown scorer(s) {stray}; known: {sorted(SCORERS)}")
    for n, opts in options.items():
        if not isinstance(opts, Mapping):
            raise UsageError(f"scorer_options.{n} must be a mapping of option: value, got {opts!r}")
        SCORERS[n].check_options(opts)


def build_scorers(names: Sequence[str], context: BuildContext | None = None) -> list[Scorer]:
    """Instantiate scorers by registry name through their :meth:`Scorer.build` hook (unknown names raise
    UsageError). On the driver (``context.fit_pairs`` set) model scorers fit their models; in a worker they load
    them. Scorers that share a model get the same one (and the same per-batch feature pass)."""
    context = context or BuildContext()
    check_scorers(names, {n: o for n, o in context.options.items() if n in names})
    return [SCORERS[n].build(context, **context.options.get(n, {})) for n in names]


def plan_scorers(
    names: Sequence[str], available: Mapping[str, int], options: Mapping[str, Mapping[str, Any]] = {}
) -> list[str]:
    """The requested scorers that can run: inputs present, embedder given. Others are skipped with a note."""
    names = list(names)
    for n in [n for n in names if n in EMBEDDING_SCORERS and not options.get(n, {}).get("model")]:
        log.warning("scorer %s skipped: no embedder model given (--embedder)", n)
        names.remove(n)
    keep = []
    for n in names:
        missing = SCORERS[n].missing_inputs(available)
        if missing:
            log.warning("scorer %s skipped: no values in column(s) %s", n, ", ".join(missing))
        else:
            keep.append(n)
    return keep


def score_batch(scorers: Sequence[Scorer], batch: PairBatch) -> dict[str, np.ndarray]:
    """``{scorer name: float32 scores}`` for one batch; each shared feature pass runs once for all its columns."""
    done: dict[int, Mapping[str, Any]] = {}  # id(pass) -> its features for this batch

    def run(p: FeaturePass) -> Mapping[str, Any]:
        if id(p) not in done:
            done[id(p)] = p.run(batch)
        return done[id(p)]

    out = {}
    for s in scorers:
        values = s.from_features(*(run(p) for p in s.passes)) if isinstance(s, FeatureScorer) else s.score(batch)
        out[s.name] = np.asarray(values, dtype=np.float32)
    return out


def pairs_to_batch(pairs: Sequence[Pair]) -> dict[str, list[Any]]:
    return {
        "src_text": [p.src for p in pairs],
        "tgt_text": [p.tgt for p in pairs],
        "bt_text": [p.bt for p in pairs],
        "src_lang": [p.src_lang for p in pairs],
        "tgt_lang": [p.tgt_lang for p in pairs],
        "orig_tgt_text": [p.orig_tgt for p in pairs],  # picks the cross-fit fold of a corruption
    }


SMALL_CORPUS_PAIRS = 2000  # below this the corpus-fitted models (IBM-1, n-gram LMs) are weak: a warning
MIN_FITTED_PAIRS = 200  # below this the combiner leaves them out and uses the rules + corpus-independent scorers


def combinable(scorers: Sequence[Scorer], corpus_pairs: int | None) -> tuple[list[Scorer], dict[str, Any]]:
    """The scorers the combiner uses, and a note for a small corpus (empty for a large one).

    Measured in benchmarks/filter_quality.py --corpus small (30% noise): the corpus-fitted scorers still help at 250
    and 1,000 pairs (ROC-AUC 0.83 and 0.86 with them, 0.79 and 0.78 without), so they are left out only below
    ``MIN_FITTED_PAIRS``; between that and ``SMALL_CORPUS_PAIRS`` the scores are less sharp and the log says so.
    Left-out scorers still write their columns.
    """
    combined = [s for s in scorers if s.name not in NOT_COMBINED]
    fitted = [s.name for s in combined if s.name in (*NEEDS_LEXICAL, *NEEDS_FLUENCY)]
    if corpus_pairs is None or corpus_pairs >= SMALL_CORPUS_PAIRS:
        return combined, {}
    left_out = fitted if corpus_pairs < MIN_FITTED_PAIRS else []
    note = {"pairs": corpus_pairs, "small_below": SMALL_CORPUS_PAIRS, "fitted_left_out_below": MIN_FITTED_PAIRS,
            "left_out": left_out}  # fmt: skip
    if left_out:
        log.warning("small corpus: %d pairs < %d; the combiner leaves out the corpus-fitted scorers %s and uses the "
                    "rules and the corpus-independent scorers", corpus_pairs, MIN_FITTED_PAIRS,
                    ", ".join(left_out))  # fmt: skip
    else:
        log.warning("small corpus: %d pairs < %d; the corpus-fitted models (IBM-1, n-gram LMs) are weak on so few "
                    "pairs and noise_score is less sharp (ROC-AUC ~0.86 at 1,000 pairs in the benchmark)",
                    corpus_pairs, SMALL_CORPUS_PAIRS)  # fmt: skip
    return [s for s in combined if s.name not in left_out], note


def train_combiner(
    scorers: Sequence[Scorer],
    pairs: Sequence[Pair],
    *,
    seed: int = 0,
    n_clean: int = 4000,
    noisy_per_clean: float = 1.5,
    corpus_pairs: int | None = None,
) -> Combiner:
    """Fit the combiner: a sample of the corpus is the clean class, its synthetic corruptions the noisy class.

    Cross-fitted by source text (see :func:`clcm.filtering.combiner.fit_combiner`): score the corpus with
    ``combiner.predict(scores, src_texts)``.

    Args:
        scorers: the active scorers (``mt_logprob`` is left out of the combination: it cannot be simulated).
        pairs: the corpus (or a large sample of it).
        seed: sampling, corruption and weight-init seed.
        n_clean: clean pairs used (all when the corpus is smaller).
        noisy_per_clean: corruptions per clean pair.
        corpus_pairs: size of the whole corpus (None: ``len(pairs)``); small corpora leave out corpus-fitted scorers.
    """
    rng = np.random.default_rng(seed)
    sample = [pairs[int(i)] for i in rng.permutation(len(pairs))[:n_clean]]
    combined, small = combinable(scorers, len(pairs) if corpus_pairs is None else corpus_pairs)
    directions = {s.name: s.direction for s in combined}
    if not sample or not combined:
        return fit_combiner({n: np.zeros(0) for n in directions}, {n: np.zeros(0) for n in directions}, directions)
    noisy, types = corrupt(sample, int(len(sample) * noisy_per_clean), seed=seed + 1)
    clean_scores = score_batch(combined, pairs_to_batch(sample))
    noisy_scores = score_batch(combined, pairs_to_batch(noisy))
    combiner = fit_combiner(clean_scores, noisy_scores, directions, clean_keys=[p.src for p in sample],
                            noisy_keys=[p.src for p in noisy], seed=seed, noise_types=types)  # fmt: skip
    if small:
        combiner.info["small_corpus"] = small
    memory.release_free_memory()  # the sample's scoring temporaries
    return combiner
