"""Translation throughput: hf backend vs ct2 backend vs a raw CTranslate2 loop vs the full Beam pipeline (ct2).

One model for all four: a randomly initialised OPUS-MT-sized Marian (d_model 512, 6+6 layers, FFN 2048, 8 heads,
~8k SentencePiece vocabulary trained on Multi30K), built once into ``--model-dir``. Every variant does the same
work: MT of the first ``--captions`` Multi30K train captions, then back-translation of the distinct MT outputs,
greedy, with a fixed decoding length (min = max = ``--length`` tokens, so no engine stops early). Threads: torch
and CTranslate2 use ``--threads`` (default 1); Beam runs in-process (FnApiRunner, one worker). The Beam run uses a
fresh cache directory (no cache hits) and is timed end to end (model load, pipeline, shards, manifest).

Usage: ``python benchmarks/translate.py [--captions 2000] [--length 24] [--skip-hf]``; prints JSON.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MULTI30K = Path(os.environ.get("CLCM_MULTI30K", Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"))


def _lines(name: str, n: int | None = None) -> list[str]:
    with gzip.open(MULTI30K / name, "rt", encoding="utf-8") as fh:
        out = [line.strip() for line in fh]
    return out[:n] if n else out


def build_model(model_dir: Path) -> tuple[Path, Path]:
    """The opus-mt-sized random Marian and its CTranslate2 conversion (float32 on disk; int8 at load)."""
    from clcm.testing.tiny_seq2seq import build_tiny_marian
    from clcm.translation.ct2 import convert_model, is_ct2_dir

    hf_dir, ct2_dir = model_dir / "marian-512", model_dir / "marian-512-ct2"
    if not (hf_dir / "model.safetensors").is_file():
        sentences = _lines("train.en.gz") + _lines("train.cs.gz")
        build_tiny_marian(hf_dir, sentences, vocab_size=8000, d_model=512, layers=6, ffn_dim=2048, heads=8)
    if not is_ct2_dir(ct2_dir):
        convert_model(str(hf_dir), ct2_dir)
    return hf_dir, ct2_dir


class _Clock:
    """Wall and process-CPU seconds (CPU time is robust to other processes sharing the cores)."""

    def __enter__(self) -> _Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def _timed_backend(spec_kwargs: dict, texts: list[str]) -> dict:
    from clcm.translation import ModelSpec, load_translator

    tr = load_translator(ModelSpec(**spec_kwargs))
    with _Clock() as c:
        mt = tr.translate(texts)
        distinct = sorted({m.text for m in mt})
        bt = tr.translate(distinct)
    return {
        "seconds": c.wall,
        "cpu_seconds": c.cpu,
        "mt_texts": len(texts),
        "bt_texts": len(distinct),
        "tokens": [m.tokens for m in mt + bt],
    }


def raw_ct2(ct2_dir: Path, texts: list[str], length: int, threads: int, batch: int) -> dict:
    """The baseline: sentencepiece + ``Translator.translate_batch`` over input-order chunks, int8."""
    import ctranslate2
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(ct2_dir / "source.spm"))
    tr = ctranslate2.Translator(
        str(ct2_dir), device="cpu", compute_type="int8", inter_threads=1, intra_threads=threads
    )

    def run(items: list[str]) -> list[str]:
        out = []
        for i in range(0, len(items), batch):
            toks = [sp.encode(s, out_type=str) + ["</s>"] for s in items[i : i + batch]]
            res = tr.translate_batch(
                toks, beam_size=1, max_decoding_length=length, min_decoding_length=length, max_batch_size=batch
            )
            out += [sp.decode([t for t in r.hypotheses[0] if t != "</s>"]) for r in res]
        return out

    with _Clock() as c:
        mt = run(texts)
        distinct = sorted(set(mt))
        run(distinct)
    return {"seconds": c.wall, "cpu_seconds": c.cpu, "mt_texts": len(texts), "bt_texts": len(distinct)}


def beam_ct2(ct2_dir: Path, texts: list[str], settings, threads: int, batch: int) -> dict:
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from clcm.pipelines.translate import TranslateConfig
    from clcm.pipelines.translate_run import run
    from clcm.schemas import CAPTION_SCHEMA, write_rows

    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            dict(caption_id=f"{i}#en#0", media_id=str(i), caption_index=0, lang="en", text=t, origin="human")
            for i, t in enumerate(texts)
        ]
        write_rows(rows, Path(tmp) / "captions.parquet", CAPTION_SCHEMA)
        config = TranslateConfig(
            inputs=(str(Path(tmp) / "captions.parquet"),),
            out_dir=str(Path(tmp) / "out"),
            tgt_langs=("cs",),
            model=str(ct2_dir),
            backend="ct2",
            compute_type="int8",
            threads=threads,
            settings=settings,
            cache_dir=str(Path(tmp) / "cache"),
            batch_size=512,
        )
        with _Clock() as c:
            manifest = run(config, runner=FnApiRunner())
    mt = manifest.counts["per_lang"]["cs"]["mt"]
    bt = manifest.counts["per_lang"]["cs"]["bt"]
    return {
        "seconds": c.wall,
        "cpu_seconds": c.cpu,
        "pipeline_seconds": manifest.timings["pipeline_s"],
        "mt_texts": mt["translated"],
        "bt_texts": bt["translated"],
        "cached": manifest.counts["cached"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--captions", type=int, default=2000)
    ap.add_argument("--length", type=int, default=24, help="fixed decoding length (tokens)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--model-dir", default=os.path.join(tempfile.gettempdir(), "clcm-bench-translate"))
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats; best wall time is reported")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from clcm.translation import DecodeSettings

    t = time.perf_counter()
    hf_dir, ct2_dir = build_model(Path(args.model_dir))
    build_s = time.perf_counter() - t
    texts = _lines("train.en.gz", args.captions)
    settings = DecodeSettings(
        max_length_factor=0.0,
        max_length_extra=args.length,
        max_length=args.length,
        min_length=args.length,
        max_batch_size=args.batch,
        max_batch_tokens=args.batch * 64,
    )
    common = dict(src_lang="en", tgt_lang="cs", settings=settings, threads=args.threads)
    variants = {
        "raw_ct2": lambda: raw_ct2(ct2_dir, texts, args.length, args.threads, args.batch),
        "ct2_backend": lambda: _timed_backend(
            dict(model=str(ct2_dir), backend="ct2", compute_type="int8", **common), texts
        ),
        "beam_ct2": lambda: beam_ct2(ct2_dir, texts, settings, args.threads, args.batch),
    }
    if not args.skip_hf:
        variants["hf_backend"] = lambda: _timed_backend(
            dict(model=str(hf_dir), backend="hf", compute_type="float32", **common), texts
        )
    results: dict[str, dict] = {}
    lengths: set[int] = set()
    for _ in range(args.repeats):  # interleaved repeats; best wall time of each variant is kept
        for name, fn in variants.items():
            r = fn()
            lengths |= set(r.pop("tokens", []))
            if name not in results or r["seconds"] < results[name]["seconds"]:
                results[name] = r
    for r in results.values():
        r["captions_per_s"] = round(args.captions / r["seconds"], 2)
        r["seconds"] = round(r["seconds"], 3)
        r["cpu_seconds"] = round(r["cpu_seconds"], 3)

    def ratio(a: str, b: str, key: str) -> float | None:
        if a not in results or b not in results:
            return None
        return round(results[b][key] / results[a][key], 3)  # time(b)/time(a) = speed(a)/speed(b)

    pairs = [("beam_ct2", "raw_ct2"), ("ct2_backend", "raw_ct2"), ("ct2_backend", "hf_backend")]
    names = {("ct2_backend", "hf_backend"): "ct2/hf"}
    ratios = {names.get(p, f"{p[0]}/{p[1]}"): ratio(*p, "seconds") for p in pairs}
    cpu_ratios = {names.get(p, f"{p[0]}/{p[1]}"): ratio(*p, "cpu_seconds") for p in pairs}
    fixed = lengths == {args.length}
    out = {
        "benchmark": "translate",
        "model": "random Marian d512 6+6 ffn2048 h8, spm vocab ~8k (Multi30K)",
        "captions": args.captions,
        "fixed_decoding_length": args.length,
        "every_output_has_fixed_length": fixed,
        "threads": args.threads,
        "batch": args.batch,
        "device": "cpu",
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "model_build_s": round(build_s, 1),
        "results": results,
        "repeats": args.repeats,
        "ratios": ratios,
        "cpu_time_ratios": cpu_ratios,
        "targets": {"ct2/hf": ">= 3", "beam_ct2/raw_ct2": ">= 0.8"},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
