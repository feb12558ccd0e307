"""Noise-detection quality of `noise_score` on labelled corruptions of Multi30K val (en -> human cs/de). Prints JSON.

Clean pairs: Multi30K val English captions with their human translations (``--tgt cs`` or ``de``). Noisy pairs: every
failure type applied to every val pair by the corruption code *in this file* (its own seed and parameters), which
shares no code with the library's synthetic noise (clcm.filtering.synthetic_noise) that the combiner trains on:
- wrong language = the human caption of the same image in one of the two other Multi30K languages (the library
  swaps in source captions or a letter-permuted pseudo-language, never a real third language);
- code-mixed = a span of 30-50% of the target's words replaced by the same-place words of that other-language
  caption (the library mixes in *source* words);
- half-translation keeps an English *prefix* (the library keeps a translated prefix);
- truncation keeps 35-75% and may cut mid-word; loops repeat the sentence's *last* 1-3 words 2-5 times with the
  final full stop removed; misalignment rotates the targets;
- word_drop/word_swap change exactly ONE content word (3+ letters, not a function word), word_drop2/word_swap2
  two; they read like MT errors (punctuation and capitals stay in place).
Corpora (``--corpus``), each scored as ``clcm-data score`` does it (fit the cross-fitted IBM-1 and n-gram models on
the corpus, train the cross-fitted combiner on a sample of the corpus and its synthetic corruptions, score):
- ``large``: the corpus is the 29,000 train pairs + the 1,014 clean val pairs (a mostly clean corpus, as a human or
  good MT corpus is); every benchmark row (clean and corrupted) is scored as a pair of it. The IBM-1 model is fitted
  on train + every benchmark row (as score fits on all it scores); the n-gram LMs on train + the clean val targets,
  each row scored by the fold of its clean original (a corpus with every sentence's 11 near-copies would let an LM
  learn the clean ones: not realistic); the combiner samples the corpus.
- ``large-all``: a stress case: the same, but the corrupted rows are part of the corpus too (27% noise, every val
  source 12 times), so the combiner's clean sample is a quarter noise.
- ``small``: ``--draws`` corpora of 1,000 pairs each: 1,000 val indices, each pair replaced by one of its corruptions
  with probability ``--noise-share`` (type uniform); each corpus is fitted and scored alone (no train data).
- ``train``: the 29,000 human train pairs alone: how many clean pairs the default selection drops.
Metrics: ROC-AUC overall and per type; recall at the threshold that rejects 3.3% of clean pairs; for drops and
swaps the *paired* figure (share of val pairs whose corrupted twin scores noisier than the clean pair, ties half:
immune to the ~10% of flawed clean references); the default selection (DEFAULT_THRESHOLD + decisive rules): clean
pairs dropped, recall, and the combiner's own estimate of the clean-rejection rate; each scorer's AUC per type;
CPU (user+sys) and wall seconds per phase, with the load.

Usage: python benchmarks/filter_quality.py [--tgt cs|de] [--corpus large|large-all|small|train] [--embedder ID]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from clcm.filtering.base import LOWER_IS_BETTER, BuildContext  # noqa: E402
from clcm.filtering.fluency import CrossFitFluency  # noqa: E402
from clcm.filtering.lexical import CrossFitLexical  # noqa: E402
from clcm.filtering.registry import DEFAULT_SCORERS, EMBEDDING_SCORERS  # noqa: E402
from clcm.filtering.scoring import build_scorers, score_batch, train_combiner  # noqa: E402
from clcm.filtering.selection import DEFAULT_THRESHOLD, SelectionConfig, select  # noqa: E402
from clcm.filtering.synthetic_noise import Pair  # noqa: E402

SEED = 20261123  # not the library's corruption seeds (0, 1)
SCORER_NAMES = tuple(n for n in DEFAULT_SCORERS if n not in ("bt_chrf", "mt_logprob"))  # no BT / MT log-probs here
FUNCTION_WORDS = {
    "cs": {"který", "která", "které", "jsou", "jeho", "její", "jejich", "nebo", "také", "před", "přes", "mezi", "při",
           "pro", "pod", "nad", "jak", "kde", "tak", "což", "aby", "ale", "své", "svou"},
    "de": {"der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "einen", "einem", "und", "mit", "auf",
           "von", "vor", "bei", "ist", "sind", "sich", "für", "aus", "zum", "zur", "über", "unter", "neben"},
}  # fmt: skip
OTHER_LANGS = {"cs": ("de", "fr"), "de": ("cs", "fr")}
PUNCT = ".,;:!?\"'()"
TYPES = ("untranslated", "half_translated", "wrong_language", "code_mixed", "truncated", "repetition", "misaligned",
         "word_drop", "word_drop2", "word_swap", "word_swap2")  # fmt: skip
PAIRED_TYPES = ("word_drop", "word_drop2", "word_swap", "word_swap2")
CLEAN_REJECTED = 0.033


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


def core(word: str) -> str:
    return word.strip(PUNCT)


def content_positions(words: list[str], lang: str) -> list[int]:
    stop = FUNCTION_WORDS.get(lang, set())
    return [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 3 and core(w).lower() not in stop]


def swap_core(old: str, new: str) -> str:
    """``new`` in the place of ``old``: old's punctuation kept, case matched."""
    head, tail = old[: len(old) - len(old.lstrip(PUNCT))], old[len(old.rstrip(PUNCT)) :]
    new = new[:1].upper() + new[1:] if core(old)[:1].isupper() else new[:1].lower() + new[1:]
    return head + new + tail


