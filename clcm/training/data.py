"""Training and evaluation data: pair shards (filtered or weighted by score columns), query sets, tokenisation,
and collation with visual features into the batch dicts objectives consume (see objectives/base.py).

Only the columns needed are read (streamed record batches); the selected texts are held in memory so the loader
can shuffle them.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from clcm.errors import InputError
from clcm.schemas import layout
from clcm.schemas.io import check_schema_version, parquet_file
from clcm.training.config import COMMON_DEFAULTS, TrainConfig
from clcm.training.features import FeatureStore

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")


def clean_english(text: str) -> str:
    """NRCCR's English clean-up: keep [A-Za-z0-9], single spaces, final period, capitalised first char."""
    out = " ".join(_NON_ALNUM.sub(" ", text).lower().split())
    if out and out[-1] not in ".?!":
        out += "."
    return out[:1].upper() + out[1:]


def strip_accents_lower(text: str) -> str:
    """What BERT's ``do_lower_case=True`` does: lower-case, NFD, drop combining marks."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


def _read_columns(path: str, wanted: list[str], groups: layout.Groups) -> tuple[pa.Table, list[str]]:
    """Read ``wanted`` columns that exist from a stage directory (its ``groups`` of kinds), a shard directory, a
    Parquet file or a glob, local or URLs (see :func:`clcm.schemas.layout.input_files`); returns (table, table
    kinds)."""
    files = layout.input_files(path, groups, what="Parquet shards")
    tables, kinds = [], []
    for f in files:
        pf = parquet_file(f)
        schema = pf.schema_arrow
        try:
            check_schema_version(schema, f)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        kinds.append((schema.metadata or {}).get(b"table", b"").decode())
        cols = list(dict.fromkeys(c for c in wanted if c in schema.names))  # wanted may repeat (keep_column="keep")
        tables.append(pf.read(columns=cols).replace_schema_metadata(None))
    if len({tuple(t.schema.names) for t in tables}) > 1:
        raise InputError(f"{path}: shards have different columns")
    table = pa.concat_tables(tables)
    if table.num_rows == 0:
        raise InputError(f"{path}: the shards hold no rows ({len(files)} file(s), 0 rows)")
    return table, kinds


@dataclass
class PairData:
    """Selected training pairs (parallel lists) and how every read row was accounted for."""

    src: list[str]
    tgt: list[str]
    bt: list[str] | None
    media_ids: list[str]
    weight: np.ndarray | None = None
    nrf_selected: np.ndarray | None = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # extra float columns an objective asked for
    counts: dict[str, int] = field(default_factory=dict)  # read, kept, and dropped_<reason>
    tgt_lang: str | None = None  # the target language trained on

    def __len__(self) -> int:
        return len(self.src)


def load_pairs(cfg: TrainConfig, extra_columns: tuple[str, ...] = ()) -> PairData:
    """Read training pairs, keeping rows of ``tgt_lang``/``train_split`` that pass ``keep_column``/``min_score``;
    ``extra_columns`` (numeric, e.g. scores an objective selects on) are read too and must exist."""
    keep_column = COMMON_DEFAULTS["keep_column"] if cfg.keep_column == "auto" else cfg.keep_column  # unresolved cfg
    wanted = ["media_id", "split", "src_text", "tgt_lang", "tgt_text", "bt_text", "nrf_selected", "keep"]
    wanted += [c for c in [keep_column, cfg.weight_column, *cfg.min_score, *extra_columns] if c]
    table, _ = _read_columns(cfg.shards, wanted, layout.TRAIN_INPUTS)
    for col in ("media_id", "src_text", "tgt_text", "tgt_lang"):
        if col not in table.column_names:
            raise InputError(f"{cfg.shards}: not pair shards (column {col!r} missing)")
    n = table.num_rows
    langs = Counter(table.column("tgt_lang").to_pylist())
    tgt_lang = cfg.tgt_lang
    if tgt_lang is None:
        if len(langs) > 1:
            raise InputError(f"shards hold several target languages {dict(langs)}; choose one with --tgt-lang")
        tgt_lang = next(iter(langs), None)
    keep = np.ones(n, dtype=bool)
    counts: dict[str, int] = {"read": n}

    def drop(mask: np.ndarray, reason: str) -> None:
        newly = keep & ~mask
        if newly.any():
            counts[f"dropped_{reason}"] = int(newly.sum())
        keep[:] = keep & mask

    drop(np.array([lang == tgt_lang for lang in table.column("tgt_lang").to_pylist()]), "other_tgt_lang")
    if cfg.train_split is not None and "split" in table.column_names:
        drop(np.array([s in (None, cfg.train_split) for s in table.column("split").to_pylist()]), "other_split")
    if keep_column and keep_column in table.column_names:
        drop(np.array([k is not False for k in table.column(keep_column).to_pylist()]), "filtered")
    for col, minimum in cfg.min_score.items():
        if col not in table.column_names:
            raise InputError(f"min_score column {col!r} is not in {cfg.shards}")
        vals = np.array(table.column(col).to_pylist(), dtype=np.float64)
        drop(np.nan_to_num(vals, nan=-np.inf) >= minimum, f"below_{col}")
    counts["kept"] = int(keep.sum())
    if not keep.any():
        raise InputError(f"no training pairs left in {cfg.shards} (counts: {counts})")
    table = table.filter(pa.array(keep))
    weight = None
    if cfg.weight_column:
        if cfg.weight_column not in table.column_names:
            raise InputError(f"weight column {cfg.weight_column!r} is not in {cfg.shards}")
        weight = np.nan_to_num(np.array(table.column(cfg.weight_column).to_pylist(), dtype=np.float32), nan=0.0)
    missing = [c for c in extra_columns if c not in table.column_names]
    if missing:
        raise InputError(f"{cfg.shards}: column(s) {missing} needed by objective {cfg.objective!r} are missing")
    columns = {c: np.array(table.column(c).to_pylist(), dtype=np.float64) for c in extra_columns}
    bt = table.column("bt_text").to_pylist() if "bt_text" in table.column_names else None
    if bt is not None and any(b is None for b in bt):
        bt = None if all(b is None for b in bt) else [b if b is not None else "" for b in bt]
    nrf = None
    if "nrf_selected" in table.column_names and table.column("nrf_selected").null_count < table.num_rows:
        # an all-null column means "not decided" (no mask); a null among decided rows counts as not selected
        nrf = np.array([bool(x) for x in table.column("nrf_selected").to_pylist()], dtype=bool)
    return PairData(
        src=table.column("src_text").to_pylist(),
        tgt=table.column("tgt_text").to_pylist(),
        bt=bt,
        media_ids=table.column("media_id").to_pylist(),
        weight=weight,
        nrf_selected=nrf,
        columns=columns,
        counts=counts,
        tgt_lang=tgt_lang,
    )


@dataclass
class QueryData:
    """Evaluation queries: human target captions and (optionally) their MT into English, per caption."""

    caption_ids: list[str]
    media_ids: list[str]
    views: dict[str, list[str]]  # "tgt" -> human target text; "mt_en" -> MT of it into English (optional)


def load_queries(path: str, tgt_lang: str | None, split: str | None = None) -> QueryData:
    """Queries from caption Parquet (human ``lang == tgt_lang`` rows; MT English rows give ``mt_en``) or pair shards.

    Pair shards: a human source in the target language (``src_lang == tgt_lang``) gives ``tgt = src_text`` and
    ``mt_en = tgt_text``; a human reference (``tgt_origin == "human"``) gives ``tgt = tgt_text`` and
    ``mt_en = bt_text`` when present.
    """
    wanted = ["caption_id", "pair_id", "media_id", "caption_index", "lang", "origin", "text", "split"]
    wanted += ["src_lang", "src_text", "tgt_lang", "tgt_text", "bt_text", "tgt_origin"]
    table, kinds = _read_columns(path, wanted, layout.QUERY_INPUTS)
    rows = table.to_pylist()
    if split is not None:
        rows = [r for r in rows if r.get("split") in (None, split)]
    ids: list[str] = []
    media: list[str] = []
    tgt: list[str] = []
    mt: list[str | None] = []
    if "text" in table.column_names:  # captions
        langs = {r["lang"] for r in rows if r.get("origin") == "human"}
        lang = tgt_lang or (langs.pop() if len(langs) == 1 else None)
        if lang is None:
            raise InputError(f"{path}: several human caption languages {sorted(langs)}; choose one with --tgt-lang")
        en = {(r["media_id"], r["caption_index"]): r["text"] for r in rows if r.get("origin") == "mt"}
        for r in rows:
            if r["lang"] == lang and r.get("origin") == "human":
                ids.append(r["caption_id"])
                media.append(r["media_id"])
                tgt.append(r["text"])
                mt.append(en.get((r["media_id"], r["caption_index"])))
    elif "tgt_text" in table.column_names:
        for r in rows:
            if tgt_lang is None or r["src_lang"] == tgt_lang:
                native, english = r["src_text"], r["tgt_text"]
                if tgt_lang is None and r.get("tgt_origin") == "human":
                    native, english = r["tgt_text"], r.get("bt_text")
            elif r["tgt_lang"] == tgt_lang and r.get("tgt_origin") == "human":
                native, english = r["tgt_text"], r.get("bt_text")
            else:
                continue
            ids.append(r["caption_id"])
            media.append(r["media_id"])
            tgt.append(native)
            mt.append(english)
    else:
        raise InputError(f"{path}: neither caption nor pair shards (table kinds {sorted(set(kinds))})")
    if not ids:
        raise InputError(f"{path}: no human {tgt_lang or ''} query captions found")
    views: dict[str, list[str]] = {"tgt": tgt}
    if all(m is not None for m in mt):
        views["mt_en"] = [m for m in mt if m is not None]
    return QueryData(ids, media, views)


class Tokenize:
    """Text preprocessing (NRCCR clean-up and lower-casing) + the encoder's tokenizer, padding to the batch max."""

    def __init__(self, tokenizer: Any, *, lowercase: bool = True, clean_src: bool = True, max_tokens: int = 250):
        self.tokenizer = tokenizer
        self.lowercase = lowercase
        self.clean_src = clean_src
        self.max_tokens = max_tokens

    def __call__(self, texts: list[str], english: bool = False) -> dict[str, Any]:
        if english and self.clean_src:
            texts = [clean_english(t) for t in texts]
        if self.lowercase:
            texts = [strip_accents_lower(t) for t in texts]
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def stack_visual(store: FeatureStore, media_ids: list[str], max_frames: int) -> tuple[Any, Any]:
    """(B, D) image features, or (B, T, D) frames zero-padded with a (B, T) mask."""
    import torch

    feats = [store.get(m, max_frames) for m in media_ids]
    if not store.is_frames:
        return torch.from_numpy(np.stack(feats)), None
    t = max(f.shape[0] for f in feats)
    out = np.zeros((len(feats), t, store.dim), dtype=np.float32)
    mask = np.zeros((len(feats), t), dtype=np.float32)
    for i, f in enumerate(feats):
        out[i, : f.shape[0]] = f
        mask[i, : f.shape[0]] = 1.0
    return torch.from_numpy(out), torch.from_numpy(mask)


