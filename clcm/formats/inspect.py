"""`clcm-data inspect` and the import/export summaries: what a table or an output directory holds, as rich tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from rich.console import RenderableType
from rich.table import Table

from clcm import storage
from clcm.errors import InputError
from clcm.schemas import MANIFEST_NAME, layout, read_manifest
from clcm.schemas.io import parquet_file

SAMPLE_CELL_CHARS = 200


@dataclass
class TableInfo:
    """One logical table of a file or directory: a kind directory's shards (``pairs/``), or flat shards with the
    same ``table`` metadata."""

    name: str
    schema_version: str
    rows: int = 0
    files: list[str] = field(default_factory=list)  # local paths or URLs
    schema: pa.Schema | None = None
    table: str = ""  # the schema's ``table`` metadata (``scored_pairs`` for kept/ and dropped/)


def describe(path: str | os.PathLike) -> tuple[list[TableInfo], dict[str, Any] | None]:
    """The tables under ``path`` (a Parquet file, a stage or a shard directory; local or URL) and its manifest."""
    path = os.fspath(path)
    is_file = storage.is_file(path)
    if not is_file and not storage.is_dir(path):
        raise InputError(f"no such file or directory: {path}")
    groups = {"": [path]} if is_file else layout.stage_shards(path)
    manifest = None
    mpath = None if is_file else storage.join(path, MANIFEST_NAME)
    if mpath is not None and storage.is_file(mpath):
        try:
            manifest = read_manifest(mpath).__dict__
        except ValueError as exc:  # includes JSONDecodeError
            raise InputError(f"{mpath}: not a valid manifest: {exc}") from exc
    if not groups and manifest is None:
        raise InputError(f"no Parquet files and no {MANIFEST_NAME} in {path}")
    tables: dict[str, TableInfo] = {}
    for kind, files in groups.items():
        for f in files:
            try:
                meta = parquet_file(f).metadata
                schema = meta.schema.to_arrow_schema()
            except (OSError, pa.ArrowException) as exc:
                raise InputError(f"cannot read Parquet {f}: {exc}") from exc
            md = schema.metadata or {}
            table = md.get(b"table", storage.basename(f).split("-")[0].encode()).decode()
            version = md.get(b"schema_version", b"missing").decode()
            info = tables.setdefault(kind or table, TableInfo(kind or table, version, schema=schema, table=table))
            info.rows += meta.num_rows
            info.files.append(f)
    return list(tables.values()), manifest


def manifest_mismatches(path: str | os.PathLike, tables: list[TableInfo], manifest: dict[str, Any]) -> list[str]:
    """Where the shards on disk and the manifest's shard list disagree (missing, unlisted, other row counts)."""
    root = os.fspath(path)
    if not manifest.get("shards") or storage.is_file(root):
        return []
    on_disk = {storage.relpath(f, root): f for info in tables for f in info.files}
    listed = {s["name"]: s for s in manifest["shards"]}
    problems = [f"{name}: in the manifest, not on disk" for name in sorted(set(listed) - set(on_disk))]
    problems += [f"{name}: on disk, not in the manifest" for name in sorted(set(on_disk) - set(listed))]
    for name in sorted(set(listed) & set(on_disk)):
        rows = parquet_file(on_disk[name]).metadata.num_rows
        if "rows" in listed[name] and listed[name]["rows"] != rows:
            problems.append(f"{name}: {rows} rows on disk, the manifest says {listed[name]['rows']}")
    return problems


def sample_rows(info: TableInfo, n: int) -> list[dict[str, Any]]:
    """The first ``n`` rows of a table (reads only as many batches as needed)."""
    rows: list[dict[str, Any]] = []
    for f in info.files:
        for batch in parquet_file(f).iter_batches(batch_size=max(n, 1)):
            rows.extend(batch.to_pylist()[: n - len(rows)])
            if len(rows) >= n:
                return rows
    return rows


def _cell(v: Any) -> str:
    s = "∅" if v is None else str(v)
    return s if len(s) <= SAMPLE_CELL_CHARS else s[: SAMPLE_CELL_CHARS - 1] + "…"


def counts_table(counts: dict[str, Any], title: str = "records") -> Table:
    """read / kept / rejected-per-reason (and rows per table when present) as a rich table."""
    t = Table(title=title, show_header=True)
    t.add_column("count")
    t.add_column("n", justify="right")
    for key in ("read", "kept"):
        if key in counts:
            t.add_row(key, f"{counts[key]:,}")
    rejected = counts.get("rejected") or {}
    t.add_row("rejected", f"{sum(rejected.values()):,}")
    for reason, n in sorted(rejected.items()):
        t.add_row(f"  {reason}", f"{n:,}")
    for table, n in (counts.get("rows") or {}).items():
        t.add_row(f"rows: {table}", f"{n:,}")
    return t


def render_inspect(path: str | os.PathLike, n: int = 5) -> Iterator[RenderableType]:
    """Rich renderables for ``clcm-data inspect``: per table its schema name/version, rows, files and samples."""
    tables, manifest = describe(path)
    if manifest is not None:
        yield (
            f"[bold]{MANIFEST_NAME}[/bold]: command={manifest['command']} tool={manifest['tool_version']} "
            f"created={manifest['created_at']} config_hash={manifest['config_hash'][:12]}"
        )
        if manifest.get("counts"):
            yield counts_table(manifest["counts"], title="manifest counts")
        for problem in manifest_mismatches(path, tables, manifest):
            yield f"[bold red]manifest mismatch[/bold red]: {problem}"
    names = [storage.basename(p) for p in storage.match(storage.join(path, layout.MODELS, "*"))]
    if names := [name for name in names if not name.startswith(".")]:
        yield f"[bold]{layout.MODELS}/[/bold]: {', '.join(names)}"
    for info in tables:
        table = f" ({info.table})" if info.table and info.table != info.name else ""
        yield (
            f"[bold]{info.name}[/bold]{table}: schema_version {info.schema_version}, "
            f"{info.rows:,} rows in {len(info.files)} file(s)"
        )
        if n > 0 and info.rows:
            names = info.schema.names if info.schema is not None else []
            for i, row in enumerate(sample_rows(info, n)):
                t = Table(title=f"{info.name} row {i + 1}", show_header=False, title_justify="left")
                t.add_column("field", style="bold")
                t.add_column("value", overflow="fold")
                for name in names:
                    t.add_row(name, _cell(row.get(name)))
                yield t
