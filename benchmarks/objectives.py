"""Objectives under translation noise, at convergence: SumR of baseline, nrccr, cl2cm and nrf on Multi30K en->cs.

Prints one JSON document on stdout (and a README-ready markdown table on stderr). One seed per run (``--seed``);
``--merge A.json B.json ...`` combines the JSON of several seeds into one table (mean and per-seed values).

Setup (every choice is a flag; the defaults fit a shared 2-core CPU, not a paper-sized run):
- Text: Multi30K task 1. Training pairs are a seeded subset of ``train`` (English ``src``, human Czech ``tgt``
  standing in for the MT output); a fraction ``p`` of the targets is corrupted with the scoring benchmark's
  corruption types (``clcm.filtering.synthetic_noise``: untranslated, half-translated, wrong language, truncated,
  repetition loops, word drop/swap, misaligned). Queries: the human Czech ``test_2016_flickr`` captions (1,000);
  model selection and early stopping on ``val`` (1,014). No back-translations exist, so NRCCR runs without its L_bt
  term and every method is evaluated target-only (no MT->en query view), which keeps the comparison fair.
- Convergence: every visual stage runs until validation t2v R-sum has not improved for ``--patience + 1`` epochs
  (at most ``--epochs``); the best-on-val checkpoint is tested.
- Visual side: ``--features SPEC`` takes external features (any spec ``clcm-train --features`` reads), joined on
  ``media_id`` as the data spell it (the importer's: the image file name without ``.jpg``). Without it, synthetic
  but honest features: an image's feature is a fixed random Gaussian projection of the bag of content words of its
  *English* caption (L2-normalised counts), plus isotropic Gaussian noise (``--feat-noise`` relative to the signal),
  L2-normalised. Retrieval with Czech queries is learnable because Czech captions translate the same content; no
  Czech text and no caption id ever enters a feature.
- Text encoder: the same tiny random BERT (WordPiece trained on the clean train captions of both languages) for
  every method; hyper-parameters are shared. CL2CM and NRF get their text-only first stage (teacher / noise-filter
  warm-up) on top; their timings include it. NRCCR uses the small-encoder settings (``NRCCR_SMALL``).
- Rows a user can pick: ``baseline`` (all pairs), ``baseline_filtered`` (the pairs ``clcm-data score`` + ``filter``
  keep), ``nrccr``, ``cl2cm`` (all pairs), ``nrf`` (all pairs, its selected parallel subset = the filter's
  ``nrf_selected``, i.e. the best half of the kept pairs by the new scoring). The filter's precision and recall
  against the known corruption labels are reported.

Run: ``python benchmarks/objectives.py --seed 0 > s0.json`` (see ``--help``); ``--merge s0.json s1.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
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
    """(media ids, English captions, Czech captions) of a Multi30K task-1 split; media ids spelt as the importer
    spells them (the image file name without ``.jpg``), so external features keyed that way join."""
    from clcm.formats.multi30k import strip_media_suffix

    lines = (data / f"{split}.images.txt").read_text(encoding="utf-8").splitlines()
    ids = [strip_media_suffix(x.strip()) for x in lines if x.strip()]
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


def write_pairs(path: Path, rows: dict[str, list[Any]], *, split: str, human: bool) -> None:
    """Pair shards (the import/translate schema, the input of ``clcm-data score``) for the trainer / the evaluation."""
    from clcm.schemas.io import table_from_rows, write_table
    from clcm.schemas.tables import PAIR_SCHEMA

    schema = PAIR_SCHEMA
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
        }
        for i in range(n)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(table_from_rows(records, schema), path, schema)


# NRCCR's small-encoder settings (benchmarks/nrccr_small_encoder.py): masked mean pooling, BERT-sized position-table
# init and every violating negative. The reference's defaults leave a from-scratch head on a tiny encoder stuck.
NRCCR_SMALL = {"pool_include_padding": False, "pos_init_std": 0.02, "max_violation": False}
# row name -> (objective, training shards: "all" pairs or the "filtered" output of clcm-data score + filter)
ROWS: dict[str, tuple[str, str]] = {
    "baseline": ("baseline", "all"),
    "baseline_filtered": ("baseline", "filtered"),
    "nrccr": ("nrccr", "all"),
    "cl2cm": ("cl2cm", "all"),
    "nrf": ("nrf", "filtered"),  # every pair (nrf trains on all), nrf_selected from the filter
}


def common_options(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Objective options that make the methods comparable (same joint size; no lower encoder lr)."""
    opts: dict[str, Any] = {"joint_dim": args.joint_dim}
    if name in ("nrccr", "nrf"):
        opts["qk_dim"] = args.hidden  # the attention block's q/k width, scaled down with the tiny encoder
    if name == "nrccr":
        opts |= NRCCR_SMALL
    if name == "cl2cm":
        opts |= {"teacher_epochs": args.pre_epochs, "encoder_lr_scale": 1.0}
    if name == "nrf":
        opts |= {"warmup_epochs": args.pre_epochs, "encoder_lr_scale": 1.0}
    return opts


