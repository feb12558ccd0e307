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
from clcm.schemas import MANIFEST_NAME, layout, read_manifest

SAMPLE_CELL_CHARS = 200


@dataclass
class TableInfo:
    """One logical table of a file or directory: a kind directory's shards (``pairs/``), or flat shards with the
    same ``table`` metadata."""

    name: str
    schema_version: str
    rows: int = 0
    files: list[Path] = field(default_factory=list)
    schema: pa.Schema | None = None
    table: str = ""  # the schema's ``table`` metadata (``scored_pairs`` for kept/ and dropped/)


def _parquet_groups(path: Path) -> dict[str, list[Path]]:
    if path.is_file():
        return {"": [path]}
    return {kind: [Path(f) for f in files] for kind, files in layout.stage_shards(str(path)).items()}


def describe(path: str | Path) -> tuple[list[TableInfo], dict[str, Any] | None]:
    """The tables under ``path`` (a Parquet file, a stage or a shard directory) and its manifest, if any."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file or directory: {path}")
    groups = _parquet_groups(path)
    manifest = None
    mpath = path / MANIFEST_NAME if path.is_dir() else None
    if mpath is not None and mpath.is_file():
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
                meta = pq.read_metadata(f)
                schema = meta.schema.to_arrow_schema()
            except (OSError, pa.ArrowException) as exc:
                raise InputError(f"cannot read Parquet {f}: {exc}") from exc
            md = schema.metadata or {}
            table = md.get(b"table", f.name.split("-")[0].encode()).decode()
            version = md.get(b"schema_version", b"missing").decode()
            info = tables.setdefault(kind or table, TableInfo(kind or table, version, schema=schema, table=table))
            info.rows += meta.num_rows
            info.files.append(f)
    return list(tables.values()), manifest


def manifest_mismatches(path: str | Path, tables: list[TableInfo], manifest: dict[str, Any]) -> list[str]:
    """Where the shards on disk and the manifest's shard list disagree (missing, unlisted, other row counts)."""
    root = Path(path)
    if not root.is_dir() or not manifest.get("shards"):
        return []
    on_disk = {f.relative_to(root).as_posix(): f for info in tables for f in info.files}
    listed = {s["name"]: s for s in manifest["shards"]}
    problems = [f"{name}: in the manifest, not on disk" for name in sorted(set(listed) - set(on_disk))]
    problems += [f"{name}: on disk, not in the manifest" for name in sorted(set(on_disk) - set(listed))]
    for name in sorted(set(listed) & set(on_disk)):
        rows = pq.read_metadata(on_disk[name]).num_rows
        if "rows" in listed[name] and listed[name]["rows"] != rows:
            problems.append(f"{name}: {rows} rows on disk, the manifest says {listed[name]['rows']}")
    return problems


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
        for problem in manifest_mismatches(path, tables, manifest):
            yield f"[bold red]manifest mismatch[/bold red]: {problem}"
    models = Path(path) / layout.MODELS
    if models.is_dir():
        names = sorted(p.name for p in models.iterdir() if not p.name.startswith("."))
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
