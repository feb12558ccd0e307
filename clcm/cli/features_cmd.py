"""`clcm-train features`: visual features from a folder of images or video frames (see training/extract_features)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clcm.errors import UsageError


def features_cmd(
    folder: Annotated[
        Path, typer.Argument(help="Folder of images, or (--videos) one folder of frames per video.", metavar="FOLDER")
    ],
    out: Annotated[
        str, typer.Option("--out", "-o", help="Output directory (feature files, rejects/, manifest; or a URL).")
    ],
    model: Annotated[
        str, typer.Option(help="CLIP-style image model: hub id or local directory.")
    ] = "openai/clip-vit-base-patch32",
    revision: Annotated[str | None, typer.Option(help="Hub revision of --model.")] = None,
    videos: Annotated[bool, typer.Option("--videos", help="FOLDER holds one sub-folder of frames per video.")] = False,
    pooling: Annotated[str, typer.Option(help="Videos: mean (one vector) | frames (BigFile sequence).")] = "mean",
    fmt: Annotated[
        str, typer.Option("--format", help="Comma-separated: npy, parquet, bigfile (default npy,parquet).")
    ] = "",
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 64,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    dtype: Annotated[str, typer.Option(help="float32 | float16 | bfloat16 (half: GPU only).")] = "float32",
    workers: Annotated[int, typer.Option(help="Image-decoding threads (0: none).")] = 4,
    normalize: Annotated[bool, typer.Option("--normalize", help="L2-normalise the vectors.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier output in --out.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Embed every image (or video frame) with a transformers image model; write .npy + ids, Parquet or BigFile
    feature files for `clcm-train --features`. Files that are no image or do not decode go to rejects/ with a
    reason; read = kept + rejected in the manifest."""
    from clcm.training.extract_features import FeatureConfig, run_features

    formats = tuple(f.strip() for f in fmt.split(",") if f.strip()) or (
        ("bigfile",) if pooling == "frames" else ("npy", "parquet")
    )
    if not folder.exists():
        raise UsageError(f"no such folder: {folder}")
    config = FeatureConfig(str(folder), str(out), model=model, revision=revision, videos=videos, pooling=pooling,
                           formats=formats, batch_size=batch_size, device=device, dtype=dtype, workers=workers,
                           normalize=normalize, overwrite=overwrite, progress=progress)  # fmt: skip
    manifest = run_features(config)
    c = manifest.counts
    rejected = sum(c["rejected"].values())
    typer.echo(f"{c['media']} media ({c['kept']} images, dim {c['dim']}) from {c['read']} files; {rejected} rejected"
               f"{' ' + str(c['rejected']) if rejected else ''} (see {out}/rejects/)")  # fmt: skip
    for spec in manifest.extra["features"].values():
        typer.echo(f"train with: --features {spec}")
