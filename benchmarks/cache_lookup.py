"""Translation-cache lookup cost vs cache size: 1,000 new texts against an empty cache and a 1,000,000-entry one.

The lookup is the real Beam step of the translate pipeline (``LookupCache``: key texts by bucket, group, read only
the touched buckets), run on the in-process FnApiRunner in a fresh subprocess per measurement, so each peak RSS is
its own. Each child reports the lookup's wall and CPU time (user+sys, process and children) and its peak RSS,
absolute and above the RSS it had before the lookup (after imports). Cases are interleaved (empty, full, empty,
full, ...) and reported as medians. For context, the pre-bucket design's per-worker cost is measured on the same
cache: read every part into a dict (what each worker's ``setup`` did before any lookup).

Usage: ``python benchmarks/cache_lookup.py [--entries 1000000] [--lookups 1000] [--repeats 3] [--out JSON]``
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
from collections import defaultdict
from pathlib import Path

CHILD = r"""
import json, os, resource, sys, time
case, directory, buckets, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from clcm.pipelines import cache
from clcm.pipelines.cache_steps import LookupCache

def status_kb(key):  # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (large) parent
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith(key + ":"))

def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

texts = [f"a brand new caption number {i} that nobody translated yet." for i in range(n)]
before_kb, t0, c0 = status_kb("VmRSS"), time.perf_counter(), cpu()
if case == "legacy_full_load":
    entries = {}
    for b in range(buckets):
        for path in cache.list_parts(directory, b):
            entries.update(cache.translations(cache.read_part(path)))
    misses = sum(t not in entries for t in texts)
else:
    p = beam.Pipeline(runner=FnApiRunner())
    _ = p | beam.Create(texts) | LookupCache(directory, buckets, "bench")
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    misses = counters["bench_unique"] - counters.get("bench_cached", 0)
wall, cpu_s = time.perf_counter() - t0, cpu() - c0
peak_kb = status_kb("VmHWM")
print("@@" + json.dumps({"misses": misses, "wall_s": wall, "cpu_s": cpu_s, "peak_rss_mb": peak_kb / 1024,
                         "peak_above_start_mb": (peak_kb - before_kb) / 1024}))
"""


def build_cache(directory: str, entries: int) -> int:
    """A compacted cache of ``entries`` synthetic translations: one part per bucket (as after `cache compact`)."""
    from clcm.pipelines import cache
    from clcm.translation import Translation

    buckets = cache.prepare(directory, {"model": "bench", "src_lang": "en", "tgt_lang": "cs"})
    by_bucket: dict[int, list] = defaultdict(list)
    for i in range(entries):
        src = f"a cached caption number {i} with a few more words in it."
        by_bucket[cache.bucket_of(src, buckets)].append((src, Translation(f"přeložený titulek {i}.", -0.4, 12)))
    for b, items in by_bucket.items():
        cache.write_part(directory, b, cache.part_table(items))
    return buckets


def measure(case: str, directory: str, buckets: int, lookups: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, case, directory, str(buckets), str(lookups)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"{case} failed:\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("@@"))
    return json.loads(line[2:])


def _median(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="clcm-cache-bench-") as work:
        empty, full = os.path.join(work, "empty"), os.path.join(work, "full")
        t0 = time.perf_counter()
        buckets = build_cache(full, args.entries)
        build_s = time.perf_counter() - t0
        from clcm.pipelines.cache import prepare

        prepare(empty, {"model": "bench"})
        size_mb = sum(f.stat().st_size for f in Path(full).rglob("part-*.parquet")) / 1e6
        runs: dict[str, list[dict]] = {"empty": [], "full": []}
        for _ in range(args.repeats):  # interleaved: load changes hit both cases alike
            runs["empty"].append(measure("lookup", empty, buckets, args.lookups))
            runs["full"].append(measure("lookup", full, buckets, args.lookups))
        legacy = measure("legacy_full_load", full, buckets, args.lookups)
    assert all(r["misses"] == args.lookups for rs in runs.values() for r in rs) and legacy["misses"] == args.lookups
    summary = {
        k: {m: _median(v, m) for m in ("wall_s", "cpu_s", "peak_rss_mb", "peak_above_start_mb")}
        for k, v in runs.items()
    }
    result = {
        "benchmark": "cache_lookup",
        "entries": args.entries,
        "lookups": args.lookups,
        "buckets": buckets,
        "cache_mb": round(size_mb, 1),
        "build_s": round(build_s, 1),
        "runner": "FnApiRunner (in-process)",
        "median": summary,
        "ratio_full_vs_empty": {
            m: round(summary["full"][m] / summary["empty"][m], 3) for m in ("wall_s", "cpu_s", "peak_rss_mb")
        },
        "legacy_load_everything": {k: round(v, 3) for k, v in legacy.items() if k != "misses"},
        "runs": runs,
        "load_before": load_before,
    }
    result["load_after"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
