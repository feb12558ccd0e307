"""`clcm-data import`, `export` and `inspect`: captions and pairs in and out of canonical Parquet."""

from __future__ import annotations

from clcm.cli.common import not_built


def import_cmd() -> None:
    """Import captions (multi30k, nrccr, jsonl, tsv, parquet) into caption/pair Parquet."""
    not_built("clcm-data import", "issue 2")


def export_cmd() -> None:
    """Export caption/pair Parquet to NRCCR TextData files or JSONL."""
    not_built("clcm-data export", "issue 2")


def inspect_cmd() -> None:
    """Show a table's schema, row count, manifest counts and a few rows."""
    not_built("clcm-data inspect", "issue 2")
