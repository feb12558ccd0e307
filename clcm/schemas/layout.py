"""The output layout of a stage directory, and which files of a path are a stage's input: decided here only.

A stage's output directory ``OUT`` (the ``-o`` of import / translate / score / filter / export, each stage
directory of ``clcm-data run``)::

    OUT/_manifest.json
    OUT/<kind>/<kind>-NNNNN-of-MMMMM.parquet   one schema per directory: captions/ pairs/ scored/ kept/ dropped/
    OUT/rejects/rejects-NNNNN-of-MMMMM.parquet
    OUT/models/                                fitted scorer models and the combiner (score)
    OUT/report.json, OUT/*.png                 reports and plots (filter)

so every shard directory reads with common tools (``pandas.read_parquet(OUT/pairs)``, duckdb
``read_parquet('OUT/pairs/*.parquet')``, ``datasets.load_dataset("parquet", data_dir=OUT/pairs)``).

Readers accept a stage directory, a shard directory (e.g. ``OUT/pairs`` or users' own folder of Parquet files),
the flat directories earlier versions wrote (``OUT/pairs-*.parquet`` beside ``OUT/rejects-*.parquet``), a glob,
a single file, or a list of these. Paths are strings, and object-store URLs (``s3://...``) resolve the same
way (listed through :mod:`clcm.storage`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from clcm import storage
from clcm.errors import InputError

CAPTIONS, PAIRS, SCORED, KEPT, DROPPED, REJECTS = "captions", "pairs", "scored", "kept", "dropped", "rejects"
KINDS = (CAPTIONS, PAIRS, SCORED, KEPT, DROPPED, REJECTS)
MODELS = "models"

# What a reader takes from a stage directory: groups of kinds in order of preference; the first with shards wins.
Groups = Sequence[Sequence[str]]
CAPTION_INPUTS: Groups = ((CAPTIONS,),)
PAIR_INPUTS: Groups = ((PAIRS,), (KEPT,), (SCORED,))  # translate/import, filter, score
SCORED_INPUTS: Groups = ((SCORED,),)
# the trainer reads a filter stage whole (kept and dropped rows: its ``keep_column`` decides, and counts, which)
TRAIN_INPUTS: Groups = ((KEPT, DROPPED), (SCORED,), (PAIRS,))
QUERY_INPUTS: Groups = ((CAPTIONS,), (PAIRS,), (KEPT,), (SCORED,))

Match = Callable[[str], Sequence[str]]  # glob pattern -> the paths it matches (any order)


is_url, join, basename = storage.is_url, storage.join, storage.basename


def shard_name(kind: str, index: int, total: int | None = None) -> str:
    """Shard file name, e.g. ``pairs-00003-of-00008.parquet`` (or ``pairs-00003.parquet`` when total is unknown)."""
    return f"{kind}-{index:05d}-of-{total:05d}.parquet" if total is not None else f"{kind}-{index:05d}.parquet"


def kind_dir(out: str | os.PathLike, kind: str) -> str:
    """The directory of ``kind``'s shards in stage directory ``out``."""
    if kind not in KINDS:
        raise ValueError(f"unknown shard kind {kind!r}; kinds are {', '.join(KINDS)}")
    return join(out, kind)


def shard_path(out: str | os.PathLike, kind: str, index: int, total: int | None = None) -> str:
    """Where stage directory ``out`` holds shard ``index`` of ``total`` of ``kind``."""
    return join(kind_dir(out, kind), shard_name(kind, index, total))


def shard_pattern(out: str | os.PathLike, kind: str) -> str:
    """Glob of every shard of ``kind`` in stage directory ``out`` (e.g. to remove an earlier run's shards)."""
    return join(kind_dir(out, kind), f"{kind}-*.parquet")


def shard_record_name(kind: str, file_name: str) -> str:
    """A shard's ``name`` in ``_manifest.json``: its path relative to the stage directory (``pairs/pairs-...``)."""
    return f"{kind}/{file_name}"


def model_path(out: str | os.PathLike, file_name: str) -> str:
    """Where stage directory ``out`` keeps a fitted model file (``models/combiner.json``)."""
    return join(out, MODELS, file_name)


