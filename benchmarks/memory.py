"""Peak memory of a `clcm-data run` (import -> translate [-> score]) on N vs 10 x N captions; prints JSON.

Each size runs in a fresh subprocess (so peaks do not mix) that calls the real CLI in-process and reports its own
peak RSS (``resource.getrusage``: the process itself plus any worker processes it waited for). The translation
model is a tiny random Marian (built once), so the numbers are about the pipeline's data handling, not model size:
a streaming pipeline keeps the 10x peak close to the 1x peak.

Usage: ``python benchmarks/memory.py [--n 1000] [--factor 10] [--runner FnApiRunner] [--workers 1] [--no-score]
[--lexical-fit-pairs K]``
Captions come from Multi30K train (``--multi30k DIR``, default ../shared/data/multi30k) when present, else generated.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from clcm.cli.common import run_app
from clcm.cli.data import app
t0 = time.perf_counter()
code = run_app(app, sys.argv[1:])
seconds = time.perf_counter() - t0
with open("/proc/self/status") as fh:  # VmHWM: ru_maxrss would carry the parent's peak over fork + exec
    self_kb = next(int(x.split()[1]) for x in fh if x.startswith("VmHWM:"))
children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("@@" + json.dumps({"rc": code, "seconds": seconds, "self_kb": self_kb, "children_kb": children_kb}))
"""


def load_captions(n: int, multi30k: Path) -> list[str]:
    """``n`` captions: Multi30K train lines (repeated with a suffix when n exceeds it), else generated text."""
    path = multi30k / "train.en.gz"
    if path.is_file():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            base = [line.strip() for line in fh if line.strip()]
    else:
        words = "a man woman dog child runs sits walks on the red green beach street near with two small big".split()
        base = [" ".join(words[(i * k + k) % len(words)] for k in range(1, 9)) for i in range(5000)]
    return [base[i % len(base)] + ("" if i < len(base) else f" ({i // len(base)})") for i in range(n)]


def write_inputs(root: Path, texts: list[str]) -> Path:
    path = root / "captions.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"media_id": f"img{i // 5:06d}", "lang": "en", "text": text, "split": "train"}) + "\n")
    return path


def write_config(root: Path, inputs: Path, model: Path, args: argparse.Namespace) -> Path:
    import yaml

    config = {
        "run_dir": str(root / "run"),
        "workers": args.workers,
        "beam_args": ["--runner", args.runner],
        "import": {"format": "jsonl", "inputs": [str(inputs)], "dataset": "bench"},
        "translate": {"tgt_langs": ["de"], "model": str(model), "backend": "ct2", "settings": {"max_length": 16}},
    }
    if args.score:
        config["score"] = {} if args.lexical_fit_pairs is None else {"lexical_fit_pairs": args.lexical_fit_pairs}
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def measure(n: int, model: Path, work: Path, args: argparse.Namespace) -> dict:
    root = work / f"n{n}"
    root.mkdir()
    config = write_config(root, write_inputs(root, load_captions(n, args.multi30k)), model, args)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(work / "xdg")}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, "run", str(config)], env=env, capture_output=True, text=True, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    if proc.returncode or not lines or json.loads(lines[-1][2:])["rc"]:
        raise SystemExit(f"run on {n} captions failed:\n{proc.stderr[-3000:]}")
    stats = json.loads(lines[-1][2:])
    manifest = json.loads((root / "run" / "translate" / "_manifest.json").read_text())
    return {
        "captions": n,
        "peak_rss_mb": round(max(stats["self_kb"], stats["children_kb"]) / 1024, 1),
        "self_peak_rss_mb": round(stats["self_kb"] / 1024, 1),
        "workers_peak_rss_mb": round(stats["children_kb"] / 1024, 1),
        "seconds": round(stats["seconds"], 2),
        "captions_per_s": round(n / stats["seconds"], 1),
        "translated_texts": manifest["counts"].get("translated"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--factor", type=float, default=10)
    parser.add_argument("--runner", default="FnApiRunner")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-score", dest="score", action="store_false", help="translate only (no score stage)")
    parser.add_argument(
        "--lexical-fit-pairs",
        type=int,
        default=None,
        help="cap of the score stage's IBM-1 fit sample (default: the stage's, 1M: the whole corpus here, so the fit "
        "grows with it by design); set it <= --n to measure the pipeline's own data handling",
    )
    parser.add_argument("--multi30k", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/multi30k")
    args = parser.parse_args()
    if args.score and importlib.util.find_spec("clcm.pipelines.score") is None:
        print("note: no score stage in this build; measuring import + translate", file=sys.stderr)
        args.score = False

    from clcm.testing.tiny_seq2seq import build_tiny_marian

    with tempfile.TemporaryDirectory(prefix="clcm-memory-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        model = build_tiny_marian(work / "model", load_captions(500, args.multi30k))
        build_s = time.perf_counter() - t0
        small = measure(args.n, model, work, args)
        large = measure(round(args.n * args.factor), model, work, args)
    print(
        json.dumps(
            {
                "benchmark": "memory",
                "stages": ["import", "translate", *(["score"] if args.score else [])],
                "runner": args.runner,
                "workers": args.workers,
                "lexical_fit_pairs": args.lexical_fit_pairs,
                "model": "tiny random Marian (d_model 16), ct2 int8, max_length 16",
                "model_build_s": round(build_s, 2),
                "small": small,
                "large": large,
                "peak_rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
                "peak_rss_growth_mb": round(large["peak_rss_mb"] - small["peak_rss_mb"], 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
