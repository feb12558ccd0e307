"""Visual feature stores joined on media id: ``.npy`` + id list, BigFile directories, and Parquet.

A spec is a path: ``X.npy`` (ids from ``X.ids.txt``/``X.txt`` next to it, or ``X.npy:IDS.txt``), a BigFile
directory (``feature.bin``/``id.txt``/``shape.txt``, optional ``video2frames.txt``), or a Parquet file with
``media_id`` and a list ``vector`` column; a ``clcm-train features`` output directory reads its BigFile, else its
``features.npy``, else its ``features.parquet``. Several specs can be joined with commas (e.g. train,val,test).
Specs may be object-store URLs (``s3://...``): those are read into memory, local files are memory-mapped.
"""

from __future__ import annotations

import ast
import io
import os
from collections.abc import Sequence

import numpy as np

from clcm import storage
from clcm.errors import InputError


class FeatureStore:
    """media id -> feature: an (D,) vector, or a (T, D) frame sequence when ``frames`` is set."""

    def __init__(self, matrix: np.ndarray, ids: Sequence[str], frames: dict[str, list[str]] | None = None) -> None:
        if matrix.ndim != 2 or matrix.shape[0] != len(ids):
            raise InputError(f"feature matrix {matrix.shape} does not match {len(ids)} ids")
        self.matrix = matrix
        self.row = {m: i for i, m in enumerate(ids)}
        self.frames = frames
        self.dim = int(matrix.shape[1])

    @property
    def is_frames(self) -> bool:
        return self.frames is not None

    def media_ids(self) -> list[str]:
        return list(self.frames) if self.frames is not None else list(self.row)

    def missing(self, media_ids: Sequence[str]) -> list[str]:
        keys = self.frames if self.frames is not None else self.row
        return sorted({m for m in media_ids if m not in keys})

    def check(self, media_ids: Sequence[str], what: str) -> None:
        """Raise InputError with the count (and examples) of media ids that have no features, or NaN/inf ones."""
        missing = self.missing(media_ids)
        if missing:
            raise InputError(f"{len(missing)} media id(s) of {what} have no visual features, e.g. {missing[:5]}")
        bad = self.non_finite(media_ids)
        if bad:
            examples = ", ".join(f"{m} (row {r})" for m, r in bad[:5])
            raise InputError(f"{len(bad)} media id(s) of {what} have NaN or infinite visual features, e.g. {examples}")

    def non_finite(self, media_ids: Sequence[str], chunk: int = 4096) -> list[tuple[str, int]]:
        """(media id, first bad matrix row) of the ``media_ids`` whose features hold NaN or inf, sorted by id."""
        ids = sorted(set(media_ids))
        rows_of = {m: [self.row[f] for f in self.frames[m]] if self.frames is not None else [self.row[m]] for m in ids}
        rows = np.unique(np.fromiter((r for rs in rows_of.values() for r in rs), dtype=np.int64))
        bad_rows: set[int] = set()
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            ok = np.isfinite(np.asarray(self.matrix[part], dtype=np.float32)).all(axis=1)
            bad_rows.update(int(r) for r in part[~ok])
        bad = []
        for m, rs in rows_of.items():
            first = next((r for r in rs if r in bad_rows), None) if bad_rows else None
            if first is not None:
                bad.append((m, first))
        return bad

    def get(self, media_id: str, max_frames: int = 64) -> np.ndarray:
        if self.frames is None:
            return np.asarray(self.matrix[self.row[media_id]], dtype=np.float32)
        rows = [self.row[f] for f in self.frames[media_id][:max_frames]]
        return np.asarray(self.matrix[rows], dtype=np.float32)

    def merged(self, other: FeatureStore) -> FeatureStore:
        if self.dim != other.dim or self.is_frames != other.is_frames:
            raise InputError(f"cannot join feature stores of dims {self.dim} and {other.dim}")
        ids = list(self.row) + [m for m in other.row if m not in self.row]
        extra = [other.row[m] for m in ids[len(self.row) :]]
        matrix = np.concatenate([np.asarray(self.matrix), np.asarray(other.matrix)[extra]])
        frames = None if self.frames is None else {**self.frames, **(other.frames or {})}
        return FeatureStore(matrix, ids, frames)


def _read_ids(path: str) -> list[str]:
    return storage.read_bytes(path).decode("ISO-8859-1").split()


