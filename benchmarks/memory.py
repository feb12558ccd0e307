"""Peak memory of `clcm-data translate` and `clcm-data score` on 2,000 vs 29,000 captions (one run, interleaved).

Each measurement is one CLI subprocess (the real command, run in-process by a small wrapper that samples its
process tree every 50 ms): ``peak_rss_mb`` is the peak RSS of the process and its children together (the larger of
the driver's own ``VmHWM`` and the sampled sum of the tree's RSS; a child forked but not yet exec'd, whose pages
are the driver's, is not counted a second time), ``driver_peak_rss_mb`` the driver's ``VmHWM``,
``worker_peak_rss_mb`` the largest ``VmHWM`` of a Beam worker process (not ``ru_maxrss``, which carries the
parent's peak over fork + exec). CPU seconds are user+sys of the process and its children (``RUSAGE_CHILDREN``
deltas of the benchmark), beside wall time. Sizes alternate inside each round (translate small, large; score small,
large) so both see the same machine load; the load average is recorded before and after.

Translation uses a tiny random Marian converted once to CTranslate2 (so the numbers are the pipeline's data
handling, not model size); every translate run has a fresh cache (all texts translated). Score runs on that
translate output with its defaults (``score``), and on the same pairs with the Multi30K Czech (``score_real``) and
German (``score_real_de``) references as targets: the random model's targets have a tiny vocabulary, real ones make
the corpus-fitted IBM-1 and fluency models grow with the corpus. The real-target pairs keep the row groups of the
translate shards they replace (clcm writes 4,096-row groups; reading any row of a group decodes its dictionary
pages whole, so one 29k-row group would cost each scoring round ~20 MB more).
A second part measures translate's memory per worker: ``--workers 1`` vs
``--workers 2`` (threads of one process, the default) vs ``--workers 2`` as processes
(``--direct_running_mode multi_processing``: each worker a process whose peak is reported).

Usage: ``python benchmarks/memory.py [--small 2000] [--large 29000] [--repeats 1] [--out JSON]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MULTI30K = Path(os.environ.get("CLCM_MULTI30K", Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"))
RESULTS = Path(__file__).resolve().parent / "results"
WRAPPER = r"""
import json, os, sys, threading, time
from clcm.cli.common import run_app
from clcm.cli.data import app

