"""Speed of the whole `clcm-data score` stage and of each scorer, on Multi30K train + a val benchmark set. Prints JSON.

Corpus: the 29,000 Multi30K train pairs (en -> human cs) plus a val benchmark set like filter_quality's (the 1,014
val pairs and 8 synthetic corruptions of each, ~8,100; speed barely depends on which noise it is), in one shard.
Stage: ``clcm-data score`` with its defaults in a fresh process (DirectRunner in-process, one worker, one core:
OMP_NUM_THREADS=1); CPU = user+sys of that process and its children (``os.wait4``), with wall time and the load
average before and after (machines are shared: compare CPU time). Per phase (read, fit, combiner, beam) wall and
CPU seconds come from the manifest; the driver-side share is (read + fit + combiner) CPU over the stage's CPU.
``--baseline PATH`` also runs the stage with PYTHONPATH=PATH (e.g. a worktree of an older commit), interleaved
with the current code, ``--repeat`` times each.
Per scorer: pairs per CPU-second over the whole corpus in this process, each scorer built fresh (empty caches),
with the models the stage fitted (loaded from its ``models/``); columns that share a feature pass are also timed
together (``shared_passes``), as the stage runs them.

Usage: python benchmarks/score_speed.py [--data DIR] [--out benchmarks/results/score_speed.json] [--baseline PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from clcm.filtering import langid  # noqa: E402
from clcm.filtering.registry import DEFAULT_SCORERS, FLUENCY_SCORERS, JOINT_SCORERS, LEXICAL_SCORERS  # noqa: E402
from clcm.filtering.scoring import ScorerSpec, score_batch  # noqa: E402
from clcm.filtering.synthetic_noise import Pair, corrupt  # noqa: E402
from clcm.schemas import write_sharded  # noqa: E402
from clcm.schemas.tables import PAIR_SCHEMA  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORRUPTIONS_PER_VAL_PAIR = 8
BATCH = 1024


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


def corpus_rows(data: Path) -> list[dict]:
    train = list(zip(read_lines(data / "train.en.gz"), read_lines(data / "train.cs.gz"), strict=True))
    val = [Pair(s, t, None, "en", "cs") for s, t in zip(read_lines(data / "val.en.gz"),
                                                       read_lines(data / "val.cs.gz"), strict=True)]  # fmt: skip
    noisy, _ = corrupt(val, CORRUPTIONS_PER_VAL_PAIR * len(val), seed=20261201)
    pairs = train + [(p.src, p.tgt) for p in val] + [(p.src, p.tgt) for p in noisy]
    return [{"pair_id": f"p{i}", "caption_id": f"c{i}", "media_id": f"m{i}", "caption_index": 0, "split": "train",
             "dataset": "multi30k", "src_lang": "en", "src_text": s, "tgt_lang": "cs", "tgt_text": t,
             "bt_text": None, "tgt_origin": "human"} for i, (s, t) in enumerate(pairs)]  # fmt: skip


def run_stage(pairs_dir: Path, out: Path, pythonpath: str) -> dict:
    """One ``clcm-data score`` in a child process: its CPU (user+sys incl. its children), wall, load, manifest."""
    env = os.environ | {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    code = "from clcm.cli.data import main; main()"
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, "score", "-i", str(pairs_dir), "-o", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"score failed ({pythonpath}):\n{err[-3000:]}")
    manifest = json.loads((out / "_manifest.json").read_text(encoding="utf-8"))
    cpu = usage.ru_utime + usage.ru_stime
    n = manifest["counts"]["read"]
    phases = manifest.get("extra", {}).get("cpu_seconds", {})
    driver = sum(v for k, v in phases.items() if k != "beam")
    return {
        "pairs": n,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "pairs_per_cpu_s": round(n / cpu, 1),
        "load_avg_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "phase_wall_s": manifest.get("timings", {}),
        "phase_cpu_s": phases,
        "driver_cpu_share": round(driver / cpu, 3) if phases else None,
        "startup_and_manifest_cpu_s": round(cpu - sum(phases.values()), 2) if phases else None,
    }


def per_scorer_speed(rows: list[dict], model_dir: Path) -> dict:
    """Pairs per CPU-second of each scorer alone (fresh, empty caches) and of each shared pass with its columns."""
    names = [n for n in DEFAULT_SCORERS if n not in ("bt_chrf", "mt_logprob")]  # no BT or log-probs in this corpus
    cols = ("src_text", "tgt_text", "src_lang", "tgt_lang", "bt_text")
    batches = [{c: [r[c] for r in rows[i : i + BATCH]] for c in cols} for i in range(0, len(rows), BATCH)]

    def timed(scorer_names: tuple[str, ...]) -> float:
        langid._CACHES["fast"].clear()
        langid._CACHES["langdetect"].clear()
        scorers = ScorerSpec(scorer_names, model_dir=str(model_dir)).build()
        score_batch(scorers, {c: [rows[0][c]] for c in cols})  # warm-up: imports, model load (once per worker)
        langid._CACHES["fast"].clear()
        langid._CACHES["langdetect"].clear()
        t = time.process_time()
        for b in batches:
            score_batch(scorers, b)
        return round(len(rows) / (time.process_time() - t), 1)

    speed = {"alone": {n: timed((n,)) for n in names}}
    speed["shared_passes"] = {
        "lexical (6 columns)": timed(LEXICAL_SCORERS),
        "fluency (3 columns)": timed(FLUENCY_SCORERS),
        "all lexical + fluency (10 columns)": timed((*LEXICAL_SCORERS, *FLUENCY_SCORERS, *JOINT_SCORERS)),
        "all default scorers": timed(tuple(names)),
    }
    return speed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/multi30k")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--baseline", default=None, help="PYTHONPATH of another clcm checkout to compare the stage with")
    ap.add_argument("--repeat", type=int, default=1, help="stage runs per code version (interleaved)")
    args = ap.parse_args()
    rows = corpus_rows(args.data)
    result: dict = {"corpus_pairs": len(rows), "stage": {"current": []}}
    with tempfile.TemporaryDirectory(prefix="score_speed_") as tmp:
        pairs_dir = Path(tmp) / "pairs"
        write_sharded(rows, pairs_dir, "pairs", PAIR_SCHEMA, len(rows))
        versions = {"current": str(ROOT)} | ({"baseline": args.baseline} if args.baseline else {})
        result["stage"] = {k: [] for k in versions}
        for i in range(args.repeat):
            for name, path in versions.items():
                result["stage"][name].append(run_stage(pairs_dir, Path(tmp) / f"{name}{i}", path))
        model_dir = Path(tmp) / "current0" / "models"
        result["per_scorer_pairs_per_cpu_s"] = per_scorer_speed(rows, model_dir)
    if args.baseline:
        cur = np.median([r["cpu_s"] for r in result["stage"]["current"]])
        base = np.median([r["cpu_s"] for r in result["stage"]["baseline"]])
        result["cpu_speedup_vs_baseline"] = round(float(base / cur), 2)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
