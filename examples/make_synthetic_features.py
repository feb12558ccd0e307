"""Honest synthetic visual features for Multi30K media ids, so training and retrieval can run without images.

Each image's vector is a fixed random projection of a hashed bag of the content words of its *English* caption
(function words such as "a", "the", "is" carry nothing visual and are left out), plus Gaussian noise. It stands in
for an image encoder that sees the objects and actions the caption names. Nothing of the target-language captions
enters the features, so German/French/Czech retrieval still has to be learned cross-lingually; the noise keeps the
task from being trivial.

Writes ``{split}.npy`` and ``{split}.ids.txt`` (media id = image file name without ``.jpg``) per split; pass
``--features OUT/train.npy,OUT/val.npy,OUT/test_2016_flickr.npy`` to ``clcm-train``.

Usage: ``python examples/make_synthetic_features.py --multi30k DIR --out DIR [--dim 512] [--noise 0.5]``
"""

from __future__ import annotations

import argparse
import gzip
import re
import zlib
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test_2016_flickr")
_WORD = re.compile(r"[a-z0-9]+")
FUNCTION_WORDS = frozenset(
    "a an the of in on at to is are was were be being and or with by for from its his her their this that these "
    "those there it as into onto while who which some one two three several other another up down out over".split()
)


def bag_of_words(text: str, buckets: int) -> np.ndarray:
    bag = np.zeros(buckets, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        if word not in FUNCTION_WORDS:
            bag[zlib.crc32(word.encode()) % buckets] += 1.0
    return bag / max(np.linalg.norm(bag), 1e-6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--multi30k", type=Path, required=True, help="directory with {split}.en.gz and {split}.images.txt")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--dim", type=int, default=512, help="feature size (CLIP ViT-B/32 is 512)")
    ap.add_argument("--buckets", type=int, default=4096, help="hashed vocabulary size")
    ap.add_argument("--noise", type=float, default=0.5, help="std of the Gaussian noise relative to the signal")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    projection = rng.standard_normal((args.buckets, args.dim)).astype(np.float32)
    for split in SPLITS:
        images = (args.multi30k / f"{split}.images.txt").read_text(encoding="utf-8").split()
        with gzip.open(args.multi30k / f"{split}.en.gz", "rt", encoding="utf-8") as f:
            captions = f.read().splitlines()
        if len(images) != len(captions):
            raise SystemExit(f"{split}: {len(images)} images but {len(captions)} captions")
        ids = [Path(i).stem for i in images]
        feats = np.stack([bag_of_words(c, args.buckets) for c in captions]) @ projection
        feats += args.noise * rng.standard_normal(feats.shape).astype(np.float32) * feats.std()
        np.save(args.out / f"{split}.npy", feats.astype(np.float32))
        (args.out / f"{split}.ids.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
        print(f"{split}: {feats.shape[0]} x {feats.shape[1]} -> {args.out / (split + '.npy')}")


if __name__ == "__main__":
    main()
