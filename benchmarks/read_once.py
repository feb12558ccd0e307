"""Read once, hash once (issue 15 item 5): bytes read by score, filter and the run stamps, against older code. Prints
JSON.

Corpus: the 29,000 Multi30K train pairs (en -> human cs) in shards of 5,000 (6 files). Each measured run is a fresh
child process (``PYTHONPATH`` = the code under test) that runs ``score`` (cheap scorers ``copy`` + ``length_ratio``
so that reading, not scoring, is what differs; in-process DirectRunner, one worker), then ``filter`` on its output,
then the ``clcm-data run`` stamp of each stage (``run.output_files``); around each step it reads the bytes its read
syscalls returned (``rchar`` of /proc/self/io: files, page cache included, and the few modules imported on the way),
CPU (user+sys) and wall time. ``--baseline PATH`` runs the same with an older tree (e.g. ``git archive 7fe2ef4``),
interleaved with the current code, ``--repeat`` times each; the load average is recorded before and after.

Usage: python benchmarks/read_once.py --baseline /tmp/base [--repeat 2] [--out benchmarks/results/read_once.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS_PER_SHARD = 5_000

CHILD = r"""
import json, os, sys, time
from pathlib import Path
from clcm.pipelines.score import ScoreConfig, run as score
from clcm.pipelines.filter import FilterConfig, run as filt
from clcm.pipelines.run import output_files

def rchar():
    return int(next(l for l in open("/proc/self/io") if l.startswith("rchar:")).split()[1])

pairs, out = sys.argv[1], Path(sys.argv[2])
steps = {}
def step(name, fn):
    r, c, w = rchar(), time.process_time(), time.perf_counter()
    fn()
    steps[name] = {"read_mb": round((rchar() - r) / 2**20, 2), "cpu_s": round(time.process_time() - c, 2),
                   "wall_s": round(time.perf_counter() - w, 2)}
step("score", lambda: score(ScoreConfig(pairs, str(out / "score"), scorers=("copy", "length_ratio"))))
step("filter", lambda: filt(FilterConfig(str(out / "score"), str(out / "filter"), plots=False)))
step("stamp_score", lambda: output_files(out / "score"))
step("stamp_filter", lambda: output_files(out / "filter"))
import clcm
steps["clcm"] = clcm.__file__
print(json.dumps(steps))
"""


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


def write_corpus(data: Path, out: Path) -> int:
    from clcm.schemas import write_sharded
    from clcm.schemas.tables import PAIR_SCHEMA

    pairs = list(zip(read_lines(data / "train.en.gz"), read_lines(data / "train.cs.gz"), strict=True))
    rows = [{"pair_id": f"p{i}", "caption_id": f"c{i}", "media_id": f"m{i}", "caption_index": 0, "split": "train",
             "dataset": "multi30k", "src_lang": "en", "src_text": s, "tgt_lang": "cs", "tgt_text": t,
             "bt_text": None, "tgt_origin": "human"} for i, (s, t) in enumerate(pairs)]  # fmt: skip
    write_sharded(rows, out / "pairs", "pairs", PAIR_SCHEMA, ROWS_PER_SHARD)
    return len(rows)


def measure(pairs: Path, out: Path, pythonpath: str) -> dict:
    env = os.environ | {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    load = os.getloadavg()[0]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(pairs), str(out)],
        env=env,
        text=True,
        cwd=out.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip (cwd: not this tree)
    stdout, stderr = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"run failed ({pythonpath}):\n{stderr[-3000:]}")
    return {"steps": json.loads(stdout.strip().splitlines()[-1]), "load_avg_before_after": [round(load, 2),
            round(os.getloadavg()[0], 2)]}  # fmt: skip


def sizes(out: Path) -> dict[str, float]:
    mb = lambda d: round(sum(f.stat().st_size for f in d.glob("*.parquet")) / 2**20, 2)  # noqa: E731
    return {"input_mb": mb(out.parent / "in" / "pairs"), "scored_mb": mb(out / "score" / "scored"),
            "filtered_mb": mb(out / "filter" / "kept") + mb(out / "filter" / "dropped")}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "multi30k")
    ap.add_argument("--baseline", help="PYTHONPATH of the older code to compare with")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "read_once.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="clcm-read-once-") as tmp:
        pairs = Path(tmp) / "in"
        n = write_corpus(args.data, pairs)
        versions = {"current": str(ROOT), **({"baseline": args.baseline} if args.baseline else {})}
        runs: dict[str, list[dict]] = {k: [] for k in versions}
        for r in range(args.repeat):  # interleaved: current, baseline, current, baseline, ...
            for name, path in versions.items():
                out = Path(tmp) / f"{name}-{r}"
                runs[name].append(measure(pairs, out, path))
                files = sizes(out)
        result = {"pairs": n, "shards": -(-n // ROWS_PER_SHARD), **files, "runs": runs,
                  "baseline": args.baseline, "cpu_count": os.cpu_count()}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
