"""Print the quickstart's retrieval table from a ``clcm-train sweep`` directory: all pairs vs filtered pairs.

For each sweep point: training pairs, the share of them that is known noise (``labels.json`` of
``examples/corrupt_pairs.py``), validation SumR, and test R@1/5/10 (text->image, image->text) and SumR.
Also writes the table as ``table.md`` in the sweep directory.

Usage: ``python examples/quickstart_table.py SWEEP_DIR [--labels labels.json]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from clcm.schemas import read_table

NAMES = {"keep-1": "all pairs (no filter)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", type=Path)
    ap.add_argument("--labels", type=Path, default=None, help="pair_id -> noise type of the corrupted pairs")
    args = ap.parse_args()
    result = json.loads((args.sweep / "sweep.json").read_text(encoding="utf-8"))
    noisy = set(json.loads(args.labels.read_text(encoding="utf-8"))) if args.labels else None
    head = "| training pairs | pairs | known noisy | val SumR | t2v R@1 | R@5 | R@10 | v2t R@1 | R@5 | R@10 | SumR |"
    lines = [head, "|---|" + "---:|" * 10]
    for p in result["points"]:
        if not p.get("val"):
            continue
        name = NAMES.get(p["point"], f"filtered: noise_score ≤ {p['threshold']:g}" if p.get("threshold") is not None
                         else f"best {p['keep_fraction']:.0%} by noise_score")  # fmt: skip
        share = "-"
        if noisy is not None:
            ids = read_table(args.sweep / "points" / p["point"] / "pairs.parquet").column("pair_id").to_pylist()
            share = f"{sum(i in noisy for i in ids) / len(ids):.1%}"
        t = p.get("test") or {}
        cells = [t.get(k, "-") for k in ("t2v_r1", "t2v_r5", "t2v_r10", "v2t_r1", "v2t_r5", "v2t_r10", "sumr")]
        lines.append(f"| {name} | {p['pairs']} | {share} | {p['val']['sumr']} | " + " | ".join(map(str, cells)) + " |")
    table = "\n".join(lines)
    (args.sweep / "table.md").write_text(table + "\n", encoding="utf-8")
    print(f"\nRetrieval, Czech queries vs images (test_2016_flickr: 1,000 captions, 1,000 images); the same model "
          f"and {result['budget_steps']} training steps per row:\n")  # fmt: skip
    print(table)
    sums = [p["test"]["sumr"] for p in result["points"] if p.get("test")]
    if len(sums) == 2:
        print(f"\nWhat filtering buys: {sums[1] - sums[0]:+.1f} test SumR (chance is about 3.2).")
    print("Stand-ins: human Czech captions with synthetic MT-style noise (not MT output), synthetic image features,")
    print("a tiny random BERT. Real numbers need real MT, CLIP features and mBERT: see the README training guide.")


if __name__ == "__main__":
    main()
