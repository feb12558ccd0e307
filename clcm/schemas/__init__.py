"""Arrow schemas (single source of truth), ids, validation and the `_manifest.json` writer/reader."""

from __future__ import annotations

from clcm.schemas import layout
from clcm.schemas.ids import caption_id, pair_id, text_key
from clcm.schemas.io import (
    SchemaError,
    iter_batches,
    parquet_files,
    read_table,
    shard_name,
    table_from_rows,
    validate_table,
    write_rows,
    write_sharded,
    write_table,
    write_text_atomic,
)
from clcm.schemas.langs import ISO_639_1, check_lang, is_known_lang
from clcm.schemas.manifest import (
    MANIFEST_NAME,
    AccountingError,
    Manifest,
    check_counts,
    check_not_empty,
    config_hash,
    input_record,
    read_manifest,
    write_manifest,
)
from clcm.schemas.tables import (
    CAPTION_SCHEMA,
    PAIR_SCHEMA,
    REJECT_SCHEMA,
    SCHEMA_VERSION,
    SCORE_PREFIX,
    SCORED_TAIL_FIELDS,
    score_column,
    score_names_of,
    scored_pair_schema,
    truncate_raw,
)

__all__ = [
    "CAPTION_SCHEMA",
    "ISO_639_1",
    "MANIFEST_NAME",
    "PAIR_SCHEMA",
    "REJECT_SCHEMA",
    "SCHEMA_VERSION",
    "SCORED_TAIL_FIELDS",
    "SCORE_PREFIX",
    "AccountingError",
    "Manifest",
    "SchemaError",
    "caption_id",
    "check_counts",
    "check_not_empty",
    "check_lang",
    "config_hash",
    "input_record",
    "is_known_lang",
    "layout",
    "iter_batches",
    "pair_id",
    "parquet_files",
    "read_manifest",
    "read_table",
    "score_column",
    "score_names_of",
    "scored_pair_schema",
    "shard_name",
    "table_from_rows",
    "text_key",
    "truncate_raw",
    "validate_table",
    "write_manifest",
    "write_rows",
    "write_sharded",
    "write_table",
    "write_text_atomic",
]
