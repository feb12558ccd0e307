"""Corrupt a fraction of pair shards' translations, to see the scorers and the filter at work on known noise.

Reads pair shards (e.g. Multi30K imported with ``--as-pairs``: human translations), replaces the target of a random
``--fraction`` of pairs with a corruption made by ``clcm.filtering.synthetic_noise`` (untranslated, half-translated,
wrong language, truncated, repetition loop, dropped or swapped content word, misaligned), and writes new pair shards
plus ``labels.json`` (pair_id -> noise type). Note: the combiner trains on the same library's corruptions, so this
is a demo, not a quality measure — ``benchmarks/filter_quality.py`` uses separate corruption code and seeds.

Usage: ``python examples/corrupt_pairs.py PAIRS_DIR OUT_DIR [--fraction 0.15] [--seed 7]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from clcm.filtering.synthetic_noise import CORRUPTIONS, Pair
from clcm.schemas import PAIR_SCHEMA, read_table, write_sharded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--fraction", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rows = read_table(args.pairs, PAIR_SCHEMA, prefix="pairs").to_pylist()
    pool = [Pair(r["src_text"], r["tgt_text"], r["bt_text"], r["src_lang"], r["tgt_lang"]) for r in rows]
    rng = np.random.default_rng(args.seed)
    kinds = sorted(CORRUPTIONS)
    labels: dict[str, str] = {}
    for i in rng.choice(len(rows), size=int(args.fraction * len(rows)), replace=False):
        kind = kinds[int(rng.integers(len(kinds)))]
        noisy = CORRUPTIONS[kind](pool[int(i)], pool, rng)
        if noisy.tgt != rows[int(i)]["tgt_text"]:
            rows[int(i)] = {**rows[int(i)], "tgt_text": noisy.tgt, "bt_text": noisy.bt, "tgt_origin": "mt"}
            labels[rows[int(i)]["pair_id"]] = kind
    write_sharded(rows, args.out, "pairs", PAIR_SCHEMA, rows_per_shard=50_000)
    (args.out / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n")
    print(f"corrupted {len(labels)} of {len(rows)} pairs -> {args.out} (labels.json)")


if __name__ == "__main__":
    main()
