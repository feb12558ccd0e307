"""NRCCR vs the baseline on a tiny random encoder: which head/loss settings let NRCCR learn the target language.

Prints one JSON document: best val t2v R-sum (target-only queries) per variant and learning rate.

Setup: the objectives benchmark's data (``benchmarks/objectives.py``: Multi30K en->cs, synthetic visual features from
the English caption, tiny random BERT 64 wide / 2 layers), clean targets, a few epochs. Variants use objective
options only: NRCCR with the reference defaults, and with ``pool_include_padding: false``, ``pos_init_std: 0.02``,
``max_violation: false`` (see clcm/training/objectives/nrccr.py).

Run: ``python benchmarks/nrccr_small_encoder.py --train-size 3000 --epochs 4``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import objectives as bench  # noqa: E402  (the sibling benchmark's data preparation)

SMALL = {"pool_include_padding": False, "pos_init_std": 0.02, "max_violation": False}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": ("baseline", {}),
    "nrccr": ("nrccr", {}),
    "nrccr_small_knobs": ("nrccr", SMALL),
}


def run(name: str, objective: str, options: dict[str, Any], lr: float, root: Path, args: argparse.Namespace) -> dict:
    from clcm.training.config import TrainConfig
    from clcm.training.trainer import train

    opts = {"joint_dim": args.joint_dim} | ({"qk_dim": args.hidden} if objective == "nrccr" else {}) | options
    cfg = TrainConfig(
        shards=str(root / "train.parquet"),
        features=str(root / "features.npy"),
        val=str(root / "val.parquet"),
        out_dir=str(root / f"{name}-{lr:g}"),
        objective=objective,
        objective_options=opts,
        text_model=str(root / "bert"),
        tgt_lang="cs",
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=lr,
        device="cpu",
        seed=args.seed,
        progress=False,
        log_every=1000,
    )
    t0 = time.perf_counter()
    summary = train(cfg)
    curve = [round(h["t2v_rsum"], 2) for h in summary["history"]]
    return {"best_val_t2v_rsum": max(curve), "curve": curve, "steps": summary["steps"],
            "train_s": round(time.perf_counter() - t0, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(bench.REPO.parent / "shared" / "data" / "multi30k"))
    ap.add_argument("--train-size", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lrs", default="5e-4,2e-3")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=3000)
    ap.add_argument("--joint-dim", type=int, default=256)
    ap.add_argument("--feat-dim", type=int, default=256)
    ap.add_argument("--feat-noise", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    results: dict[str, Any] = {"config": vars(args), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="clcm-nrccr-small-") as tmp:
        root = Path(tmp)
        rows = bench.prepare(root, args)
        bench.write_pairs(root / "train.parquet", rows, split="train", human=False)
        for lr in (float(x) for x in args.lrs.split(",")):
            for name in args.variants.split(","):
                objective, options = VARIANTS[name]
                print(f"[nrccr-small] {name} lr={lr:g} ...", file=sys.stderr, flush=True)
                results["runs"][f"{name}@{lr:g}"] = run(name, objective, options, lr, root, args)
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
