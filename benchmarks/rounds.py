"""Bounded rounds vs one pipeline (`clcm-data translate --round-rows R` vs `--round-rows 0`), OPUS-MT-sized model.

What rounds cost where translating dominates, as with real models: the real CLI in a subprocess per run (wall; CPU
= user+sys of it and its children, from ``os.wait4``), no cache, the first ``--captions`` Multi30K train captions
en->de (MT + BT), greedy, max length 24, the random OPUS-MT-sized Marian of ``benchmarks/translate.py`` (ct2 int8).
The two variants alternate, ``--repeats`` times; the best of each is reported with the load seen. Peak memory is
measured by ``benchmarks/memory.py`` (tiny model, where the pipeline's data handling dominates).

Usage: ``python benchmarks/rounds.py [--captions 6000] [--round-rows 2000] [--repeats 2] [--out JSON]``
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workers import MODEL, best_and_ratio, emit, setup, translate_run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--round-rows", type=int, default=2000)
    args, ct2, captions = setup(ap, captions=6000)
    result: dict = {"benchmark": "rounds", "captions": args.captions, "round_rows": args.round_rows, "model": MODEL,
                    "load_before": os.getloadavg(), "runs": []}  # fmt: skip
    for rep in range(args.repeats):
        for rows in (0, args.round_rows):
            out = args.model_dir / f"out-rounds{rows}-{rep}"
            run = translate_run(ct2, captions, out, "--round-rows", str(rows))
            result["runs"].append({"round_rows": rows, **run})
    result["load_after"] = os.getloadavg()
    result["best"], result["rounds_vs_one"] = best_and_ratio(result["runs"], "round_rows", 0, args.round_rows)
    emit(result, args.out)


if __name__ == "__main__":
    main()
