"""`clcm-train features`: a folder of images (or of video frames) -> the visual feature files the trainer reads.

Any CLIP-style image model from transformers, by hub id or local directory (``openai/clip-vit-base-patch32`` is
what NRCCR's CLIP rows use): a full CLIP/SigLIP model gives its projected image embedding
(``get_image_features``), a vision tower with projection its ``image_embeds``, any other vision model (ViT,
ResNet, ...) its pooled output. Images are decoded by a thread pool, embedded in batches on ``--device``, and
written as (see :mod:`clcm.training.features` for the reader)::

    OUT/features.npy + OUT/features.ids.txt          --format npy        ->  --features OUT/features.npy
    OUT/features.parquet (media_id, vector)          --format parquet    ->  --features OUT/features.parquet
    OUT/feature.bin id.txt shape.txt [video2frames.txt]  --format bigfile  ->  --features OUT
    OUT/rejects/rejects-00000-of-00001.parquet       every file that is not a feature row, with its reason
    OUT/_manifest.json                               model, counts (read = kept + Σ rejected), outputs

Videos (``--videos``: one folder of frames per video) are mean-pooled over their frames (``--pooling mean``), or
kept as frame sequences (``--pooling frames``, BigFile with ``video2frames.txt``, which the trainer reads as
``(T, D)`` sequences).
"""

from __future__ import annotations

import functools
import io
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa

from clcm import storage
from clcm.configs import check_config, max_workers, option
from clcm.errors import ModelError, OutputError, UsageError
from clcm.schemas import MANIFEST_NAME, REJECT_SCHEMA, Manifest, layout, write_manifest, write_table, write_text_atomic
from clcm.schemas import reasons as R
from clcm.schemas.tables import FEATURE_SCHEMA
from clcm.training.image_folders import Item, Scan, load_rgb, reject_row, scan_images, scan_videos

log = logging.getLogger(__name__)