def drop_words(words: list[str], drop: Sequence[int]) -> str:
    """The sentence without the words at ``drop``, as an MT omission reads (punctuation/capital move on)."""
    out = list(words)
    for j in sorted(drop, reverse=True):
        w = out.pop(j)
        tail = w[len(w.rstrip(PUNCT)) :]
        if tail and j > 0:
            out[j - 1] += tail
        if j == 0 and out and w[:1].isupper():
            out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


def swap_words(words: list[str], where: Sequence[int], donors: list[str], lang: str, rng: np.random.Generator) -> str:
    out = list(words)
    for j in where:
        new = None
        while new is None:
            donor = donors[int(rng.integers(len(donors)))].split()
            cand = [core(donor[c]) for c in content_positions(donor, lang)]
            cand = [w for w in cand if w.lower() != core(out[j]).lower()]
            new = cand[int(rng.integers(len(cand)))] if cand else None
        out[j] = swap_core(out[j], new)
    return " ".join(out)


def make_noise(en: list[str], tgt: list[str], other: tuple[list[str], list[str]], lang: str,
               rng: np.random.Generator) -> dict[str, list[str | None]]:  # fmt: skip
    """{type: noisy targets (None where the corruption does not apply)}, aligned with ``en``."""
    n = len(en)
    out: dict[str, list[str | None]] = {k: [] for k in TYPES}
    shift = int(rng.integers(1, n))
    for i in range(n):
        s, t = en[i], tgt[i]
        sw, tw = s.split(), t.split()
        out["untranslated"].append(s if rng.random() < 0.5 else s.lower().rstrip("."))
        cut = max(1, int(round(len(sw) * rng.uniform(0.4, 0.6))))
        out["half_translated"].append(" ".join(sw[:cut] + tw[int(round(len(tw) * cut / len(sw))) :]))
        foreign = other[int(rng.integers(2))][i]
        out["wrong_language"].append(foreign)
        fw = foreign.split()
        k = max(1, int(round(len(tw) * rng.uniform(0.3, 0.5))))
        start = int(rng.integers(0, len(tw) - k + 1))
        mixed = list(tw)
        for j in range(start, start + k):
            mixed[j] = swap_core(tw[j], core(fw[min(len(fw) - 1, j * len(fw) // len(tw))]) or fw[0])
        out["code_mixed"].append(" ".join(mixed))
        if rng.random() < 0.3:  # mid-word cut on characters
            trunc = t[: max(1, int(len(t) * rng.uniform(0.35, 0.75)))]
        else:
            trunc = " ".join(tw[: max(1, int(len(tw) * rng.uniform(0.35, 0.75)))])
        out["truncated"].append(trunc if trunc != t else None)
        k = int(rng.integers(1, 4))
        base = t.rstrip(".").split()
        out["repetition"].append(" ".join(base + base[-k:] * int(rng.integers(2, 6))))
        out["misaligned"].append(tgt[(i + shift) % n])
        pos = content_positions(tw, lang)
        for kind, m in (("word_drop", 1), ("word_drop2", 2)):
            ok = len(pos) >= m and len(tw) > m + 1
            out[kind].append(drop_words(tw, rng.choice(pos, m, replace=False).tolist()) if ok else None)
        for kind, m in (("word_swap", 1), ("word_swap2", 2)):
            ok = len(pos) >= m
            where = rng.choice(pos, m, replace=False).tolist() if ok else []
            out[kind].append(swap_words(tw, where, tgt, lang, rng) if ok else None)
    return out


def roc_auc(neg: np.ndarray, pos: np.ndarray) -> float:
    """P(score(pos) > score(neg)) with ties counted half (Mann-Whitney U)."""
    neg, pos = np.sort(np.asarray(neg, dtype=np.float64)), np.asarray(pos, dtype=np.float64)
    if not len(neg) or not len(pos):
        return float("nan")
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(neg) * len(pos)))


def cpu_seconds() -> float:
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


class Clock:
    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}

    def __call__(self, name: str):  # noqa: ANN204 - a tiny context manager
        clock = self

        class _Phase:
            def __enter__(self) -> None:
                self.t, self.c = time.perf_counter(), cpu_seconds()

            def __exit__(self, *exc: object) -> None:
                clock.phases[name] = {"wall_s": round(time.perf_counter() - self.t, 2),
                                      "cpu_s": round(cpu_seconds() - self.c, 2)}  # fmt: skip

        return _Phase()


def score_corpus(
    rows: dict[str, list],
    fit: dict[str, list],
    names: Sequence[str],
    embedder: str | None,
    clock: Clock,
    seed: int = 0,
    fallback: bool = True,
    corpus_rows: int | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], Any]:
    """noise_score of every row, as the score stage computes it; returns (noise, scores, combiner).

    The first ``corpus_rows`` rows (None: all) are the corpus the combiner samples its clean class from.
    """
    with clock("fit_models"):
        lexical = CrossFitLexical.fit(fit["lexical_src"], fit["lexical_tgt"])
        fluency = CrossFitFluency.fit(fit["fluency_tgt"])
    options = {n: {"model": embedder} for n in EMBEDDING_SCORERS if embedder and n in names}
    scorers = build_scorers(names, BuildContext(models={"lexical": lexical, "fluency": fluency}, options=options))
    langs = rows["src_lang"][0], rows["tgt_lang"][0]
    pairs = [Pair(s, t, None, *langs) for s, t in zip(rows["src_text"], rows["tgt_text"], strict=True)]
    pairs = pairs[:corpus_rows] if corpus_rows is not None else pairs
    with clock("combiner"):
        size = len(pairs) if fallback else 10**9  # no fallback: pretend the corpus is large
        combiner = train_combiner(scorers, pairs, seed=seed, n_clean=4000, corpus_pairs=size)
    with clock("score"):
        table = score_batch(scorers, rows)
        noise = combiner.predict(table, rows["src_text"])
    return noise, table, combiner


