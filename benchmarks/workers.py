"""`clcm-data translate --workers 2` vs one worker with an OPUS-MT-sized model: does a second worker pay off?

The real CLI in a subprocess per run (wall time; CPU = user+sys of it and its children, from ``os.wait4``), no
cache, the first ``--captions`` Multi30K train captions en->de (MT + BT), greedy, max length 24, the random
OPUS-MT-sized Marian of ``benchmarks/translate.py`` (ct2 int8). Runs interleaved, ``--repeats`` times; the best of
each is reported with the load seen. ``--workers N`` is N batches at once through the one loaded model
(CTranslate2 ``inter_threads``) in one in-process Beam worker.

Usage: ``python benchmarks/workers.py [--captions 1000] [--repeats 2] [--out JSON]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from translate import _lines, build_model  # noqa: E402

from clcm.schemas import CAPTION_SCHEMA, write_rows  # noqa: E402

MODEL = "OPUS-MT-sized random Marian (d_model 512, 6+6 layers), ct2 int8, max length 24"


def translate_run(ct2: Path, captions: Path, out: Path, *extra: str) -> dict[str, float]:
    """One ``clcm-data translate`` process (no cache, en->de, max length 24): wall and CPU seconds."""
    cmd = [sys.executable, "-c", "from clcm.cli.data import main; main()", "translate", "-i", str(captions),
           "-o", str(out), "-l", "de", "--model", str(ct2), "--max-length", "24", "--no-cache", "--overwrite",
           *extra]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"translate {' '.join(extra)} failed (status {status})")
    return {"wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}


def best_and_ratio(runs: list[dict], key: str, base: int, other: int) -> tuple[dict, dict]:
    """Per value of ``key`` (``base``, ``other``), the best (smallest) wall and CPU seconds of its runs, and the
    ratio ``other / base`` of those."""
    best = {v: {k: min(r[k] for r in runs if r[key] == v) for k in ("wall_s", "cpu_s")} for v in (base, other)}
    return best, {k: round(best[other][k] / best[base][k], 3) for k in ("wall_s", "cpu_s")}


def emit(result: dict, out: Path | None) -> None:
    """Print ``result`` as JSON and, given ``out``, write it there too."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")


def caption_dir(model_dir: Path, n: int) -> Path:
    """The first ``n`` Multi30K train captions as a caption shard under ``model_dir``."""
    texts = _lines("train.en.gz", n)
    rows = [dict(caption_id=f"img{i}#en#0", media_id=f"img{i}", caption_index=0, lang="en", split="train", text=t,
                 dataset="bench", origin="human") for i, t in enumerate(texts)]  # fmt: skip
    captions = model_dir / f"captions{n}"
    write_rows(rows, captions / "captions-00000-of-00001.parquet", CAPTION_SCHEMA)
    return captions


def setup(ap: argparse.ArgumentParser, captions: int) -> tuple[argparse.Namespace, Path, Path]:
    """The shared flags (``--captions`` with this default, ``--repeats``, ``--model-dir``, ``--out``) parsed, the
    OPUS-MT-sized model built and the caption directory written: (args, ct2 model, captions)."""
    ap.add_argument("--captions", type=int, default=captions)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model-dir", type=Path, default=Path("/tmp/clcm-bench-translate"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    _, ct2 = build_model(args.model_dir)
    return args, ct2, caption_dir(args.model_dir, args.captions)


def main() -> None:
    args, ct2, captions = setup(argparse.ArgumentParser(), captions=1000)
    result: dict = {"benchmark": "workers", "captions": args.captions, "model": MODEL,
                    "load_before": os.getloadavg()}  # fmt: skip
    result["runs"] = []
    for rep in range(args.repeats):
        for workers in (1, 2):
            out = args.model_dir / f"out-w{workers}-{rep}"
            result["runs"].append({"workers": workers} | translate_run(ct2, captions, out, "--workers", str(workers)))
    result["load_after"] = os.getloadavg()
    result["best"], result["workers_2_vs_1"] = best_and_ratio(result["runs"], "workers", 1, 2)
    emit(result, args.out)


if __name__ == "__main__":
    main()