def model_record_name(file_name: str) -> str:
    return f"{MODELS}/{file_name}"


local_match = storage.match  # lists local paths and object-store URLs alike


def _visible(paths: Sequence[str]) -> list[str]:
    """Finished files only: hidden names (temp files of unfinished writes) and ``_`` names are never shards."""
    return sorted(p for p in paths if not basename(p).startswith((".", "_")))


def _is_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def _legacy_kind(name: str) -> str | None:
    """The kind a flat-layout shard name announces (``pairs-00000-of-00001.parquet`` -> ``pairs``)."""
    head = name.split("-", 1)[0]
    return head if head in KINDS and "-" in name else None


def _from_directory(path: str, groups: Groups, match: Match) -> list[str]:
    for group in groups:  # the stage layout: OUT/<kind>/*.parquet
        found = [f for kind in group for f in _visible(match(join(path, kind, "*.parquet")))]
        if found:
            return sorted(found, key=basename)
    flat = _visible(match(join(path, "*.parquet")))
    for group in groups:  # the flat layout of earlier versions: OUT/<kind>-*.parquet side by side
        found = [f for f in flat if _legacy_kind(basename(f)) in group]
        if found:
            return sorted(found, key=basename)
    return [f for f in flat if _legacy_kind(basename(f)) is None]  # a plain folder of one table's shards


def _present_kinds(path: str, match: Match) -> list[str]:
    """What a directory holds, for error messages: ``pairs/`` directories, ``pairs-*`` flat shards."""
    flat = {_legacy_kind(basename(f)) for f in _visible(match(join(path, "*.parquet")))}
    return [f"{k}/" for k in KINDS if _visible(match(join(path, k, "*.parquet")))] + [
        f"{k}-*.parquet" for k in KINDS if k in flat
    ]


def input_files(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    groups: Groups,
    *,
    what: str = "shards",
    match: Match = local_match,
) -> list[str]:
    """The Parquet files a stage reads from ``inputs`` (sorted, without duplicates).

    Args:
        inputs: a stage directory, a shard directory, a ``.parquet`` file, a glob, or a list of these.
        groups: which kinds to take from a stage directory, e.g. :data:`PAIR_INPUTS`.
        what: what the reader wants, for the error message (``"pair shards"``).
        match: lists a glob pattern (default: local files; pass one that lists object stores for URLs).

    Raises:
        InputError: an input is missing or holds no files of the wanted kinds (the message names what it holds).
    """
    items = [os.fspath(inputs)] if isinstance(inputs, (str, os.PathLike)) else [os.fspath(p) for p in inputs]
    if not items:
        raise InputError(f"no input given (expected {what})")
    files: list[str] = []
    for item in items:
        if _is_glob(item) or item.endswith(".parquet"):
            found = _visible(match(item)) if _is_glob(item) else list(match(item))
            if not found:
                raise InputError(f"no {what} at {item}: " + ("no files match" if _is_glob(item) else "no such file"))
        elif not is_url(item) and not os.path.isdir(item):  # a URL "directory" is judged by its listing
            raise InputError(f"no {what} at {item}: no such file or directory")
        else:
            found = _from_directory(item, groups, match)
            if not found:
                wanted = "/, ".join(k for g in groups for k in g)
                held = _present_kinds(item, match)
                holds = f"; it holds {', '.join(held)}" if held else ""
                raise InputError(f"no {what} in {item} (looked for {wanted}/ or *.parquet){holds}")
        files.extend(found)
    return sorted(set(files))


def stage_shards(path: str | os.PathLike, match: Match = local_match) -> dict[str, list[str]]:
    """Every table of a directory: ``kind -> files`` for its kind directories, plus flat ``*.parquet`` files
    (grouped by the kind their name announces, else under ``""``), for ``inspect``."""
    path = os.fspath(path)
    out: dict[str, list[str]] = {}
    for kind in KINDS:
        if found := _visible(match(join(path, kind, "*.parquet"))):
            out[kind] = found
    for f in _visible(match(join(path, "*.parquet"))):
        out.setdefault(_legacy_kind(basename(f)) or "", []).append(f)
    return out
