"""`--help` of every command reads as help: click-style usage, no type for on/off flags, no raw RST backticks,
and `clcm-train train` shows the defaults its config supplies and which options are required."""

from __future__ import annotations

import pytest
import typer
import typer.main

from clcm.cli.common import run_app
from clcm.cli.data import app as data_app
from clcm.cli.train import app as train_app


def _command_paths(app: typer.Typer) -> list[list[str]]:
    group = typer.main.get_command(app)
    paths: list[list[str]] = [[]]

    def walk(cmd, prefix: list[str]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            paths.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(group, [])
    return paths


def _help(app: typer.Typer, path: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run_app(app, [*path, "--help"]) == 0
    return capsys.readouterr().out


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # no wrapped lines


@pytest.mark.parametrize(("app", "prog"), [(data_app, "clcm-data"), (train_app, "clcm-train")])
def test_every_help_page_is_clean(app: typer.Typer, prog: str, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _command_paths(app)
    assert len(paths) > 2
    for path in paths:
        text = _help(app, path, capsys)
        where = " ".join([prog, *path])
        usage = next(line for line in text.splitlines() if "Usage:" in line)
        assert f" {' '.join(path)} [OPTIONS]".replace("  ", " ") in usage, usage  # (the program name is pytest's)
        assert "<bool>" not in text, where  # flags take no value
        assert "<list[" not in text, where
        assert "`" not in text, where  # docstring markup is shown as plain quotes
        assert "{" not in usage and "}" not in usage, usage


def test_usage_lines_read_like_click(capsys: pytest.CaptureFixture[str]) -> None:
    usage = next(line for line in _help(data_app, ["import"], capsys).splitlines() if "Usage:" in line)
    assert usage.rstrip().endswith(" import [OPTIONS] INPUT...")
    run_help = _help(data_app, ["run"], capsys)
    assert " run [OPTIONS] CONFIG" in run_help
    assert "'--runner FlinkRunner ...'" in run_help


def test_train_help_shows_config_defaults_and_required_options(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(train_app, ["train"], capsys)
    lines = {line.split()[1]: line for line in text.splitlines() if line.startswith("│ --")}
    assert "(default: 128)" in lines["--batch-size"]
    assert "(default: nrccr)" in lines["--objective"]
    assert "(default: 50, unless the objective sets its own)" in lines["--epochs"]
    assert "Required (here or in --config)" in lines["--shards"] and "Required" in lines["--features"]