class PairCollate:
    """Turns a list of pair indices into a training batch dict."""

    def __init__(self, pairs: PairData, store: FeatureStore, tokenize: Tokenize, max_frames: int = 64) -> None:
        self.pairs, self.store, self.tokenize, self.max_frames = pairs, store, tokenize, max_frames

    def __call__(self, idx: list[int]) -> dict[str, Any]:
        import torch

        p = self.pairs
        media = [p.media_ids[i] for i in idx]
        visual, mask = stack_visual(self.store, media, self.max_frames)
        return {
            "src": self.tokenize([p.src[i] for i in idx], english=True),
            "tgt": self.tokenize([p.tgt[i] for i in idx]),
            "bt": self.tokenize([p.bt[i] for i in idx]) if p.bt is not None else None,
            "visual": visual,
            "visual_mask": mask,
            "media_ids": media,
            "weight": torch.from_numpy(p.weight[idx]) if p.weight is not None else None,
            "nrf_selected": torch.from_numpy(p.nrf_selected[idx]) if p.nrf_selected is not None else None,
            "columns": {k: torch.from_numpy(v[idx]) for k, v in p.columns.items()},
        }


def move_batch(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    """Move every tensor of a (nested) batch dict to ``device``."""
    out: dict[str, Any] = {}
    for k, v in batch.items():
        if isinstance(v, dict):
            out[k] = {kk: vv.to(device, non_blocking=True) for kk, vv in v.items()}
        elif hasattr(v, "to"):
            out[k] = v.to(device, non_blocking=True)
        else:
            out[k] = v
    return out