def evaluate(noise: np.ndarray, labels: np.ndarray, table: dict[str, np.ndarray], directions: dict[str, str],
             combiner: object, twins: dict[str, tuple[np.ndarray, np.ndarray]] | None) -> dict:  # fmt: skip
    clean = noise[labels == "clean"]
    noisy = noise[labels != "clean"]
    cut = float(np.quantile(clean, 1 - CLEAN_REJECTED))
    types = [k for k in TYPES if (labels == k).any()]
    sel = select(noise, table, ["m"] * len(noise), SelectionConfig(nrf_fraction=0.0))
    dropped = ~sel.keep
    res: dict = {
        "pairs": {"clean": int(len(clean)), **{k: int((labels == k).sum()) for k in types}},
        "roc_auc": {"overall": round(roc_auc(clean, noisy), 4)},
        f"recall_at_{CLEAN_REJECTED:.1%}_clean_rejected": {"overall": round(float((noisy > cut).mean()), 4)},
        "default_selection": {
            "threshold": DEFAULT_THRESHOLD,
            "rules": sel.rule_thresholds,
            "clean_dropped": round(float(dropped[labels == "clean"].mean()), 4),
            "clean_dropped_by_noise_score_alone": round(float((clean > DEFAULT_THRESHOLD).mean()), 4),
            "expected_clean_rejection_stated": combiner.expected_clean_rejection(DEFAULT_THRESHOLD),
            "recall": {"overall": round(float(dropped[labels != "clean"].mean()), 4)},
        },
    }
    rec = res[f"recall_at_{CLEAN_REJECTED:.1%}_clean_rejected"]
    for k in types:
        sel_k = noise[labels == k]
        res["roc_auc"][k] = round(roc_auc(clean, sel_k), 4)
        rec[k] = round(float((sel_k > cut).mean()), 4)
        res["default_selection"]["recall"][k] = round(float(dropped[labels == k].mean()), 4)
    if twins:
        res["paired_twin_noisier"] = {k: round(float(np.mean((t > c) + 0.5 * (t == c))), 4)
                                      for k, (c, t) in twins.items()}  # fmt: skip
    res["roc_auc_per_scorer"] = {}
    for name, values in table.items():
        x = np.asarray(values, dtype=np.float64) * (1.0 if directions[name] == LOWER_IS_BETTER else -1.0)
        x = np.nan_to_num(x, nan=float(np.nanmedian(x[labels == "clean"])))
        res["roc_auc_per_scorer"][name] = {k: round(roc_auc(x[labels == "clean"], x[labels == k]), 3) for k in types}
    return res


