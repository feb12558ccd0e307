"""`clcm-data import`, `export` and `inspect`: captions and pairs in and out of canonical Parquet."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from clcm.cli.common import Overwrite, claim_out


def _csv(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


def import_cmd(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Input files or directories: local paths or URLs (s3://, gs://), globs quoted (s3://b/in/*.jsonl).",
            metavar="INPUT...",
            show_default=False,
        ),
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="multi30k | nrccr | jsonl | tsv | parquet")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output directory (local path or URL).")],
    langs: Annotated[str | None, typer.Option(help="multi30k: languages, comma-separated (default: all).")] = None,
    splits: Annotated[
        str | None,
        typer.Option(help="multi30k: splits as in the file names (e.g. train,test_2016_flickr; default: all)."),
    ] = None,
    source_lang: Annotated[str, typer.Option(help="multi30k: language of the source captions.")] = "en",
    as_pairs: Annotated[
        bool, typer.Option("--as-pairs", help="multi30k: import other languages as reference translations (pairs).")
    ] = False,
    dataset: Annotated[str | None, typer.Option(help="Dataset name for rows that carry none.")] = None,
    rows_per_shard: Annotated[int, typer.Option(help="Maximum rows per Parquet shard.")] = 100_000,
    overwrite: Overwrite = False,
) -> None:
    """Import captions (multi30k, nrccr, jsonl, tsv, parquet) into caption/pair Parquet."""
    from clcm.formats.importer import ImportConfig, run_import
    from clcm.formats.inspect import counts_table

    config = ImportConfig(
        format=fmt, inputs=tuple(inputs), out=out, langs=_csv(langs), splits=_csv(splits),
        source_lang=source_lang, as_pairs=as_pairs, dataset=dataset, rows_per_shard=rows_per_shard,
        overwrite=True,  # claim_out decided: own earlier output is replaced
    )  # fmt: skip
    claim_out(out, "import", overwrite)
    result = run_import(config)
    Console().print(counts_table(result.counts, title=f"import {fmt} -> {result.out}"))


def export_cmd(
    input_dir: Annotated[str, typer.Argument(help="Stage dir (captions/, pairs/, kept/ or scored/) or shard dir.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="nrccr | jsonl")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output directory (local path or URL).")],
    collection: Annotated[
        str | None, typer.Option(help="nrccr: collection name in file names (default: the rows' dataset).")
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Export caption/pair Parquet to NRCCR TextData files or JSONL."""
    from clcm.formats.export import ExportConfig, run_export
    from clcm.formats.inspect import counts_table

    config = ExportConfig(format=fmt, input=input_dir, out=out, collection=collection)
    claim_out(out, "export", overwrite)
    result = run_export(config)
    console = Console()
    console.print(counts_table(result.counts, title=f"export {fmt} -> {result.out}"))
    for name, lines in result.files.items():
        console.print(f"{name}: {lines:,} lines")


def inspect_cmd(
    path: Annotated[str, typer.Argument(help="A Parquet file, a stage directory or a shard directory (or a URL).")],
    rows: Annotated[int, typer.Option("--rows", "-n", help="Sample rows to show per table.")] = 5,
) -> None:
    """Show a table's schema, row count, manifest counts and a few rows."""
    from clcm.formats.inspect import render_inspect

    console = Console()
    for part in render_inspect(path, rows):
        console.print(part)
