"""`clcm-data run CONFIG`: all stages from one config, idempotent and resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from clcm.cli.common import beam_args


def run_cmd(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Run config (YAML); see examples/run-local.yaml.")],
    run_dir: Annotated[
        str | None, typer.Option("--run-dir", help="Run directory, local or an object-store URL (overrides run_dir:).")
    ] = None,
    force: Annotated[
        list[str] | None, typer.Option("--force", help="Re-run this stage even if complete (repeatable; 'all').")
    ] = None,
) -> None:
    """Run import -> translate -> score -> filter -> train -> evaluate (+ export) from one YAML config (only new work
    is done).

    Unknown flags (``--runner FlinkRunner ...``) are Beam pipeline options; they override the config's beam_args.
    """
    extra_args = beam_args(ctx)  # a mistyped flag fails here, before any work
    from clcm.pipelines.run import StageStatus, run
    from clcm.pipelines.run_config import load_run_config

    console = Console()

    def show(s: StageStatus) -> None:
        counts = ", ".join(f"{k}={v}" for k, v in s.counts.items() if isinstance(v, int))
        verb = "[green]ran[/]" if s.action == "ran" else "[dim]skipped[/]"
        console.print(f"{s.stage:<10} {verb} ({s.why}) {s.seconds:.1f}s  {counts}", highlight=False)

    cfg = load_run_config(config, run_dir=run_dir or None)
    console.print(f"run {cfg.source} -> {cfg.run_dir}", highlight=False)
    statuses = run(cfg, beam_args=extra_args, force=force or (), on_status=show)
    ran = sum(s.action == "ran" for s in statuses)
    console.print(f"done: {ran} stage(s) ran, {len(statuses) - ran} skipped", highlight=False)
