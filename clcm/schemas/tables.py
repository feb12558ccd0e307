"""Arrow schemas: the single source of truth for every table clcm writes.

Every writer passes one of these schemas explicitly; nothing is inferred from the first row.
Each schema carries ``schema_version`` (and ``table``) metadata so readers can refuse tables they do not understand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa

SCHEMA_VERSION = "1"


def _schema(table: str, fields: Sequence[pa.Field]) -> pa.Schema:
    return pa.schema(list(fields), metadata={"schema_version": SCHEMA_VERSION, "table": table})


# Fields of one caption. `origin` is our addition: imported NRCCR files carry MT text as captions (`xx2enc`),
# and an exporter or evaluator must never mistake those for human captions.
CAPTION_FIELDS: tuple[pa.Field, ...] = (
    pa.field("caption_id", pa.string(), nullable=False),  # unique; default shape `{media_id}#{lang}#{caption_index}`
    pa.field("media_id", pa.string(), nullable=False),  # image/video id the caption describes
    pa.field("caption_index", pa.int32(), nullable=False),  # k-th caption of that media item in that language
    pa.field("lang", pa.string(), nullable=False),  # ISO 639-1 code (see clcm.schemas.langs)
    pa.field("text", pa.string(), nullable=False),
    pa.field("split", pa.string()),  # train / val / test_2016 / ... (null when unknown)
    pa.field("dataset", pa.string()),  # multi30k / vatex / user dataset name
    pa.field("origin", pa.string(), nullable=False),  # "human" or "mt"
)
CAPTION_SCHEMA = _schema("captions", CAPTION_FIELDS)

# A pair is a source caption with its translation (and back-translation). The caption's `lang`/`text` are not
# repeated: they are `src_lang`/`src_text`. `pair_id` (= `{caption_id}>{tgt_lang}`) is our addition: one caption
# has one pair per target language, and joins/dedup need a single key. `tgt_origin` tells MT output from reference
# (human) translations imported for evaluation or benchmarks.
PAIR_FIELDS: tuple[pa.Field, ...] = (
    pa.field("pair_id", pa.string(), nullable=False),
    pa.field("caption_id", pa.string(), nullable=False),
    pa.field("media_id", pa.string(), nullable=False),
    pa.field("caption_index", pa.int32(), nullable=False),
    pa.field("split", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("src_lang", pa.string(), nullable=False),
    pa.field("src_text", pa.string(), nullable=False),
    pa.field("tgt_lang", pa.string(), nullable=False),
    pa.field("tgt_text", pa.string(), nullable=False),
    pa.field("bt_text", pa.string()),  # back-translation tgt -> src; null when not produced
    pa.field("mt_model", pa.string()),  # model id (and revision) that produced tgt_text; null for human references
    pa.field("bt_model", pa.string()),
    pa.field("mt_logprob", pa.float32()),  # mean token log-prob of tgt_text under mt_model
    pa.field("bt_logprob", pa.float32()),
    pa.field("tgt_origin", pa.string(), nullable=False),  # "mt" or "human"
)
PAIR_SCHEMA = _schema("pairs", PAIR_FIELDS)

SCORE_PREFIX = "score_"
_SCORE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# Decision columns appended after the score columns. `nrf_selected` is our addition: NRF trains its noise filter on
# a *selected* parallel subset (methods.md §3.2), which the filter stage marks here.
SCORED_TAIL_FIELDS: tuple[pa.Field, ...] = (
    pa.field("noise_score", pa.float32()),  # combined noise probability in [0, 1]; higher = noisier
    pa.field("keep", pa.bool_()),  # set by `clcm-data filter`; null right after scoring
    pa.field("reject_reason", pa.string()),  # why a pair was dropped; null when kept or not yet filtered
    pa.field("nrf_selected", pa.bool_()),  # in NRF's selected parallel subset; null when not decided
)


def score_column(name: str) -> str:
    """Column name of a scorer's output: ``score_<name>``."""
    if not _SCORE_NAME.match(name):
        raise ValueError(f"scorer name {name!r} must match {_SCORE_NAME.pattern}")
    return SCORE_PREFIX + name


def scored_pair_schema(score_names: Sequence[str]) -> pa.Schema:
    """Schema of scored pairs: pair fields, one float32 ``score_<name>`` column per scorer, then the decision fields.

    Args:
        score_names: scorer names, in the column order wanted (no duplicates).
    """
    if len(set(score_names)) != len(score_names):
        raise ValueError(f"duplicate scorer names: {list(score_names)}")
    score_fields = [pa.field(score_column(n), pa.float32()) for n in score_names]
    return _schema("scored_pairs", [*PAIR_FIELDS, *score_fields, *SCORED_TAIL_FIELDS])


def score_names_of(schema: pa.Schema) -> list[str]:
    """Scorer names present in a scored-pair schema, in column order."""
    return [n[len(SCORE_PREFIX) :] for n in schema.names if n.startswith(SCORE_PREFIX)]


REJECT_RAW_MAX_CHARS = 500  # keep reject rows small; the full record stays in the input file

# Anything refused before it became a row of an output table. `caption_id` and `stage` are our additions:
# the id (when it could be parsed) lets a user find the record, and the stage tells import from translate rejects.
REJECT_FIELDS: tuple[pa.Field, ...] = (
    pa.field("source", pa.string(), nullable=False),  # input file (or URL) the record came from
    pa.field("line", pa.int64()),  # 1-based line / row number in that source; null when not line-based
    pa.field("caption_id", pa.string()),
    pa.field("raw", pa.string()),  # the record as read, truncated to REJECT_RAW_MAX_CHARS
    pa.field("reason", pa.string(), nullable=False),  # one of clcm.schemas.reasons
    pa.field("detail", pa.string()),  # human-readable detail (e.g. the duplicate's first line)
    pa.field("stage", pa.string(), nullable=False),  # import / translate / score / filter / features
)
REJECT_SCHEMA = _schema("rejects", REJECT_FIELDS)

# Visual features as the trainer reads them from Parquet (clcm/training/features.py): one vector per media id.
FEATURE_SCHEMA = _schema(
    "features",
    (pa.field("media_id", pa.string(), nullable=False), pa.field("vector", pa.list_(pa.float32()), nullable=False)),
)

SCHEMAS_BY_TABLE: dict[str, pa.Schema] = {
    "captions": CAPTION_SCHEMA,
    "pairs": PAIR_SCHEMA,
    "rejects": REJECT_SCHEMA,
}


def truncate_raw(raw: str | bytes | None) -> str | None:
    """Reject-row form of a raw record: decoded with replacement, truncated."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return raw if len(raw) <= REJECT_RAW_MAX_CHARS else raw[:REJECT_RAW_MAX_CHARS] + "…"
