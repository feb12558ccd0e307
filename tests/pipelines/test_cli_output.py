"""Normal CLI output: Beam's notes and INFO lines hidden (``-v`` shows them), each command's summary printed once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_score_filter import pair_rows

from clcm.cli.common import run_app
from clcm.cli.data import app
from clcm.schemas import PAIR_SCHEMA, write_sharded

REPO = Path(__file__).resolve().parents[2]


def test_a_failing_command_prints_one_line_not_beams_import_notes(tmp_path: Path) -> None:
    code = "from clcm.cli.data import main; main()"
    args = ["translate", "-i", str(tmp_path / "missing"), "-o", str(tmp_path / "o"), "-l", "de"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 3
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no caption Parquet files at "), r.stderr


def test_score_and_filter_print_their_summary_once(tmp_path: Path, capsys) -> None:
    write_sharded(pair_rows(80, with_bt=False), tmp_path / "pairs", "pairs", PAIR_SCHEMA, 80)
    assert run_app(app, ["score", "-i", str(tmp_path / "pairs"), "-o", str(tmp_path / "s"), "--combiner-pairs", "80",
                         "--scorer", "copy,length_ratio", "--runner", "FnApiRunner"]) == 0  # fmt: skip
    assert run_app(app, ["filter", "-i", str(tmp_path / "s"), "-o", str(tmp_path / "f"), "--no-plots"]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert text.count("scored 80 pairs") == 1, text
    assert text.count("kept ") == 1, text
    assert "INFO apache_beam" not in text
