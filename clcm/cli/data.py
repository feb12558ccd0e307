"""`clcm-data`: build pseudo-parallel caption corpora (import, translate, score, filter, run, inspect, export).

Commands are thin: each builds a config and calls the library. Unknown flags of Beam-backed commands are passed
through to Beam as pipeline options.
"""

from __future__ import annotations

from typing import Annotated

import typer

from clcm import __version__
from clcm.cli import cache_cmds, io_cmds, run_cmd, score_cmds, translate_cmds
from clcm.cli.common import exit_with, run_app, setup_logging
from clcm.cli.help import use_clcm_help

BEAM_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}

app = typer.Typer(
    name="clcm-data",
    help="Build pseudo-parallel caption corpora: import, translate + back-translate, score noise, filter, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"clcm-data {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    setup_logging(verbose)


app.command("import")(io_cmds.import_cmd)
app.command("translate", context_settings=BEAM_PASSTHROUGH)(translate_cmds.translate_cmd)
app.command("convert-model")(translate_cmds.convert_model_cmd)
app.command("score", context_settings=BEAM_PASSTHROUGH)(score_cmds.score_cmd)
app.command("filter")(score_cmds.filter_cmd)
app.command("run", context_settings=BEAM_PASSTHROUGH)(run_cmd.run_cmd)
app.command("inspect")(io_cmds.inspect_cmd)
app.command("export")(io_cmds.export_cmd)
app.add_typer(cache_cmds.app, name="cache")
use_clcm_help(app)


def main(argv: list[str] | None = None) -> None:
    exit_with(run_app(app, argv))
