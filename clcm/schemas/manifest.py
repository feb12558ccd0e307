"""`_manifest.json`: what produced an output directory, from what, and where every record went.

Every output directory gets one. Counts obey the accounting invariant: ``read == kept + sum(rejected.values())``
(and, after filtering, ``scored == kept + sum(dropped.values())``); :func:`check_counts` enforces it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from clcm import __version__, storage
from clcm.errors import EmptyResultError
from clcm.schemas.io import write_text_atomic
from clcm.schemas.paths import inside
from clcm.schemas.tables import SCHEMA_VERSION

MANIFEST_NAME = "_manifest.json"
MANIFEST_VERSION = "1"


class AccountingError(ValueError):
    """Manifest counts do not add up: some record was lost or counted twice."""


def config_hash(config: Any) -> str:
    """Stable sha256 of a JSON-serialisable config (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def input_record(path: str | os.PathLike) -> dict[str, Any]:
    """Manifest entry for an input file (local or URL): path, size and sha256, from one read."""
    path = os.fspath(path)
    sha, size = storage.digest(path)
    return {"path": path, "bytes": size, "sha256": sha}


def _key(path: str) -> str:
    return path if storage.is_url(path) else os.path.normpath(os.path.abspath(path))


def recorded_shards(stage_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """``path -> shard record`` of every shard ``stage_dir/_manifest.json`` records (empty without a readable
    manifest): the sha256 its writer took from the bytes it wrote."""
    stage_dir = os.fspath(stage_dir)
    path = storage.join(stage_dir, MANIFEST_NAME)
    try:
        shards = json.loads(storage.read_text(path)).get("shards") or []
    except (OSError, ValueError, AttributeError):  # no manifest (a user's folder), or not one of ours
        return {}
    return {_key(storage.join(stage_dir, r["name"])): r for r in shards
            if isinstance(r, dict) and {"name", "sha256", "bytes"} <= r.keys()}  # fmt: skip


def known_sha256(path: str | os.PathLike, size: int, recorded: dict[str, dict[str, Any]]) -> str | None:
    """The sha256 ``recorded`` (see :func:`recorded_shards`) holds for ``path`` if it records the same size."""
    rec = recorded.get(_key(os.fspath(path)))
    return rec["sha256"] if rec is not None and rec["bytes"] == size else None


def input_records(paths: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """:func:`input_record` of each path, hashing only files whose writer did not record them: a shard that the
    manifest of the stage directory holding it (its directory or the one above, see
    :mod:`clcm.schemas.layout`) records with the same size keeps that sha256, so a stage's outputs are hashed once,
    by the stage that wrote them."""
    manifests: dict[str, dict[str, dict[str, Any]]] = {}
    out = []
    for raw in paths:
        path = os.fspath(raw)
        size, digest = storage.size(path), None
        for stage_dir in (storage.parent(path), storage.parent(storage.parent(path))):
            if stage_dir not in manifests:
                manifests[stage_dir] = recorded_shards(stage_dir)
            if digest := known_sha256(path, size, manifests[stage_dir]):
                break
        out.append({"path": path, "bytes": size, "sha256": digest} if digest else input_record(path))
    return out


@dataclass
class Manifest:
    """Contents of ``_manifest.json``.

    Args:
        command: the stage that wrote the directory (``import``, ``translate``, ``score``, ``filter``, ...).
        config: the resolved configuration of that stage (JSON-serialisable).
        counts: record counts; see :func:`check_counts` for the keys that must add up.
        inputs: one :func:`input_record` (or ``{"path": ...}`` for remote inputs) per input.
        shards: ``{"name", "rows", "sha256", "bytes", "table"}`` per written Parquet file.
        models: ``{"role", "id", "revision", "licence"}`` per model used.
        runner: Beam runner name (or ``"local"``).
        timings: seconds per phase.
        extra: stage-specific details (e.g. scorer weights, report paths).
    """

    command: str
    config: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    shards: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    runner: str = "local"
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    tool_version: str = __version__
    schema_version: str = SCHEMA_VERSION
    manifest_version: str = MANIFEST_VERSION
    config_hash: str = ""
    created_at: str = ""
    python: str = field(default_factory=lambda: f"{sys.version.split()[0]} on {platform.platform()}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["config_hash"] = self.config_hash or config_hash(self.config)
        d["created_at"] = self.created_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
        return d


def write_manifest(
    out_dir: str | os.PathLike,
    manifest: Manifest,
    check: bool = True,
    *,
    empty_input_ok: bool = False,
    example: str = "",
) -> Path | str:
    """Write ``out_dir/_manifest.json`` atomically (after checking the counts add up, unless ``check=False``), then
    apply :func:`check_not_empty` (exit 6 when everything was rejected; ``empty_input_ok``/``example``: see there)."""
    if check:
        check_counts(manifest.counts)
    path = inside(out_dir, MANIFEST_NAME)
    write_text_atomic(path, json.dumps(manifest.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    if check:
        check_not_empty(manifest.command, manifest.counts, out_dir, empty_input_ok=empty_input_ok, example=example)
    return path


def check_not_empty(
    command: str,
    counts: dict[str, Any],
    out_dir: str | os.PathLike,
    *,
    empty_input_ok: bool = False,
    example: str = "",
) -> None:
    """The one rule behind exit 6: EmptyResultError when a command read records and kept none (every one rejected),
    or read none at all (an empty input), unless ``empty_input_ok`` (export after a filter that kept nothing).

    Called once the manifest is written, so it and the rejects are there to look at; a ``run`` stage that raises it
    is not stamped complete. Counts without ``read``/``kept`` (score, filter) are not checked: a filter that keeps
    nothing is a warning. ``example``: a reject to quote in the message.
    """
    read, kept = counts.get("read"), counts.get("kept")
    if read is None or kept is None or kept > 0:
        return
    if read == 0:
        if not empty_input_ok:
            raise EmptyResultError(f"{command}: the input holds no records; nothing to write (see {out_dir})")
        return
    rejected = sorted((counts.get("rejected") or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    why = ", ".join(f"{n} {reason}" for reason, n in rejected[:3]) + (", ..." if len(rejected) > 3 else "")
    raise EmptyResultError(
        f"{command}: all {read} records were rejected ({why}{', e.g. ' + example if example else ''}); see {out_dir}"
    )


def read_manifest(out_dir: str | os.PathLike) -> Manifest:
    """Read ``out_dir/_manifest.json`` (or the file itself); raise FileNotFoundError with the path if absent."""
    path = os.fspath(out_dir)
    if not path.endswith(".json"):
        path = storage.join(path, MANIFEST_NAME)
    if not storage.is_file(path):
        raise FileNotFoundError(f"no manifest at {path}")
    data = json.loads(storage.read_text(path))
    known = set(Manifest.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{path}: unknown manifest keys {sorted(unknown)}")
    return Manifest(**data)


def check_counts(counts: dict[str, Any]) -> None:
    """Enforce the accounting invariant on whichever of these count groups are present.

    - ``read == kept + sum(rejected.values())`` (import / translate: every input record is a row or a reject);
    - ``scored == kept + sum(dropped.values())`` (filter: every scored pair is kept or dropped with a reason).
    """
    if "read" in counts and "kept" in counts:
        rejected = sum((counts.get("rejected") or {}).values())
        if counts["read"] != counts["kept"] + rejected:
            raise AccountingError(f"read={counts['read']} != kept={counts['kept']} + rejected={rejected}")
    if "scored" in counts and "kept" in counts:
        dropped = sum((counts.get("dropped") or {}).values())
        if counts["scored"] != counts["kept"] + dropped:
            raise AccountingError(f"scored={counts['scored']} != kept={counts['kept']} + dropped={dropped}")
