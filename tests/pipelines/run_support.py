"""Helpers for the `clcm-data run` tests: inline captions, a tiny Marian model built once, configs, table reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from clcm.schemas import read_table

_SUBJECTS = ("a man", "a woman", "two children", "a dog", "an old man", "a girl", "three people", "a brown dog")
_VERBS = ("is riding", "is walking past", "are playing near", "is sitting on", "is jumping over", "is looking at")
_OBJECTS = ("a red bicycle", "the beach", "a wooden bench", "a small boat", "the green grass", "a busy street")


def captions(n: int, offset: int = 0) -> list[dict[str, Any]]:
    """``n`` distinct English caption records (JSONL import rows), two per media id, stable across calls."""
    rows = []
    for i in range(offset, offset + n):
        s = _SUBJECTS[i % len(_SUBJECTS)]
        v = _VERBS[(i // len(_SUBJECTS)) % len(_VERBS)]
        o = _OBJECTS[(i // (len(_SUBJECTS) * len(_VERBS))) % len(_OBJECTS)]
        text = f"{s} {v} {o} ({i})." if i >= 288 else f"{s} {v} {o}."
        rows.append({"media_id": f"img{i // 2:04d}", "lang": "en", "text": text.capitalize(), "split": "train"})
    return rows


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


_MODELS: dict[str, Path] = {}


def tiny_model(root: Path) -> Path:
    """A tiny random Marian model (built once per test session under ``root``)."""
    if "marian" not in _MODELS:
        from clcm.testing.tiny_seq2seq import build_tiny_marian

        _MODELS["marian"] = build_tiny_marian(root / "tiny-marian", [r["text"] for r in captions(200)])
    return _MODELS["marian"]


def run_config(
    path: Path, inputs: Sequence[Path], model: Path, *, run_dir: Path | None = None, **overrides: Any
) -> Path:
    """Write a local run config: import jsonl -> translate (ct2, short outputs) -> export jsonl, on FnApiRunner."""
    config: dict[str, Any] = {
        "beam_args": ["--runner", "FnApiRunner"],
        "import": {"format": "jsonl", "inputs": [str(p) for p in inputs], "dataset": "toy"},
        "translate": {
            "tgt_langs": ["de"],
            "model": str(model),
            "backend": "ct2",
            "settings": {"max_length": 12},  # random weights babble until the budget: keep it small
        },
        "export": {"format": "jsonl"},
    }
    if run_dir is not None:
        config["run_dir"] = str(run_dir)
    for key, value in overrides.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def sorted_table(path: Path, prefix: str, key: str) -> pa.Table:
    """All ``{prefix}-*`` shards of a directory, sorted by ``key`` (schema metadata dropped)."""
    table = read_table(path, prefix=f"{prefix}-")
    return table.sort_by(key).replace_schema_metadata(None)


def shard_digests(stage_dir: Path) -> dict[str, str]:
    """``relative path -> sha256`` of a stage directory's Parquet shards (``pairs/pairs-00000-of-00001.parquet``)."""
    from clcm.schemas.io import file_sha256

    shards = sorted(p for p in stage_dir.rglob("*.parquet") if not p.name.startswith("."))
    assert shards, f"no shards in {stage_dir}"
    return {p.relative_to(stage_dir).as_posix(): file_sha256(p) for p in shards}


def write_caption_shard(directory: Path, texts: Sequence[str]) -> Path:
    """One caption shard of English human captions ``texts`` (ids ``i{n}#en#0``) in ``directory``."""
    from clcm.schemas import CAPTION_SCHEMA, write_rows

    rows = [
        dict(caption_id=f"i{i}#en#0", media_id=f"i{i}", caption_index=0, lang="en", text=t, split="train")
        | {"dataset": "t", "origin": "human"}
        for i, t in enumerate(texts)
    ]
    write_rows(rows, directory / "captions-00000-of-00001.parquet", CAPTION_SCHEMA)
    return directory
