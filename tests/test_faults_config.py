"""Selection settings that would switch filtering off or mean nothing are refused (issue 12 §7): in the library's
config (SelectionConfig validation, so CLI, run config and library all get it) and through the CLI (exit 2)."""

from __future__ import annotations

import math

import pytest

from clcm.cli.common import run_app
from clcm.cli.data import app
from clcm.errors import EXIT_USAGE, UsageError
from clcm.filtering.selection import SelectionConfig

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"threshold": NAN}, "threshold"),
        ({"threshold": INF}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": -INF}, "threshold"),
        ({"rules": {"copy": NAN}}, "rules"),
        ({"rules": {"copy": INF}}, "rules"),
        ({"rules": {"copy": -INF}}, "rules"),
        ({"min_per_media": -3}, "min_per_media"),
        ({"keep_fraction": NAN}, "keep_fraction"),
        ({"keep_fraction": 0.0}, "keep_fraction"),
        ({"keep_fraction": 1.5}, "keep_fraction"),
        ({"nrf_fraction": 2.0}, "nrf_fraction"),
    ],
)
def test_selection_config_refuses(kwargs: dict, field: str) -> None:
    with pytest.raises(UsageError, match=field):
        SelectionConfig(**kwargs)


def test_selection_config_accepts_the_edges() -> None:
    edges = [{"threshold": -1.0}, {"threshold": 0.0}, {"threshold": 1.0}, {"threshold": None}, {"keep_fraction": 1.0},
             {"rules": {"copy": None}}, {"rules": {"copy": 0.5}}, {"min_per_media": 0}]  # fmt: skip
    for kwargs in edges:  # -1: drop every pair (what a test of "nothing kept" uses)
        SelectionConfig(**kwargs)


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--threshold", "nan"], "threshold"),
        (["--threshold", "inf"], "threshold"),
        (["--threshold", "1.5"], "threshold"),
        (["--rule", "copy=nan"], "rules"),
        (["--rule", "copy=inf"], "rules"),
        (["--min-per-media", "-3"], "min_per_media"),
    ],
)
def test_filter_cli_refuses_with_exit_2(tmp_path, capsys, flags: list[str], field: str) -> None:
    code = run_app(app, ["filter", "-i", str(tmp_path / "scored"), "-o", str(tmp_path / "out"), *flags])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and field in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything ran