def train_eval(row: str, root: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from clcm.training.config import TrainConfig
    from clcm.training.evaluation import evaluate_checkpoint
    from clcm.training.trainer import train

    name, data = ROWS[row]
    out = work / row
    cfg = TrainConfig(
        shards=str(work / ("train.parquet" if data == "all" else "filtered.parquet")),
        features=features_spec(root, args),
        val=str(root / "val.parquet"),
        out_dir=str(out),
        objective=name,
        objective_options=common_options(name, args),
        text_model=str(root / "bert"),
        trainable_layers=None,
        tgt_lang="cs",
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        seed=args.seed,
        progress=False,
        log_every=1000,
    )
    t0, c0 = time.perf_counter(), cpu_seconds()
    summary = train(cfg)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    test = evaluate_checkpoint(
        str(out / "model_best.pt"), str(root / "test.parquet"), cfg.features, tgt_lang="cs", device=args.device
    )
    visual = [h for h in summary["history"] if h.get("t2v_rsum") is not None]
    return {
        "sumr": round(test["sumr"], 2),
        "t2v": {k: round(test["t2v"][k], 2) for k in ("r1", "r5", "r10", "medr")},
        "v2t": {k: round(test["v2t"][k], 2) for k in ("r1", "r5", "r10", "medr")},
        "best_epoch": (summary["best"] or {}).get("epoch"),
        "best_stage": (summary["best"] or {}).get("stage"),
        "epochs_run": len(visual),
        "early_stopped": len(visual) < args.epochs,
        "val_curve": [round(h["t2v_rsum"], 2) for h in visual],
        "trained_pairs": summary["data"]["kept"],
        "train_s": round(seconds, 1),
        "cpu_s": round(cpu, 1),
        "steps": summary["steps"],
    }


def cpu_seconds() -> float:
    """user + sys CPU time of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def score_and_filter(work: Path, noisy: np.ndarray, media_ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """``clcm-data score`` + ``filter`` (defaults: no pretrained models) on the noisy pairs, through the real CLI.

    Writes ``work/filtered.parquet`` (kept and dropped rows with ``keep`` and ``nrf_selected``); returns how the
    decisions compare with the known corruption labels.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cli = [sys.executable, "-c", "from clcm.cli.data import main; main()"]
    t0, c0 = time.perf_counter(), cpu_seconds()
    reused = (work / "filter" / "report.json").exists() and (work / "train.parquet").exists()
    for cmd in (
        []
        if reused
        else (
            ["score", "-i", str(work / "train.parquet"), "-o", str(work / "scored"), "--seed", str(args.seed)],
            ["filter", "-i", str(work / "scored"), "-o", str(work / "filter"), "--no-plots"],
        )
    ):
        done = subprocess.run([*cli, *cmd], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"clcm-data {cmd[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    from clcm.schemas import layout

    files = layout.input_files(str(work / "filter"), layout.TRAIN_INPUTS, what="filter output")  # kept + dropped
    table = pa.concat_tables([pq.read_table(f) for f in files])
    pq.write_table(table, work / "filtered.parquet")
    index = {m: i for i, m in enumerate(media_ids)}  # one pair per image in this benchmark
    order = np.array([index[m] for m in table.column("media_id").to_pylist()])
    keep = np.array(table.column("keep").to_pylist(), dtype=bool)
    selected = np.array([bool(x) for x in table.column("nrf_selected").to_pylist()], dtype=bool)
    bad = noisy[order]
    return {
        "reused_earlier_output": reused,  # the same train.parquet was scored and filtered by an earlier run
        "filter_s": round(time.perf_counter() - t0, 1),
        "filter_cpu_s": round(cpu_seconds() - c0, 1),
        "kept": int(keep.sum()),
        "kept_clean_share": round(float((~bad[keep]).mean()), 4),
        "noisy_dropped_share": round(float((~keep[bad]).mean()), 4) if bad.any() else None,
        "clean_dropped_share": round(float((~keep[~bad]).mean()), 4),
        "nrf_selected": int(selected.sum()),
        "nrf_selected_clean_share": round(float((~bad[selected]).mean()), 4),
    }


def features_spec(root: Path, args: argparse.Namespace) -> str:
    return getattr(args, "features", None) or str(root / "features.npy")


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
        if name == "val" and getattr(args, "val_size", None) and args.val_size < len(ids):  # a seeded subset
            pick = np.sort(np.random.default_rng(args.seed + 2).choice(len(ids), size=args.val_size, replace=False))
            ids, en, cs = [ids[i] for i in pick], [en[i] for i in pick], [cs[i] for i in pick]
        splits[name] = {"media_id": ids, "src": en, "tgt": cs}
        english.update(zip(ids, en, strict=True))
        write_pairs(root / f"{name}.parquet", splits[name], split="val" if name == "val" else name, human=True)
    if getattr(args, "features", None):
        from clcm.training.features import load_features

        load_features(args.features).check(list(english), "the Multi30K train subset, val and test")
    else:
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
    ap.add_argument("--objectives", default=",".join(ROWS), help=f"rows to run, from {', '.join(ROWS)}")
    ap.add_argument("--noise", default="0,0.2,0.4", help="comma-separated fractions of corrupted training targets")
    ap.add_argument("--train-size", type=int, default=2000, help="training pairs sampled from Multi30K train")
    ap.add_argument("--epochs", type=int, default=20, help="at most this many epochs of the visual stage")
    ap.add_argument("--patience", type=int, default=2, help="stop after patience + 1 epochs without val improvement")
    ap.add_argument("--pre-epochs", type=int, default=2, help="text-only first stage of cl2cm / nrf")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--val-size", type=int, default=500, help="validation captions (a seeded subset of val)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--hidden", type=int, default=64, help="tiny BERT width")
    ap.add_argument("--layers", type=int, default=2, help="tiny BERT depth")
    ap.add_argument("--vocab", type=int, default=3000, help="WordPiece vocabulary size")
    ap.add_argument("--joint-dim", type=int, default=256)
    ap.add_argument("--features", default=None, help="external visual features (a clcm-train --features SPEC)")
    ap.add_argument("--feat-dim", type=int, default=256)
    ap.add_argument("--feat-noise", type=float, default=0.5, help="Gaussian feature noise, relative to the signal")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workdir", default=None, help="keep runs here (default: a temporary directory)")
    ap.add_argument("--merge", nargs="+", default=None, help="combine the JSON outputs of several seeds; no runs")
    args = ap.parse_args(argv)
    if args.merge:
        return merge([json.loads(Path(p).read_text(encoding="utf-8")) for p in args.merge])

    import torch

    torch.set_num_threads(args.threads)
    rows = [o.strip() for o in args.objectives.split(",") if o.strip()]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
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
            write_pairs(work / "train.parquet", dict(train, tgt=tgt), split="train", human=False)
            level: dict[str, Any] = {"corrupted": int(noisy.sum()), "corruption_types": kinds, "runs": {}}
            if any(ROWS[r][1] == "filtered" for r in rows):
                level["filter"] = score_and_filter(work, noisy, train["media_id"], args)
                print(f"[objectives] p={p} filter: {level['filter']}", file=sys.stderr, flush=True)
            for row in rows:
                print(f"[objectives] p={p} {row} ...", file=sys.stderr, flush=True)
                level["runs"][row] = train_eval(row, root, work, args)
                print(f"[objectives] p={p} {row}: {level['runs'][row]}", file=sys.stderr, flush=True)
                results["noise"][f"{p:g}"] = level
                progress = results | {"config": {k: v for k, v in vars(args).items() if k != "merge"}}
                (root / "results.partial.json").write_text(json.dumps(progress, indent=1), encoding="utf-8")
            results["noise"][f"{p:g}"] = level
    results["config"] = {k: v for k, v in vars(args).items() if k not in ("workdir", "merge")}
    results["load"] = os.getloadavg()
    results["table_md"] = markdown_table([results])
    return results


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One document for several runs: runs of the same seed (e.g. different noise levels) are joined, then the
    table gives per level and row the mean SumR over seeds and the per-seed values."""
    by_seed: dict[int, dict[str, Any]] = {}
    for part in parts:
        seed = part["config"]["seed"]
        if seed in by_seed:
            for p, level in part["noise"].items():  # rows of one level may come from several runs
                have = by_seed[seed]["noise"].setdefault(p, {**level, "runs": {}})
                have["runs"].update(level["runs"])
            by_seed[seed].setdefault("parts", []).append({k: part.get(k) for k in ("config", "load", "setup_s")})
        else:
            by_seed[seed] = json.loads(json.dumps(part))  # a copy: later parts are merged into it
    runs = [by_seed[s] for s in sorted(by_seed)]
    for r in runs:
        r["noise"] = {p: r["noise"][p] for p in sorted(r["noise"], key=float)}
    return {"seeds": sorted(by_seed), "table_md": markdown_table(runs), "runs": runs}


def markdown_table(runs: list[dict[str, Any]]) -> str:
    """Rows = objectives, columns = noise levels; cells: mean test SumR over seeds (per-seed values after it)."""
    levels = sorted({p for r in runs for p in r["noise"]}, key=float)
    rows = list(dict.fromkeys(row for r in runs for level in r["noise"].values() for row in level["runs"]))
    seeds = ", ".join(f"seed {r['config']['seed']}" for r in runs)
    lines = ["| objective | " + " | ".join(f"p={p}" for p in levels) + " |", "|---" * (len(levels) + 1) + "|"]
    for row in rows:
        cells = []
        for p in levels:
            vals = [r["noise"][p]["runs"][row]["sumr"] for r in runs if row in r["noise"].get(p, {}).get("runs", {})]
            if not vals:
                cells.append("—")
                continue
            per = " / ".join(f"{v:.1f}" for v in vals)
            cells.append(f"**{np.mean(vals):.1f}** ({per})" if len(vals) > 1 else f"{vals[0]:.1f}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nTest SumR, mean over {seeds} (per-seed values in brackets)."


if __name__ == "__main__":
    out = main()
    print(out["table_md"], file=sys.stderr)
    print(json.dumps(out, indent=2))
