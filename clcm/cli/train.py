"""`clcm-train`: train (baseline, nrccr, cl2cm, nrf) and evaluate cross-lingual cross-modal retrieval models.

`clcm-train --shards DIR --features SPEC --objective nrccr` trains; `clcm-train evaluate ...` evaluates.
"""

from __future__ import annotations

from typing import Annotated

import typer

from clcm import __version__
from clcm.cli.common import not_built, run_app, setup_logging

app = typer.Typer(
    name="clcm-train",
    help="Train and evaluate cross-lingual cross-modal retrieval models (baseline, nrccr, cl2cm, nrf).",
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"clcm-train {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    setup_logging(verbose)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@app.command("train")
def train_cmd() -> None:
    """Train a model on pair shards and visual features."""
    not_built("clcm-train train", "issue 5")


@app.command("evaluate")
def evaluate_cmd() -> None:
    """Evaluate a checkpoint: R@1/5/10, MedR, mAP, SumR in both directions."""
    not_built("clcm-train evaluate", "issue 5")


def main(argv: list[str] | None = None) -> None:
    raise SystemExit(run_app(app, argv))