def status(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            return {k: int(v.split()[0]) for k, v in (x.split(":", 1) for x in fh) if k in ("VmHWM", "VmRSS")}
    except (OSError, ValueError):
        return {}

def children(pid):
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out + [g for c in out for g in children(c)] if out else []

workers, tree = {}, [0]
def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return None

def sample():  # worker processes' own peaks (VmHWM after exec), and the sampled total RSS of the process tree
    me = os.getpid()
    mine = cmdline(me)
    while True:
        total = status(me).get("VmRSS", 0)
        for c in children(me):
            if cmdline(c) == mine:  # forked, not exec'd yet (e.g. `uname -p`): its pages are this process's
                continue
            st = status(c)
            workers[c] = max(workers.get(c, 0), st.get("VmHWM", 0))
            total += st.get("VmRSS", 0)
        tree[0] = max(tree[0], total)
        time.sleep(0.05)

threading.Thread(target=sample, daemon=True).start()
code = run_app(app, sys.argv[1:])
hwm = status(os.getpid())["VmHWM"]
big = sorted(workers.values())[-2:]  # short-lived helpers (uname) are tiny; Beam workers are not
print("@@" + json.dumps({"rc": code, "self_kb": hwm, "children_kb": max(big, default=0), "tree_kb": max(tree[0], hwm),
                         "workers": sum(1 for v in workers.values() if v > 50_000)}))
"""
SETUP = r"""
import gzip, sys
from pathlib import Path
from clcm.schemas import CAPTION_SCHEMA, write_rows
from clcm.testing.tiny_seq2seq import build_tiny_marian
from clcm.translation.ct2 import convert_model
multi30k, work, *sizes = sys.argv[1:]
with gzip.open(Path(multi30k) / "train.en.gz", "rt", encoding="utf-8") as fh:
    base = [line.strip() for line in fh if line.strip()]
for n in map(int, sizes):
    rows = [dict(caption_id=f"img{i}#en#0", media_id=f"img{i}", caption_index=0, lang="en", split="train",
                 text=base[i % len(base)] + ("" if i < len(base) else f" ({i})"), dataset="bench", origin="human")
            for i in range(n)]
    write_rows(rows, Path(work) / f"captions{n}" / "captions-00000-of-00001.parquet", CAPTION_SCHEMA)
hf = build_tiny_marian(Path(work) / "model", base[:500])
convert_model(str(hf), Path(work) / "model-ct2")
"""


def real_pairs(translated: Path, out: Path, lang: str) -> None:
    """The pairs of ``translated`` with the Multi30K ``lang`` reference as target and the English as back-translation,
    written as clcm's shard writer wrote them (the same row groups, zstd)."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    from clcm.schemas.io import write_row_groups

    def lines(name: str) -> list[str]:
        with gzip.open(MULTI30K / name, "rt", encoding="utf-8") as fh:
            return fh.read().splitlines()

    en, ref = lines("train.en.gz"), lines(f"train.{lang}.gz")
    (out / "pairs").mkdir(parents=True, exist_ok=True)
    for shard in sorted((translated / "pairs").glob("*.parquet")):
        t = pq.read_table(shard)
        meta = pq.ParquetFile(shard).metadata
        sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        # caption img{i}#en#0 was made from train line i (modulo the file)
        idx = [int(c[3:].split("#")[0]) % len(en) for c in t.column("caption_id").to_pylist()]
        for name, values in (("tgt_text", [ref[i] for i in idx]), ("bt_text", [en[i] for i in idx])):
            t = t.set_column(t.schema.get_field_index(name), t.schema.field(name), pa.array(values))
        starts = [sum(sizes[:g]) for g in range(len(sizes))]
        write_row_groups((t.slice(a, n) for a, n in zip(starts, sizes, strict=True)), str(out / "pairs" / shard.name),
                         t.schema)  # fmt: skip


def run_cli(args: list[str], env: dict[str, str]) -> dict:
    """One `clcm-data` process: wall time and peak RSS of the driver and its largest worker."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    lines = [x for x in stdout.decode().splitlines() if x.startswith("@@")]
    if proc.returncode or not lines or json.loads(lines[-1][2:])["rc"]:
        raise SystemExit(f"clcm-data {' '.join(args)} failed:\n{stderr.decode()[-3000:]}")
    kb = json.loads(lines[-1][2:])
    return {"wall_s": wall, **{k: kb[k] for k in ("self_kb", "children_kb", "tree_kb", "workers")}}


class Meter:
    """Runs CLI processes and attributes CPU time to each through ``RUSAGE_CHILDREN`` deltas of this process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, args: list[str]) -> dict:
        import resource

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = run_cli(args, self.env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {
            "peak_rss_mb": round(r["tree_kb"] / 1024, 1),
            "driver_peak_rss_mb": round(r["self_kb"] / 1024, 1),
            "worker_peak_rss_mb": round(r["children_kb"] / 1024, 1),
            "worker_processes": r["workers"],
            "cpu_s": round(cpu, 2),
            "wall_s": round(r["wall_s"], 2),
        }


def median_of(runs: list[dict]) -> dict:
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--large", type=int, default=29000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--workers-captions", type=int, default=None, help="captions of the per-worker part (--small)")
    ap.add_argument("--no-workers", dest="workers", action="store_false", help="skip the per-worker part")
    ap.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    args = ap.parse_args()
    sizes = (args.small, args.large)
    load = {"before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="clcm-memory-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(work / "xdg")}
        wn = args.workers_captions or args.small
        subprocess.run([sys.executable, "-c", SETUP, str(MULTI30K), tmp, *map(str, sorted({*sizes, wn}))], env=env,
                       check=True)  # fmt: skip
        meter = Meter(env)
        model = str(work / "model-ct2")

        def translate(n: int, out: str, *extra: str) -> dict:
            base = ["translate", "-i", str(work / f"captions{n}"), "-o", str(work / out), "-l", "de"]
            base += [
                "--model",
                model,
                "--max-length",
                "16",
                "--no-progress",
                "--cache-dir",
                str(work / f"cache-{out}"),
            ]
            return meter([*base, *extra])

        commands = ("translate", "score", "score_real", "score_real_de")
        runs: dict[str, dict[int, list[dict]]] = {c: {n: [] for n in sizes} for c in commands}
        for i in range(args.repeats):
            for n in sizes:
                runs["translate"][n].append(translate(n, f"t{n}_{i}"))
            for n in sizes:
                runs["score"][n].append(meter(["score", "-i", str(work / f"t{n}_{i}"), "-o", str(work / f"s{n}_{i}")]))
            for command, lang in (("score_real", "cs"), ("score_real_de", "de")):
                for n in sizes:  # real targets: the corpus-fitted models grow with a real vocabulary
                    real_pairs(work / f"t{n}_{i}", work / f"r{lang}{n}_{i}", lang)
                    real = ["score", "-i", str(work / f"r{lang}{n}_{i}"), "-o", str(work / f"s{lang}{n}_{i}")]
                    runs[command][n].append(meter(real))
        workers: dict[str, list[dict]] = {"workers_1": [], "workers_2_threads": [], "workers_2_processes": []}
        if args.workers:
            for i in range(args.repeats):
                workers["workers_1"].append(translate(wn, f"w1_{i}", "--workers", "1"))
                workers["workers_2_threads"].append(translate(wn, f"w2t_{i}", "--workers", "2"))
                mp = ["--workers", "2", "--direct_running_mode", "multi_processing"]
                workers["workers_2_processes"].append(translate(wn, f"w2p_{i}", *mp))
    load["after"] = os.getloadavg()
    commands = {}
    for cmd, by_size in runs.items():
        small, large = median_of(by_size[args.small]), median_of(by_size[args.large])
        commands[cmd] = {
            "small": small,
            "large": large,
            "peak_rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
            "peak_rss_growth_mb": round(large["peak_rss_mb"] - small["peak_rss_mb"], 1),
            "growth_kb_per_caption": round(
                (large["peak_rss_mb"] - small["peak_rss_mb"]) * 1024 / (args.large - args.small), 2
            ),
            "runs": {str(n): v for n, v in by_size.items()},
        }
    result: dict = {
        "benchmark": "memory",
        "sizes": list(sizes),
        "model": "tiny random Marian (d_model 16), ct2 int8, max_length 16, 1 target language (MT + BT)",
        "runner": "FnApiRunner in-process (clcm's DirectRunner default), 1 worker",
        "target_peak_rss_ratio": 1.15,
        **commands,
    }
    if args.workers:
        med = {k: median_of(v) for k, v in workers.items()}
        result["workers"] = {
            "captions": wn,
            "median": med,
            "per_worker_mb": {  # threads share one process (and its models); processes each load everything
                "workers_1_process": med["workers_1"]["peak_rss_mb"],
                "workers_2_threads_second_worker_adds": round(
                    med["workers_2_threads"]["peak_rss_mb"] - med["workers_1"]["peak_rss_mb"], 1
                ),
                "workers_2_processes_each_worker": med["workers_2_processes"]["worker_peak_rss_mb"],
                "workers_2_processes_driver": med["workers_2_processes"]["driver_peak_rss_mb"],
            },
            "cpu_ratio_2_vs_1": {k: round(med[k]["cpu_s"] / med["workers_1"]["cpu_s"], 3) for k in med},
            "runs": workers,
        }
    result |= {"repeats": args.repeats, "load": load, "cpus": os.cpu_count()}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
