"""Feature extraction throughput (`clcm-train features`) against the plain loop a user would write.

Model: a randomly initialised CLIP ViT-B/32-sized vision tower with projection (hidden 768, 12 layers, 12 heads,
MLP 3072, 224 px, patch 32, 512-d output), built once; weights do not change the cost. Images: ``--images``
random-noise JPEGs of 500 x 375 px (Flickr30k's typical size; noise decodes slower than photos). Variants, each
run ``--repeats`` times interleaved in one process:

- ``plain_loop``: for each batch, PIL open + convert, the image processor, the model (no threads, no batching of
  decode and compute) — the strongest simple baseline;
- ``features_w0`` / ``features_w4``: :func:`clcm.training.extract_features.run_features` (scan, decode with 0 or 4
  threads, batched embedding, npy output, manifest, rejects).

CPU time is user+sys of this process (threads included). Prints JSON.
Usage: ``python benchmarks/features.py [--images 256] [--batch-size 32] [--repeats 2] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _images(folder: Path, n: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)).save(folder / f"{i}.jpg", quality=90)


def plain_loop(model_dir: Path, folder: Path, batch_size: int) -> int:
    import numpy as np
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, CLIPVisionModelWithProjection

    model = CLIPVisionModelWithProjection.from_pretrained(model_dir).eval()
    proc = AutoImageProcessor.from_pretrained(model_dir)
    files = sorted(folder.glob("*.jpg"))
    out = []
    with torch.inference_mode():
        for i in range(0, len(files), batch_size):
            images = [Image.open(f).convert("RGB") for f in files[i : i + batch_size]]
            px = proc(images=images, return_tensors="pt")["pixel_values"]
            out.append(model(pixel_values=px).image_embeds.numpy())
    return len(np.concatenate(out))


def features(model_dir: Path, folder: Path, out: Path, batch_size: int, workers: int) -> int:
    from clcm.training.extract_features import FeatureConfig, run_features

    cfg = FeatureConfig(str(folder), str(out), model=str(model_dir), batch_size=batch_size, workers=workers,
                        device="cpu", formats=("npy",), overwrite=True, progress=False)  # fmt: skip
    return run_features(cfg).counts["kept"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args()
    import torch

    from clcm.testing.tiny_clip import build_tiny_clip

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="clcm-features-") as tmp:
        root = Path(tmp)
        model = build_tiny_clip(root / "vit-b32", vision_only=True, image_size=224, patch_size=32, hidden=768,
                                layers=12, heads=12, intermediate=3072, projection_dim=512)  # fmt: skip
        _images(root / "images", args.images)
        variants = {
            "plain_loop": lambda: plain_loop(model, root / "images", args.batch_size),
            "features_w0": lambda: features(model, root / "images", root / "o0", args.batch_size, 0),
            "features_w4": lambda: features(model, root / "images", root / "o4", args.batch_size, 4),
        }
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
        for _ in range(args.repeats):
            for name, fn in variants.items():
                t0, c0 = time.perf_counter(), _cpu()
                n = fn()
                wall, cpu = time.perf_counter() - t0, _cpu() - c0
                assert n == args.images, (name, n)
                runs[name].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                                   "images_per_s": round(n / wall, 1)})  # fmt: skip
    best = {k: min(r["wall_s"] for r in v) for k, v in runs.items()}
    print(json.dumps({
        "benchmark": "features", "images": args.images, "batch_size": args.batch_size, "torch_threads": args.threads,
        "model": "random CLIP ViT-B/32 vision tower + projection (512-d)", "image_px": "500x375 JPEG (noise)",
        "runs": runs, "best_wall_s": best,
        "ratio_plain_over_features_w0": round(best["plain_loop"] / best["features_w0"], 3),
        "ratio_plain_over_features_w4": round(best["plain_loop"] / best["features_w4"], 3),
        "load_avg": os.getloadavg(), "cpus": os.cpu_count(), "python": platform.python_version(),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
