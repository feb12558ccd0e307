"""Speed of `clcm-data import` / `export` on all of Multi30K task 1 (4 languages x 3 splits). Prints JSON.

Steps (each through the library entry points the CLI calls, best of --repeat runs, one process):
import multi30k -> export nrccr -> import nrccr -> export jsonl -> import jsonl (captions.jsonl).

Usage: python benchmarks/import_export.py [--data DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from clcm.formats.export import ExportConfig, run_export
from clcm.formats.importer import ImportConfig, run_import

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multi30k"


def _timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        steps = {
            "import_multi30k": lambda: run_import(
                ImportConfig("multi30k", (str(args.data),), f"{t}/a", overwrite=True)
            ),
            "export_nrccr": lambda: run_export(ExportConfig("nrccr", f"{t}/a", f"{t}/td")),
            "import_nrccr": lambda: run_import(ImportConfig("nrccr", (f"{t}/td",), f"{t}/b", overwrite=True)),
            "export_jsonl": lambda: run_export(ExportConfig("jsonl", f"{t}/a", f"{t}/js")),
            "import_jsonl": lambda: run_import(
                ImportConfig("jsonl", (f"{t}/js/captions.jsonl",), f"{t}/c", overwrite=True)
            ),
        }
        report: dict[str, object] = {"data": str(args.data), "repeat": args.repeat}
        for name, fn in steps.items():
            seconds, result = _timed(fn, args.repeat)
            n = result.counts["read"]
            report[name] = {"records": n, "seconds": round(seconds, 3), "records_per_s": round(n / seconds)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