def _float32_matrix(path: str, n: int, d: int) -> np.ndarray:
    """The (n, d) float32 matrix of a raw ``feature.bin``: memory-mapped locally, read whole from a URL."""
    if not storage.is_url(path):
        return np.memmap(path, dtype=np.float32, mode="r", shape=(n, d))
    data = storage.read_bytes(path)
    if len(data) != n * d * 4:
        raise ValueError(f"feature.bin holds {len(data)} bytes, shape {n} x {d} float32 needs {n * d * 4}")
    return np.frombuffer(data, dtype=np.float32).reshape(n, d)


def read_bigfile(directory: str) -> FeatureStore:
    """BigFile: ``shape.txt`` "N D", ``id.txt`` (whitespace-separated ids), ``feature.bin`` (float32, N x D)."""
    try:
        n, d = (int(x) for x in storage.read_text(storage.join(directory, "shape.txt")).split())
        ids = _read_ids(storage.join(directory, "id.txt"))
        matrix = _float32_matrix(storage.join(directory, "feature.bin"), n, d)
    except (OSError, ValueError) as exc:
        raise InputError(f"{directory}: not a readable BigFile ({exc})") from exc
    if len(ids) != n:
        raise InputError(f"{directory}: id.txt has {len(ids)} ids but shape.txt says {n}")
    frames = None
    v2f = storage.join(directory, "video2frames.txt")
    if storage.is_file(v2f):
        try:
            frames = ast.literal_eval(storage.read_text(v2f))
        except (ValueError, SyntaxError) as exc:
            raise InputError(f"{v2f}: not a Python dict literal ({exc})") from exc
        if not isinstance(frames, dict):
            raise InputError(f"{v2f}: expected a dict of video id -> frame ids")
        store = FeatureStore(matrix, ids, {str(k): [str(f) for f in v] for k, v in frames.items()})
        unknown = sorted({f for fs in store.frames.values() for f in fs if f not in store.row})  # type: ignore[union-attr]
        if unknown:
            raise InputError(f"{v2f}: {len(unknown)} frame id(s) not in id.txt, e.g. {unknown[:5]}")
        return store
    return FeatureStore(matrix, ids)


def read_npy(path: str, ids_path: str | None) -> FeatureStore:
    stem = path.removesuffix(".npy")
    if ids_path is None:
        for cand in (f"{stem}.ids.txt", f"{stem}.txt"):
            if storage.is_file(cand):
                ids_path = cand
                break
        else:
            name = storage.basename(stem)
            raise InputError(f"{path}: no id list found (give it as {path}:IDS.txt or put {name}.ids.txt beside it)")
    try:
        if storage.is_url(path):
            matrix = np.load(io.BytesIO(storage.read_bytes(path)), allow_pickle=False)
        else:
            matrix = np.load(path, mmap_mode="r", allow_pickle=False)
        ids = [line.strip() for line in storage.read_text(ids_path).splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read features {path} / {ids_path}: {exc}") from exc
    return FeatureStore(matrix, ids)


def read_parquet(path: str) -> FeatureStore:
    from clcm.schemas.io import parquet_file

    try:
        table = parquet_file(path).read(columns=["media_id", "vector"])
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: need Parquet columns media_id and vector ({exc})") from exc
    ids = table.column("media_id").to_pylist()
    vectors = table.column("vector").combine_chunks()
    matrix = np.asarray(vectors.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(ids), -1)
    return FeatureStore(matrix, ids)


def load_features(spec: str) -> FeatureStore:
    """Load and join the comma-separated feature specs (see the module docstring)."""
    store: FeatureStore | None = None
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        ids_path = None
        if ".npy:" in part:
            part, ids = part.split(".npy:", 1)
            part, ids_path = part + ".npy", ids
        path = part
        is_dir = _is_dir(path)
        if is_dir and not storage.is_file(storage.join(path, "feature.bin")):  # a `clcm-train features` output
            found = (storage.join(path, f) for f in ("features.npy", "features.parquet"))
            path = next((f for f in found if storage.is_file(f)), path)
            is_dir = path == part
        if is_dir:
            one = read_bigfile(path)
        elif path.endswith(".npy") and storage.is_file(path):
            one = read_npy(path, ids_path)
        elif path.endswith(".parquet") and storage.is_file(path):
            one = read_parquet(path)
        else:
            raise InputError(f"feature spec {part!r}: not a .npy file, a .parquet file or a BigFile directory")
        store = one if store is None else store.merged(one)
    if store is None:
        raise InputError("no visual features given (--features)")
    return store


def _is_dir(path: str) -> bool:
    """A local directory, or a URL that is not a file but has objects under it."""
    return os.path.isdir(path) if not storage.is_url(path) else not storage.is_file(path) and storage.is_dir(path)
