"""Scorer model files: one ``.npz`` of plain numeric arrays, read with ``allow_pickle=False``.

A fitted scorer model (IBM-1 tables, n-gram counts) is a dict of numpy arrays plus some string lists (vocabularies).
Model files are read and written through :mod:`clcm.storage`, so they live under a local or an object-store output
directory alike (the score stage's ``OUT/models/``, which its workers load from).
Strings are stored as one UTF-8 byte array and an offsets array, never as object arrays, so loading a model file can
never unpickle (run) anything: a file holding pickled objects is refused with a clear :class:`ModelError`.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping, Sequence
from typing import IO

import numpy as np

from clcm import storage
from clcm.errors import ModelError

_BYTES, _OFFSETS = "__utf8__", "__offsets__"  # suffixes of the two arrays that hold one string list
COMPRESS_LEVEL = 1


def encode_strings(items: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A string list as (uint8 UTF-8 bytes of all items, int64 end offset of each item)."""
    encoded = [s.encode("utf-8") for s in items]
    ends = np.cumsum([len(b) for b in encoded], dtype=np.int64) if encoded else np.zeros(0, dtype=np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), ends


def decode_strings(data: np.ndarray, ends: np.ndarray) -> list[str]:
    raw = data.tobytes()
    starts = np.concatenate(([0], ends[:-1])) if len(ends) else ends
    return [raw[int(a) : int(b)].decode("utf-8") for a, b in zip(starts, ends, strict=True)]


def save_model(
    path: str | os.PathLike, arrays: Mapping[str, np.ndarray], strings: Mapping[str, Sequence[str]] = {}
) -> None:
    """Write numeric ``arrays`` and string lists ``strings`` into one compressed ``.npz`` (local or URL, atomic)."""
    out = dict(arrays)
    for name, items in strings.items():
        out[name + _BYTES], out[name + _OFFSETS] = encode_strings(items)
    bad = [k for k, v in out.items() if np.asarray(v).dtype == object]
    if bad:
        raise TypeError(f"object arrays cannot be saved in a model file: {bad}")
    # An .npz as np.savez_compressed writes it, at zlib level 1: a 38k-pair IBM-1 model saves in 0.7 instead of
    # 3.3 CPU-s and is 5% larger (22.8 vs 21.7 MB).
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as zf:
        for name, value in out.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)
    storage.write_bytes(path, buf.getvalue())


def _open_model(path: str) -> IO[bytes]:
    """A seekable reader of a model file: a local file, or an object's bytes read in one request (zip readers
    seek back and forth, which would be one ranged request each)."""
    return storage.open_read(path) if not storage.is_url(path) else io.BytesIO(storage.read_bytes(path))


def load_model(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """(numeric arrays, string lists) of a file written by :func:`save_model`; never unpickles.

    Raises:
        ModelError: the file is missing, not an ``.npz``, or holds pickled objects.
    """
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    try:
        with _open_model(path) as fh:
            if not zipfile.is_zipfile(fh):  # np.load would read it as a pickle (refused, but say what it is)
                raise ModelError(f"{path}: not a readable scorer model file (not an .npz archive)")
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as z:
                for k in z.files:
                    arrays[k] = z[k]
    except ValueError as exc:  # numpy: "Object arrays cannot be loaded when allow_pickle=False"
        msg = f"{path}: refused: the model file holds pickled objects (never loaded, they could run code)"
        raise ModelError(msg) from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: not a readable scorer model file ({exc})") from exc
    strings = {}
    for k in [k for k in arrays if k.endswith(_BYTES)]:
        name = k[: -len(_BYTES)]
        strings[name] = decode_strings(arrays.pop(k), arrays.pop(name + _OFFSETS))
    return arrays, strings