FORMATS = ("npy", "parquet", "bigfile")
POOLINGS = ("mean", "frames")
DTYPES = ("float32", "float16", "bfloat16")
NPY_FILE, IDS_FILE, PARQUET_FILE = "features.npy", "features.ids.txt", "features.parquet"


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of ``clcm-train features``.

    Args:
        input: a folder of images, or (``videos``) a folder with one sub-folder of frames per video.
        out: output directory (a local path or URL; the images are read from a local folder).
        model: image model: hub id or local directory.
        revision: hub revision (branch, tag or commit) of ``model``.
        videos: treat ``input`` as video folders.
        pooling: videos only: ``mean`` (one vector per video) or ``frames`` (the frame sequence; BigFile only).
        formats: any of ``npy``, ``parquet``, ``bigfile``.
        batch_size: images per forward pass.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; ``cuda`` without a GPU is an error.
        dtype: model precision on the device (``float16``/``bfloat16`` only on a GPU); features are saved float32.
        workers: image-decoding threads (0: decode in the main thread).
        normalize: L2-normalise every written vector.
        overwrite: replace an earlier features output in ``out``.
        progress: show a progress bar.
    """

    input: str
    out: str
    model: str = "openai/clip-vit-base-patch32"
    revision: str | None = None
    videos: bool = False
    pooling: str = option("mean", choices=POOLINGS)
    formats: tuple[str, ...] = ("npy", "parquet")
    batch_size: int = option(64, ge=1, le=1_000_000)
    device: str = "auto"
    dtype: str = option("float32", choices=DTYPES)
    workers: int = option(4, ge=0, le=max_workers)
    normalize: bool = False
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        check_config(self)
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise UsageError(f"--format: unknown {unknown or 'empty'}; choose from {', '.join(FORMATS)}")
        if self.pooling == "frames" and (not self.videos or set(self.formats) != {"bigfile"}):
            raise UsageError("--pooling frames needs --videos and --format bigfile (the one format with frames)")


class ImageEmbedder:
    """An image model and its processor on a device: ``embed(images) -> (n, D) float32``."""

    def __init__(self, model: str, revision: str | None, device: str, dtype: str) -> None:
        import torch
        import transformers

        from clcm.training.runtime import resolve_device

        self.device = resolve_device(device)
        self.dtype = getattr(torch, dtype)
        if self.device.type == "cpu" and dtype != "float32":
            raise UsageError(f"--dtype {dtype} needs a GPU; on CPU use float32")
        rev = None if os.path.isdir(model) else revision
        try:
            config = transformers.AutoConfig.from_pretrained(model, revision=rev)
            self.processor = transformers.AutoImageProcessor.from_pretrained(model, revision=rev)
            net = _model_class(config).from_pretrained(model, revision=rev, dtype=self.dtype)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load image model {model!r}: {exc}") from exc
        self.model = net.to(self.device).eval()

    def embed(self, images: Sequence[Any]) -> np.ndarray:
        import torch

        pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            pixels = pixels.to(self.device, self.dtype)
            if hasattr(self.model, "get_image_features"):
                out = self.model.get_image_features(pixel_values=pixels)
            else:
                out = self.model(pixel_values=pixels)
            vectors = out if isinstance(out, torch.Tensor) else _image_vectors(out)
        return vectors.flatten(1).float().cpu().numpy()


def _model_class(config: Any) -> Any:
    """The transformers class a checkpoint names (e.g. CLIPVisionModelWithProjection, whose projection AutoModel
    would drop), else AutoModel. Only classes of the transformers package itself: a config never loads code."""
    import transformers

    for name in config.architectures or []:
        cls = getattr(transformers, name, None)
        if isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel):
            return cls
    return transformers.AutoModel


def _image_vectors(out: Any) -> Any:
    for key in ("image_embeds", "pooler_output"):
        if getattr(out, key, None) is not None:
            return getattr(out, key)
    raise ModelError(f"the model's output ({type(out).__name__}) has no image_embeds or pooler_output")


def _decoded(items: Sequence[Item], workers: int) -> Iterator[tuple[Item, Any]]:
    """``(item, RGB image or the ValueError that decoding raised)`` in item order, decoded ``workers`` at a time."""

    def load(item: Item) -> Any:
        try:
            return load_rgb(item.path)
        except ValueError as exc:
            return exc

    if workers == 0:
        yield from ((item, load(item)) for item in items)
        return
    window = max(16, 4 * workers)  # decoded images held at once: bounded, not the whole folder
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(items), window):
            chunk = items[start : start + window]
            yield from zip(chunk, pool.map(load, chunk), strict=True)


def embed_items(
    items: Sequence[Item], embed: Callable[[list[Any]], np.ndarray], scan: Scan, config: FeatureConfig
) -> tuple[list[Item], np.ndarray]:
    """Embed every item that decodes (others become ``invalid_image`` rejects in ``scan``); returns the embedded
    items and their ``(n, D)`` float32 rows in item order."""
    from tqdm.auto import tqdm

    done: list[Item] = []
    blocks: list[np.ndarray] = []
    batch: list[tuple[Item, Any]] = []

    def flush() -> None:
        if batch:
            blocks.append(np.asarray(embed([image for _, image in batch]), dtype=np.float32))
            done.extend(item for item, _ in batch)
            bar.update(len(batch))
            batch.clear()

    with tqdm(total=len(items), desc="features", unit="img", disable=not config.progress) as bar:
        for item, image in _decoded(items, config.workers):
            if isinstance(image, ValueError):
                scan.rejects.append(reject_row(item.path, R.INVALID_IMAGE, str(image)))
                bar.update(1)
                continue
            batch.append((item, image))
            if len(batch) == config.batch_size:
                flush()
        flush()
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, 0), dtype=np.float32)
    return done, matrix


def pool_media(items: Sequence[Item], rows: np.ndarray, mean: bool) -> tuple[list[str], np.ndarray, dict | None]:
    """Per media id: ``(ids, matrix, None)`` (images, or videos mean-pooled over their frames), or for frame
    sequences ``(frame ids, frame matrix, video -> frame ids)``."""
    groups: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(item.media_id, []).append(i)
    if not mean:
        frames = {m: [f"{m}_{k}" for k in range(len(idx))] for m, idx in groups.items()}
        order = [i for idx in groups.values() for i in idx]
        return [f for fs in frames.values() for f in fs], rows[order], frames
    matrix = np.stack([rows[idx].mean(axis=0) for idx in groups.values()]) if groups else rows
    return list(groups), matrix.astype(np.float32), None


def _write_large(path: str, write: Callable[[IO[bytes]], Any]) -> None:
    """Write a possibly large file atomically: streamed to a local temp file renamed into place, or (a URL) built in
    memory and uploaded as one object."""
    if storage.is_url(path):
        buffer = io.BytesIO()
        write(buffer)
        storage.write_bytes(path, buffer.getvalue())
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, storage.FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_features(
    out: str, ids: list[str], matrix: np.ndarray, frames: dict | None, formats: Sequence[str]
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Write the feature files into ``out`` (local or URL); returns ``format -> the --features spec that reads it``
    and the manifest record of the Parquet file (when written)."""
    specs, shards = {}, []
    at = functools.partial(storage.join, out)
    if "npy" in formats:
        _write_large(at(NPY_FILE), lambda fh: np.save(fh, matrix))
        write_text_atomic(at(IDS_FILE), "".join(f"{m}\n" for m in ids))
        specs["npy"] = at(NPY_FILE)
    if "parquet" in formats:
        n, d = matrix.shape
        if n * d >= 2**31:
            raise UsageError(f"{n} x {d} floats are too many for one Parquet list column; use --format npy or bigfile")
        offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32) if d else np.zeros(n + 1, np.int32))
        vectors = pa.ListArray.from_arrays(offsets, pa.array(matrix.ravel(), pa.float32()))
        table = pa.table({"media_id": pa.array(ids, pa.string()), "vector": vectors}, schema=FEATURE_SCHEMA)
        shards.append(write_table(table, at(PARQUET_FILE), FEATURE_SCHEMA) | {"table": "features"})
        specs["parquet"] = at(PARQUET_FILE)
    if "bigfile" in formats:  # NRCCR's BigFile: float32 rows, whitespace-separated ids, "N D"
        _write_large(at("feature.bin"), lambda fh: fh.write(np.ascontiguousarray(matrix, dtype=np.float32).data))
        write_text_atomic(at("id.txt"), " ".join(ids) + "\n")
        write_text_atomic(at("shape.txt"), f"{matrix.shape[0]} {matrix.shape[1]}\n")
        if frames is not None:
            write_text_atomic(at("video2frames.txt"), repr(frames) + "\n")
        specs["bigfile"] = out
    return specs, shards


