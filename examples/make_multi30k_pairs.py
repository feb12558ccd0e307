"""Stand-in pair shards and query captions from Multi30K task 1, for trying ``clcm-train`` end to end.

The real workflow translates the English captions with ``clcm-data translate``. Without MT models at hand, this
script uses Multi30K's *human* target captions as the "translation" (``tgt_origin = "human"``, no ``mt_model``)
and the English caption as the back-translation (``--no-bt``: none, so no scorer can read noise off a perfect
back-translation); that makes the training signal cleaner than real MT.
Val/test queries are written as caption Parquet (human target captions; ``--english-as-mt`` also adds the
English captions as the MT->English view NRCCR fuses, again as a stand-in). ``--tiny-bert DIR`` builds a small
random BERT with a WordPiece vocabulary trained on these captions (no pretrained weights are needed).

Usage: ``python examples/make_multi30k_pairs.py --multi30k DIR --out DIR --tgt de [--limit N] [--tiny-bert DIR]``
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

from clcm.schemas.io import write_rows, write_sharded
from clcm.schemas.tables import CAPTION_SCHEMA, PAIR_SCHEMA


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--multi30k", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tgt", default="de", choices=["de", "fr", "cs"])
    ap.add_argument("--limit", type=int, default=None, help="use only the first N training captions")
    ap.add_argument("--english-as-mt", action="store_true", help="add English rows as the MT->en query view")
    ap.add_argument("--no-bt", action="store_true", help="leave bt_text empty (default: the English caption)")
    ap.add_argument("--tiny-bert", type=Path, default=None)
    args = ap.parse_args()
    m = args.multi30k
    ids = [Path(i).stem for i in (m / "train.images.txt").read_text().split()][: args.limit]
    en, tgt = read_lines(m / "train.en.gz")[: len(ids)], read_lines(m / f"train.{args.tgt}.gz")[: len(ids)]
    rows = []
    for media, e, t in zip(ids, en, tgt, strict=True):
        cid = f"{media}#en#0"
        rows.append({
            "pair_id": f"{cid}>{args.tgt}", "caption_id": cid, "media_id": media, "caption_index": 0, "split": "train",
            "dataset": "multi30k", "src_lang": "en", "src_text": e, "tgt_lang": args.tgt, "tgt_text": t,
            "bt_text": None if args.no_bt else e, "tgt_origin": "human",
        })  # fmt: skip
    write_sharded(rows, args.out / "train_pairs", "pairs", PAIR_SCHEMA, rows_per_shard=10_000)
    for split in ("val", "test_2016_flickr"):
        sids = [Path(i).stem for i in (m / f"{split}.images.txt").read_text().split()]
        caps = []
        base = {"caption_index": 0, "split": split, "dataset": "multi30k"}
        for media, text in zip(sids, read_lines(m / f"{split}.{args.tgt}.gz"), strict=True):
            cid = f"{media}#{args.tgt}#0"
            caps.append(
                {**base, "caption_id": cid, "media_id": media, "lang": args.tgt, "text": text, "origin": "human"}
            )
        if args.english_as_mt:
            for media, text in zip(sids, read_lines(m / f"{split}.en.gz"), strict=True):
                cid = f"{media}#{args.tgt}2en#0"
                caps.append({**base, "caption_id": cid, "media_id": media, "lang": "en", "text": text, "origin": "mt"})
        write_rows(caps, args.out / f"{split}_{args.tgt}.parquet", CAPTION_SCHEMA)
    print(f"{len(rows)} train pairs -> {args.out / 'train_pairs'}; queries -> {args.out}/*_{args.tgt}.parquet")
    if args.tiny_bert is not None:
        from clcm.testing.tiny_bert import build_tiny_bert

        build_tiny_bert(args.tiny_bert, en[:5000] + tgt[:5000], hidden=64, layers=2, heads=4, intermediate=128,
                        vocab_size=8000, wordpiece=True)  # fmt: skip
        print(f"tiny BERT -> {args.tiny_bert}")


if __name__ == "__main__":
    main()
