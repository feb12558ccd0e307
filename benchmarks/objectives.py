"""Objectives under translation noise: baseline, nrccr, cl2cm and nrf on Multi30K en->cs, SumR at noise p.

Prints one JSON document on stdout (and a README-ready markdown table on stderr).

Setup (every choice is a flag; the defaults fit a shared 2-core CPU in minutes, not a paper-sized run):
- Text: Multi30K task 1. Training pairs are a seeded subset of ``train`` (English ``src``, human Czech ``tgt``
  standing in for the MT output); a fraction ``p`` of the targets is corrupted with the scoring benchmark's
  corruption types (``clcm.filtering.synthetic_noise``: untranslated, half-translated, wrong language, truncated,
  repetition loops, word drop/swap, misaligned). Queries: the human Czech ``test_2016_flickr`` captions (1,000);
  model selection on ``val`` (1,014). No back-translations exist, so NRCCR runs without its L_bt term and every
  method is evaluated target-only (no MT->en query view), which keeps the comparison fair.
- Visual side (synthetic, honest): an image's feature is a fixed random Gaussian projection of the bag of content
  words of its *English* caption (L2-normalised counts), plus isotropic Gaussian noise (``--feat-noise`` relative
  to the signal), L2-normalised. It stands in for an image encoder that sees the objects and actions the English
  caption names. Retrieval with Czech queries is learnable because Czech captions translate the same content, so
  a text encoder that maps Czech words to the English words' projection directions ranks the right image first;
  no Czech text and no caption id ever enters a feature.
- Text encoder: the same tiny random BERT (WordPiece trained on the clean train captions of both languages) for
  every method; visual features and hyper-parameters are shared. CL2CM and NRF get their text-only first stage
  (teacher / noise-filter warm-up) on top of the shared visual epochs; their timings include it.
- NRF's selected parallel subset comes from a real, unsupervised scorer: an IBM-1 lexical model fitted on the noisy
  training pairs themselves (``clcm.filtering.lexical``); the top ``--nrf-keep`` fraction by its likelihood score is
  selected. Its precision against the (known) corruption labels is reported.

Run: ``python benchmarks/objectives.py --train-size 4000 --epochs 4`` (see ``--help``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
_WORD = re.compile(r"[a-z]+")
# Function words carry no visual content; everything else in the English caption is "seen" by the fake encoder.
STOPWORDS = frozenset(
    "a an the of in on at to is are was were be being and or with by for from its his her their this that these "
    "those there it as into onto while who which some one two three several other another up down out over".split()
)


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


def load_split(data: Path, split: str) -> tuple[list[str], list[str], list[str]]:
    """(media ids, English captions, Czech captions) of a Multi30K task-1 split."""
    ids = [Path(x.strip()).stem for x in (data / f"{split}.images.txt").read_text().splitlines() if x.strip()]
    en, cs = read_lines(data / f"{split}.en.gz"), read_lines(data / f"{split}.cs.gz")
    if not len(ids) == len(en) == len(cs):
        raise SystemExit(f"{split}: {len(ids)} images, {len(en)} en, {len(cs)} cs lines")
    return ids, en, cs


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def synthetic_features(english: dict[str, str], dim: int, noise: float, seed: int) -> tuple[np.ndarray, list[str]]:
    """Image features = L2(bag-of-content-words(en) @ W + noise·ε), W and ε seeded Gaussian (see module doc)."""
    vocab = sorted({w for text in english.values() for w in content_words(text)})
    index = {w: i for i, w in enumerate(vocab)}
    rng = np.random.default_rng(seed)
    proj = rng.standard_normal((len(vocab), dim)).astype(np.float32)  # one fixed direction per content word
    ids = list(english)
    feats = np.zeros((len(ids), dim), dtype=np.float32)
    for row, media in enumerate(ids):
        counts: dict[int, float] = {}
        for w in content_words(english[media]):
            counts[index[w]] = counts.get(index[w], 0.0) + 1.0
        if counts:
            keys = np.fromiter(counts, dtype=np.int64)
            vals = np.fromiter(counts.values(), dtype=np.float32)
            feats[row] = (vals / np.linalg.norm(vals)) @ proj[keys]
    feats += noise * rng.standard_normal(feats.shape).astype(np.float32)
    feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    return feats, ids


def corrupt_targets(src: list[str], tgt: list[str], p: float, seed: int) -> tuple[list[str], np.ndarray, dict]:
    """Corrupt a fraction ``p`` of the targets with the scoring benchmark's mix; returns (tgt, noisy, kinds)."""
    from clcm.filtering.synthetic_noise import CORRUPTIONS, DEFAULT_MIX, Pair

    rng = np.random.default_rng(seed)
    pool = [Pair(s, t) for s, t in zip(src, tgt, strict=True)]
    kinds = list(DEFAULT_MIX)
    weights = np.array([DEFAULT_MIX[k] for k in kinds]) / sum(DEFAULT_MIX.values())
    out, noisy, used = list(tgt), np.zeros(len(tgt), dtype=bool), {}
    for i in rng.choice(len(tgt), size=int(round(p * len(tgt))), replace=False):
        for kind in [kinds[int(k)] for k in rng.choice(len(kinds), size=3, p=weights)] + ["misaligned"]:
            new = CORRUPTIONS[kind](pool[i], pool, rng).tgt
            if new != tgt[i]:  # a no-op corruption would leave a clean pair labelled noisy
                out[i], noisy[i] = new, True
                used[kind] = used.get(kind, 0) + 1
                break
    return out, noisy, used