def benchmark_rows(en: list[str], tgt: list[str], noise: dict, lang: str) -> tuple[dict[str, list], np.ndarray, list]:
    """All benchmark rows (clean first), their labels, and each row's val index."""
    src, out, label, orig, index = list(en), list(tgt), ["clean"] * len(en), list(tgt), list(range(len(en)))
    for kind, targets in noise.items():
        for i, t in enumerate(targets):
            if t is not None:
                src.append(en[i])
                out.append(t)
                label.append(kind)
                orig.append(t if kind == "misaligned" else tgt[i])  # a misaligned target is another clean target
                index.append(i)
    rows = {"src_text": src, "tgt_text": out, "bt_text": [None] * len(src), "src_lang": ["en"] * len(src),
            "tgt_lang": [lang] * len(src), "orig_tgt_text": orig}  # fmt: skip
    return rows, np.array(label), index


def twins_of(noise_score: np.ndarray, labels: np.ndarray, index: list[int]) -> dict[str, tuple[np.ndarray, ...]]:
    clean_by_index = {index[r]: noise_score[r] for r in np.flatnonzero(labels == "clean")}
    out = {}
    for k in PAIRED_TYPES:
        rows = [r for r in np.flatnonzero(labels == k) if index[r] in clean_by_index]
        if rows:
            out[k] = (np.array([clean_by_index[index[r]] for r in rows]), noise_score[rows])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/multi30k")
    ap.add_argument("--tgt", choices=sorted(OTHER_LANGS), default="cs")
    ap.add_argument("--corpus", choices=("large", "large-all", "small", "train"), default="large")
    ap.add_argument("--embedder", default=None, help="embedder for the embedding scorers (`use`: the built-in USE)")
    ap.add_argument("--seed", type=int, default=SEED, help="corruption seed (another draw of the noise)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N val pairs (0 = all)")
    ap.add_argument("--draws", type=int, default=5, help="small: number of 1,000-pair corpora")
    ap.add_argument("--small-pairs", type=int, default=1000)
    ap.add_argument("--no-small-fallback", action="store_true", help="small: keep the corpus-fitted scorers")
    ap.add_argument("--noise-share", type=float, default=0.3, help="small: share of corrupted pairs per corpus")
    args = ap.parse_args()
    d, lang = args.data, args.tgt
    names = SCORER_NAMES + (EMBEDDING_SCORERS if args.embedder else ())
    clock = Clock()
    train_en, train_tgt = read_lines(d / "train.en.gz"), read_lines(d / f"train.{lang}.gz")
    en, tgt = read_lines(d / "val.en.gz"), read_lines(d / f"val.{lang}.gz")
    other = tuple(read_lines(d / f"val.{o}.gz") for o in OTHER_LANGS[lang])
    if args.limit:
        en, tgt, other = en[: args.limit], tgt[: args.limit], tuple(o[: args.limit] for o in other)
    noise = make_noise(en, tgt, other, lang, np.random.default_rng(args.seed))
    result: dict = {"corpus": args.corpus, "tgt": lang, "embedder": args.embedder, "scorers": list(names)}
    load_before = os.getloadavg()

    if args.corpus in ("large", "large-all", "train"):
        rows, labels, index = benchmark_rows(en, tgt, noise, lang)
        if args.corpus == "train":
            rows = {"src_text": train_en, "tgt_text": train_tgt, "bt_text": [None] * len(train_en),
                    "src_lang": ["en"] * len(train_en), "tgt_lang": [lang] * len(train_en)}  # fmt: skip
            fit = {"lexical_src": train_en, "lexical_tgt": train_tgt, "fluency_tgt": train_tgt}
        else:
            rows = {k: (train_en if k == "src_text" else train_tgt if k in ("tgt_text", "orig_tgt_text") else
                        [v[0]] * len(train_en)) + v for k, v in rows.items()}  # fmt: skip
            rows["bt_text"] = [None] * len(rows["src_text"])
            fit = {"lexical_src": rows["src_text"], "lexical_tgt": rows["tgt_text"], "fluency_tgt": train_tgt + tgt}
        corpus_rows = len(train_en) + len(en) if args.corpus == "large" else None
        noise_score, table, combiner = score_corpus(rows, fit, names, args.embedder, clock, corpus_rows=corpus_rows)
        directions = {s: c.direction for s, c in _classes(names).items() if s in table}
        if args.corpus == "train":
            sel = select(noise_score, table, ["m"] * len(noise_score), SelectionConfig(nrf_fraction=0.0))
            reasons: dict[str, int] = {}
            for r in sel.reason:
                if r is not None:
                    reasons[r] = reasons.get(r, 0) + 1
            stated = combiner.expected_clean_rejection(DEFAULT_THRESHOLD)
            result |= {"pairs": len(noise_score), "default_threshold": DEFAULT_THRESHOLD,
                       "dropped_share": round(float((~sel.keep).mean()), 4), "dropped_by_reason": reasons,
                       "expected_clean_rejection_stated": stated}  # fmt: skip
        else:
            bench = slice(len(train_en), None)
            noise_b = noise_score[bench]
            table_b = {k: v[bench] for k, v in table.items()}
            result |= evaluate(noise_b, labels, table_b, directions, combiner, twins_of(noise_b, labels, index))
            tr = noise_score[: len(train_en)]
            sel = select(tr, {k: v[: len(train_en)] for k, v in table.items()}, ["m"] * len(tr),
                         SelectionConfig(nrf_fraction=0.0))  # fmt: skip
            result["train_pairs_in_corpus_dropped_by_default_selection"] = round(float((~sel.keep).mean()), 4)
        result["combiner"] = {"kind": combiner.kind, **combiner.info}
    else:
        result |= small_corpora(args, en, tgt, noise, lang, names, clock)
    result["timing"] = clock.phases
    result["load_avg_1_5_15"] = {"before": [round(x, 2) for x in load_before],
                                 "after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    print(json.dumps(result, indent=1))


def _classes(names: Sequence[str]) -> dict:
    from clcm.filtering.registry import SCORERS

    return {n: SCORERS[n] for n in names}


def small_corpora(args: argparse.Namespace, en: list[str], tgt: list[str], noise: dict, lang: str,
                  names: Sequence[str], clock: Clock) -> dict:  # fmt: skip
    """``--draws`` corpora of ``--small-pairs`` pairs, each fitted and scored alone; per-draw and pooled metrics."""
    rng = np.random.default_rng(args.seed + 1)
    per_draw, pooled_noise, pooled_labels, pooled_tables = [], [], [], []
    directions = {s: c.direction for s, c in _classes(names).items()}
    for draw in range(args.draws):
        idx = rng.permutation(len(en))[: args.small_pairs]
        src, out, label = [], [], []
        for i in idx:
            kind = "clean"
            if rng.random() < args.noise_share:
                options = [k for k in TYPES if noise[k][i] is not None]
                kind = options[int(rng.integers(len(options)))]
            src.append(en[i])
            out.append(tgt[i] if kind == "clean" else noise[kind][i])
            label.append(kind)
        rows = {"src_text": src, "tgt_text": out, "bt_text": [None] * len(src), "src_lang": ["en"] * len(src),
                "tgt_lang": [lang] * len(src)}  # fmt: skip
        fit = {"lexical_src": src, "lexical_tgt": out, "fluency_tgt": out}
        noise_score, table, combiner = score_corpus(
            rows, fit, names, args.embedder, clock, seed=draw, fallback=not args.no_small_fallback
        )
        labels = np.array(label)
        ev = evaluate(noise_score, labels, {k: v for k, v in table.items()}, directions, combiner, None)
        per_draw.append({"roc_auc_overall": ev["roc_auc"]["overall"], "pairs": ev["pairs"],
                         "recall_at_3.3%": ev["recall_at_3.3%_clean_rejected"]["overall"],
                         "default_selection": ev["default_selection"],
                         "combiner": {"kind": combiner.kind, **combiner.info}})  # fmt: skip
        pooled_noise.append(noise_score)
        pooled_labels.append(labels)
        pooled_tables.append(table)
    aucs = [d["roc_auc_overall"] for d in per_draw]
    labels = np.concatenate(pooled_labels)
    noise_all = np.concatenate(pooled_noise)
    table_all = {k: np.concatenate([t[k] for t in pooled_tables]) for k in pooled_tables[0]}
    pooled = evaluate(noise_all, labels, table_all, directions, _NoCombiner(), None)
    return {"small_pairs": args.small_pairs, "small_fallback": not args.no_small_fallback,
            "noise_share": args.noise_share, "draws": args.draws,
            "roc_auc_overall_per_draw": aucs, "roc_auc_overall_mean": round(float(np.mean(aucs)), 4),
            "pooled_over_draws": pooled, "per_draw": per_draw}  # fmt: skip


class _NoCombiner:
    def expected_clean_rejection(self, threshold: float) -> None:
        return None


if __name__ == "__main__":
    main()
