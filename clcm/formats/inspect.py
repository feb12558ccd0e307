"""`clcm-data inspect` and the import/export summaries: what a table or an output directory holds, as rich tables."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import RenderableType
from rich.table import Table

from clcm.errors import InputError
from clcm.schemas import MANIFEST_NAME, parquet_files, read_manifest

SAMPLE_CELL_CHARS = 200


@dataclass
class TableInfo:
    """One logical table (all shards with the same ``table`` metadata) of a file or directory."""

    name: str
    schema_version: str
    rows: int = 0
    files: list[Path] = field(default_factory=list)
    schema: pa.Schema | None = None


def describe(path: str | Path) -> tuple[list[TableInfo], dict[str, Any] | None]:
    """The tables under ``path`` (a Parquet file or a shard directory) and its manifest (as a dict), if any."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file or directory: {path}")
    files = parquet_files(path)
    manifest = None
    mpath = path / MANIFEST_NAME if path.is_dir() else None
    if mpath is not None and mpath.is_file():
        try:
            manifest = read_manifest(mpath).__dict__
        except ValueError as exc:  # includes JSONDecodeError
            raise InputError(f"{mpath}: not a valid manifest: {exc}") from exc
    if not files and manifest is None:
        raise InputError(f"no Parquet files and no {MANIFEST_NAME} in {path}")
    tables: dict[str, TableInfo] = {}
    for f in files:
        try:
            meta = pq.read_metadata(f)
            schema = meta.schema.to_arrow_schema()
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"cannot read Parquet {f}: {exc}") from exc
        md = schema.metadata or {}
        name = md.get(b"table", f.name.split("-")[0].encode()).decode()
        info = tables.setdefault(name, TableInfo(name, md.get(b"schema_version", b"missing").decode(), schema=schema))
        info.rows += meta.num_rows
        info.files.append(f)
    return list(tables.values()), manifest


def sample_rows(info: TableInfo, n: int) -> list[dict[str, Any]]:
    """The first ``n`` rows of a table (reads only as many batches as needed)."""
    rows: list[dict[str, Any]] = []
    for f in info.files:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=max(n, 1)):
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


def render_inspect(path: str | Path, n: int = 5) -> Iterator[RenderableType]:
    """Rich renderables for ``clcm-data inspect``: per table its schema name/version, rows, files and samples."""
    tables, manifest = describe(path)
    if manifest is not None:
        yield (
            f"[bold]{MANIFEST_NAME}[/bold]: command={manifest['command']} tool={manifest['tool_version']} "
            f"created={manifest['created_at']} config_hash={manifest['config_hash'][:12]}"
        )
        if manifest.get("counts"):
            yield counts_table(manifest["counts"], title="manifest counts")
    for info in tables:
        yield (
            f"[bold]{info.name}[/bold]: schema_version {info.schema_version}, "
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