def nrf_selection(src: list[str], tgt: list[str], keep: float) -> tuple[np.ndarray, np.ndarray]:
    """Unsupervised selection: IBM-1 lexical likelihood fitted on these pairs; the top ``keep`` fraction is kept."""
    from clcm.filtering.lexical import LexicalLikelihoodScorer, LexicalModel

    model = LexicalModel.fit(src, tgt)
    scores = LexicalLikelihoodScorer(model).score({"src_text": src, "tgt_text": tgt})
    scores = np.nan_to_num(scores, nan=-np.inf)
    cut = np.quantile(scores[np.isfinite(scores)], 1.0 - keep) if np.isfinite(scores).any() else np.inf
    return scores >= cut, scores


def write_pairs(path: Path, rows: dict[str, list[Any]], *, split: str, human: bool) -> None:
    """Pair shards (scored-pair schema, so ``nrf_selected`` travels with them) for the trainer / the evaluation."""
    from clcm.schemas.io import table_from_rows, write_table
    from clcm.schemas.tables import scored_pair_schema

    schema = scored_pair_schema(["lexical"])
    n = len(rows["media_id"])
    records = [
        {
            "pair_id": f"{rows['media_id'][i]}#en#0:cs",
            "caption_id": f"{rows['media_id'][i]}#en#0",
            "media_id": rows["media_id"][i],
            "caption_index": 0,
            "split": split,
            "dataset": "multi30k",
            "src_lang": "en",
            "src_text": rows["src"][i],
            "tgt_lang": "cs",
            "tgt_text": rows["tgt"][i],
            "tgt_origin": "human" if human else "mt",
            "score_lexical": float(rows["score"][i]) if "score" in rows else None,
            "nrf_selected": bool(rows["nrf_selected"][i]) if "nrf_selected" in rows else None,
        }
        for i in range(n)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(table_from_rows(records, schema), path, schema)


def common_options(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Objective options that make the four methods comparable (same joint size; no lower encoder lr)."""
    opts: dict[str, Any] = {"joint_dim": args.joint_dim}
    if name in ("nrccr", "nrf"):
        opts["qk_dim"] = args.hidden  # the attention block's q/k width, scaled down with the tiny encoder
    if name == "cl2cm":
        opts |= {"teacher_epochs": args.pre_epochs, "encoder_lr_scale": 1.0}
    if name == "nrf":
        opts |= {"warmup_epochs": args.pre_epochs, "encoder_lr_scale": 1.0}
    return opts


def train_eval(name: str, root: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from clcm.training.config import TrainConfig
    from clcm.training.evaluation import evaluate_checkpoint
    from clcm.training.trainer import train

    out = work / name
    cfg = TrainConfig(
        shards=str(work / "train.parquet"),
        features=str(root / "features.npy"),
        val=str(root / "val.parquet"),
        out_dir=str(out),
        objective=name,
        objective_options=common_options(name, args),
        text_model=str(root / "bert"),
        trainable_layers=None,
        tgt_lang="cs",
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        seed=args.seed,
        progress=False,
        log_every=1000,
    )
    t0 = time.perf_counter()
    summary = train(cfg)
    seconds = time.perf_counter() - t0
    test = evaluate_checkpoint(
        str(out / "model_best.pt"), str(root / "test.parquet"), cfg.features, tgt_lang="cs", device=args.device
    )
    return {
        "sumr": round(test["sumr"], 2),
        "t2v": {k: round(test["t2v"][k], 2) for k in ("r1", "r5", "r10", "medr")},
        "v2t": {k: round(test["v2t"][k], 2) for k in ("r1", "r5", "r10", "medr")},
        "best_epoch": (summary["best"] or {}).get("epoch"),
        "best_stage": (summary["best"] or {}).get("stage"),
        "train_s": round(seconds, 1),
        "steps": summary["steps"],
    }


def prepare(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Tiny BERT, synthetic features and the val/test query shards, shared by every run."""
    from clcm.testing.tiny_bert import build_tiny_bert

    data = Path(args.data)
    tr_ids, tr_en, tr_cs = load_split(data, "train")
    rng = np.random.default_rng(args.seed)
    take = np.sort(rng.choice(len(tr_ids), size=min(args.train_size, len(tr_ids)), replace=False))
    train = {"media_id": [tr_ids[i] for i in take], "src": [tr_en[i] for i in take], "tgt": [tr_cs[i] for i in take]}
    splits = {"train": train}
    english = dict(zip(train["media_id"], train["src"], strict=True))
    for split, name in (("val", "val"), ("test_2016_flickr", "test")):
        ids, en, cs = load_split(data, split)
        splits[name] = {"media_id": ids, "src": en, "tgt": cs}
        english.update(zip(ids, en, strict=True))
        write_pairs(root / f"{name}.parquet", splits[name], split="val" if name == "val" else name, human=True)
    feats, ids = synthetic_features(english, args.feat_dim, args.feat_noise, args.seed)
    np.save(root / "features.npy", feats)
    (root / "features.ids.txt").write_text("".join(f"{m}\n" for m in ids), encoding="utf-8")
    bert_text = train["src"] + train["tgt"]
    build_tiny_bert(
        root / "bert",
        bert_text,
        hidden=args.hidden,
        layers=args.layers,
        heads=4,
        intermediate=2 * args.hidden,
        vocab_size=args.vocab,
        seed=args.seed,
        wordpiece=True,  # real subwords, as published (the trained vocabulary varies slightly between builds)
    )
    return train


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "multi30k"))
    ap.add_argument("--objectives", default="baseline,nrccr,cl2cm,nrf")
    ap.add_argument("--noise", default="0,0.4", help="comma-separated fractions of corrupted training targets")
    ap.add_argument("--train-size", type=int, default=6000, help="training pairs sampled from Multi30K train")
    ap.add_argument("--epochs", type=int, default=6, help="epochs of the visual stage (all methods)")
    ap.add_argument("--pre-epochs", type=int, default=2, help="text-only first stage of cl2cm / nrf")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--hidden", type=int, default=64, help="tiny BERT width")
    ap.add_argument("--layers", type=int, default=2, help="tiny BERT depth")
    ap.add_argument("--vocab", type=int, default=3000, help="WordPiece vocabulary size")
    ap.add_argument("--joint-dim", type=int, default=256)
    ap.add_argument("--feat-dim", type=int, default=256)
    ap.add_argument("--feat-noise", type=float, default=0.5, help="Gaussian feature noise, relative to the signal")
    ap.add_argument("--nrf-keep", type=float, default=0.5, help="fraction selected as NRF's parallel subset")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workdir", default=None, help="keep runs here (default: a temporary directory)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    levels = [float(x) for x in args.noise.split(",")]
    with tempfile.TemporaryDirectory(prefix="clcm-objectives-") as tmp:
        root = Path(args.workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        train = prepare(root, args)
        results: dict[str, Any] = {"setup_s": round(time.perf_counter() - t0, 1), "noise": {}}
        for p in levels:
            work = root / f"p{int(round(100 * p)):02d}"
            tgt, noisy, kinds = corrupt_targets(train["src"], train["tgt"], p, args.seed + 1)
            selected, scores = nrf_selection(train["src"], tgt, args.nrf_keep)
            rows = dict(train, tgt=tgt, score=scores, nrf_selected=selected)
            write_pairs(work / "train.parquet", rows, split="train", human=False)
            level: dict[str, Any] = {
                "corrupted": int(noisy.sum()),
                "corruption_types": kinds,
                "nrf_selected": int(selected.sum()),
                "nrf_selection_precision": round(float((~noisy[selected]).mean()), 4),
                "nrf_noisy_excluded": round(float((~selected[noisy]).mean()), 4) if noisy.any() else None,
                "runs": {},
            }
            for name in objectives:
                print(f"[objectives] p={p} {name} ...", file=sys.stderr, flush=True)
                level["runs"][name] = train_eval(name, root, work, args)
                print(f"[objectives] p={p} {name}: {level['runs'][name]}", file=sys.stderr, flush=True)
            results["noise"][f"{p:g}"] = level
    results["config"] = {k: v for k, v in vars(args).items() if k not in ("workdir",)}
    results["table_md"] = markdown_table(results, objectives, levels)
    return results


def markdown_table(results: dict[str, Any], objectives: list[str], levels: list[float]) -> str:
    head = "| objective | " + " | ".join(f"SumR p={p:g}" for p in levels) + " |"
    lines = [head, "|---" * (len(levels) + 1) + "|"]
    for name in objectives:
        cells = [f"{results['noise'][f'{p:g}']['runs'][name]['sumr']:.1f}" for p in levels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    out = main()
    print(out["table_md"], file=sys.stderr)
    print(json.dumps(out, indent=2))