OUTPUT_FILES = (NPY_FILE, IDS_FILE, PARQUET_FILE, "feature.bin", "id.txt", "shape.txt", "video2frames.txt")


def _prepare_out(out: str, overwrite: bool) -> None:
    if not storage.is_url(out) and os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f"--out {out} exists and is not a directory")
    if storage.is_file(storage.join(out, MANIFEST_NAME)) and not overwrite:
        raise OutputError(f"{out} already holds an output ({MANIFEST_NAME}); pass --overwrite to replace it")
    try:
        storage.makedirs(out)
        old = [p for name in OUTPUT_FILES if storage.is_file(p := storage.join(out, name))]
        storage.delete(old)  # a format not written this time must not linger
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc}") from exc


def run_features(config: FeatureConfig, embedder: Callable[[list[Any]], np.ndarray] | None = None) -> Manifest:
    """Extract features for ``config.input`` into ``config.out`` (see the module docstring); returns the manifest.

    ``embedder`` replaces the model (tests); by default an :class:`ImageEmbedder` of ``config.model``.
    """
    t0 = time.perf_counter()
    scan = scan_videos(config.input) if config.videos else scan_images(config.input)
    out = config.out
    model = None if embedder is not None else ImageEmbedder(config.model, config.revision, config.device, config.dtype)
    _prepare_out(out, config.overwrite)
    t1 = time.perf_counter()
    items, rows = embed_items(scan.items, embedder or model.embed, scan, config)  # type: ignore[union-attr]
    t2 = time.perf_counter()
    ids, matrix, frames = pool_media(items, rows, mean=config.pooling == "mean")
    if config.normalize and len(ids):
        matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    specs, shards = write_features(out, ids, matrix, frames, config.formats) if items else ({}, [])
    rejected: dict[str, int] = {}
    for r in scan.rejects:
        rejected[r["reason"]] = rejected.get(r["reason"], 0) + 1
    rec = write_table(pa.Table.from_pylist(scan.rejects, schema=REJECT_SCHEMA),
                      layout.shard_path(out, layout.REJECTS, 0, 1), REJECT_SCHEMA)  # fmt: skip
    media = len(frames) if frames is not None else len(ids)
    counts = {"read": scan.read, "kept": len(items), "rejected": dict(sorted(rejected.items())), "media": media,
              "dim": int(matrix.shape[1]) if items else 0}  # fmt: skip
    manifest = Manifest(
        command="features",
        config=asdict(config) | {"formats": list(config.formats)},
        counts=counts,
        inputs=[{"path": str(Path(config.input))}],
        shards=[*shards, rec | {"name": layout.shard_record_name(layout.REJECTS, rec["name"]), "table": "rejects"}],
        models=[{"role": "image", "id": config.model, "revision": config.revision, "licence": None}]
        if model is not None
        else [],
        timings={
            "scan_load_s": round(t1 - t0, 3),
            "embed_s": round(t2 - t1, 3),
            "total_s": round(time.perf_counter() - t0, 3),
        },  # fmt: skip
        extra={"features": specs, "pooling": config.pooling if config.videos else None},
    )
    write_manifest(out, manifest, example=_example(scan))
    return manifest


def _example(scan: Scan) -> str:
    return f"{scan.rejects[0]['source']}: {scan.rejects[0]['detail']}" if scan.rejects else ""
