"""`clcm-data cache stats|compact|verify`: look after a translation cache (safe while translate runs use it)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from clcm.errors import InputError

app = typer.Typer(
    help="Translation cache: statistics, compaction (one file per bucket), verification.",
    no_args_is_help=True,
    add_completion=False,
)

CacheDir = Annotated[str | None, typer.Option(help="Cache root (default $CLCM_CACHE_DIR or ~/.cache/...).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object per settings directory.")]


def _root(cache_dir: str | None) -> str:
    from clcm.pipelines.cache import default_cache_dir

    return cache_dir or default_cache_dir()


def _print(reports: list, as_json: bool, verb: str) -> None:
    if not reports:
        typer.echo(f"no translation cache under {verb}")
        return
    for r in reports:
        if as_json:
            typer.echo(json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False))
            continue
        s = r.settings
        what = f"{s.get('model', '?')} {s.get('src_lang', '?')}->{s.get('tgt_lang', '?')}"
        line = f"{r.directory}: {what}; {r.entries} entries in {r.parts} parts, {r.used_buckets}/{r.buckets} buckets"
        if r.bytes:
            line += f", {r.bytes / 1e6:.1f} MB"
        if r.compacted_buckets:
            line += f"; compacted {r.compacted_buckets} buckets"
        if r.legacy_parts:
            line += f"; {r.legacy_parts} pre-bucket parts (run `clcm-data cache compact`)"
        typer.echo(line)
        for bad in r.corrupt:
            typer.echo(f"  corrupt: {bad}")


@app.command("stats")
def stats_cmd(cache_dir: CacheDir = None, as_json: AsJson = False) -> None:
    """Entries, parts, buckets and bytes per model/settings directory."""
    from clcm.pipelines.cache_admin import stats

    root = _root(cache_dir)
    _print(stats(root), as_json, root)


@app.command("compact")
def compact_cmd(cache_dir: CacheDir = None, as_json: AsJson = False) -> None:
    """Merge each bucket's parts into one file (and move pre-bucket parts into buckets)."""
    from clcm.pipelines.cache_admin import compact

    root = _root(cache_dir)
    _print(compact(root), as_json, root)


@app.command("verify")
def verify_cmd(
    cache_dir: CacheDir = None,
    remove: Annotated[bool, typer.Option("--remove", help="Delete parts that fail verification.")] = False,
    as_json: AsJson = False,
) -> None:
    """Read every part and check its content hash and schema; exit 3 if any fails (unless --remove)."""
    from clcm.pipelines.cache_admin import verify

    root = _root(cache_dir)
    reports = verify(root, remove=remove)
    _print(reports, as_json, root)
    bad = sum(len(r.corrupt) for r in reports)
    if bad and not remove:
        raise InputError(f"{bad} corrupt translation-cache parts (rerun with --remove to delete them)")
    if bad:
        typer.echo(f"removed {bad} corrupt parts; their texts are translated again by the next run")
