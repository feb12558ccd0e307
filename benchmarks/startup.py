"""Fixed costs of `clcm-data translate`: a warm re-run that translates nothing, and `--workers 2` vs one worker.

Each measurement is one `clcm-data translate` subprocess (the real CLI), timed from outside: wall time and CPU
time (user+sys of the process and of any process it waited for, from ``os.wait4``), plus the process's peak RSS
(VmHWM; `--workers` are threads of that one process). Cases are interleaved and repeated; medians are reported
with the load average seen. The model is a tiny random Marian (ct2, converted once), so the numbers are about what
every run and every worker pays besides translating: imports, model and tokenizer loads, Beam set-up.

- ``warm_rerun``: translate captions already in the cache (0 texts translated).
- ``workers_1`` / ``workers_2``: the same job without the cache (every text translated), 1 vs 2 DirectRunner
  workers (``--workers``); the ratio of their CPU times is what a second worker costs.

Usage: ``python benchmarks/startup.py [--captions 5000] [--repeats 3] [--out JSON]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MULTI30K = Path(os.environ.get("CLCM_MULTI30K", Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"))
CLI = r"""
import json, sys
from clcm.cli.common import run_app
from clcm.cli.data import app
code = run_app(app, sys.argv[1:])
with open("/proc/self/status") as fh:  # VmHWM: ru_maxrss would carry the parent's peak over fork + exec
    hwm = next(int(x.split()[1]) for x in fh if x.startswith("VmHWM:"))
print("@@" + json.dumps({"rc": code, "hwm_kb": hwm}))
"""


def write_captions(root: Path, n: int) -> Path:
    from clcm.schemas import CAPTION_SCHEMA, write_rows

    with gzip.open(MULTI30K / "train.en.gz", "rt", encoding="utf-8") as fh:
        base = [line.strip() for line in fh if line.strip()]
    rows = [
        dict(caption_id=f"img{i}#en#0", media_id=f"img{i}", caption_index=0, lang="en", split="train")
        | {"text": base[i % len(base)] + ("" if i < len(base) else f" ({i})"), "dataset": "bench", "origin": "human"}
        for i in range(n)
    ]
    out = root / "captions"
    write_rows(rows, out / "captions-00000-of-00001.parquet", CAPTION_SCHEMA)
    return out


def run_cli(args: list[str], env: dict[str, str]) -> dict:
    """One CLI process: wall, CPU (user+sys, itself and its children) and peak RSS (driver, largest worker)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()  # type: ignore[union-attr]
    proc.stdout.close(), proc.stderr.close()  # type: ignore[union-attr]
    lines = [x for x in stdout.splitlines() if x.startswith("@@")]
    if os.waitstatus_to_exitcode(status) or not lines or json.loads(lines[-1][2:])["rc"]:
        raise SystemExit(f"clcm-data {' '.join(args)} failed:\n{stderr[-3000:]}")
    kb = json.loads(lines[-1][2:])
    # wait4's usage covers the CLI process and the children it waited for (its Beam workers)
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": kb["hwm_kb"] / 1024,  # the one process: --workers are threads sharing its models
        "summary": [x for x in stdout.splitlines() if x.startswith("translated")][-1:],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captions", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    load_before = os.getloadavg()
    from clcm.testing.tiny_seq2seq import build_tiny_marian
    from clcm.translation.ct2 import convert_model

    with tempfile.TemporaryDirectory(prefix="clcm-startup-") as tmp:
        work = Path(tmp)
        captions = write_captions(work, args.captions)
        with gzip.open(MULTI30K / "train.en.gz", "rt", encoding="utf-8") as fh:
            hf_model = build_tiny_marian(work / "model", [next(fh).strip() for _ in range(500)])
        model = convert_model(str(hf_model), work / "model-ct2")  # converted once, as `clcm-data convert-model`
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(work / "xdg")}
        base = ["translate", "-i", str(captions), "-l", "de", "--model", str(model), "--max-length", "16"]
        base += ["--no-progress", "--cache-dir", str(work / "cache")]
        run_cli([*base, "-o", str(work / "fill")], env)  # fills the cache
        runs: dict[str, list[dict]] = {"warm_rerun": [], "workers_1": [], "workers_2": []}
        for i in range(args.repeats):
            runs["warm_rerun"].append(run_cli([*base, "-o", str(work / f"warm{i}")], env))
            for w in (1, 2):
                out = ["-o", str(work / f"w{w}_{i}"), "--no-cache", "--workers", str(w)]
                runs[f"workers_{w}"].append(run_cli([*base, *out], env))
    med = {
        k: {m: round(statistics.median(r[m] for r in v), 3) for m in ("wall_s", "cpu_s", "peak_rss_mb")}
        for k, v in runs.items()
    }
    result = {
        "benchmark": "startup",
        "captions": args.captions,
        "model": "tiny random Marian (d_model 16), ct2 int8, max_length 16, 1 target language (MT + BT)",
        "median": med,
        "workers_2_vs_1": {m: round(med["workers_2"][m] / med["workers_1"][m], 3) for m in ("wall_s", "cpu_s")},
        "runs": runs,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
