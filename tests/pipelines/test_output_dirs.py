"""Outputs: one rule for every command's -o (clcm.schemas.outdir), the run lock respected by standalone commands,
umask-honouring file modes for every writer, and the export manifest listing its files (issue 12.13)."""

from __future__ import annotations

import fcntl
import json
import os
import stat
from pathlib import Path

from run_support import captions, write_jsonl

from clcm.cli.common import run_app
from clcm.cli.data import app
from clcm.errors import EXIT_OUTPUT
from clcm.schemas import read_manifest


def _import(tmp_path: Path, out: Path, *extra: str) -> int:
    inp = write_jsonl(tmp_path / "caps.jsonl", captions(6))
    return run_app(app, ["import", "-f", "jsonl", str(inp), "-o", str(out), *extra])


def _translate(caps: Path, out: Path, model: Path, *extra: str) -> list[str]:
    cache = list(extra) if "--cache-dir" in extra else ["--no-cache", *extra]
    return ["translate", "-i", str(caps), "-o", str(out), "-l", "de", "--model", str(model), "--max-length", "8",
            "--no-progress", "--runner", "FnApiRunner", *cache]  # fmt: skip


def test_one_rule_own_output_replaced_other_output_and_foreign_files_refused(tmp_path: Path, model: Path,
                                                                              capsys) -> None:  # fmt: skip
    caps = tmp_path / "caps"
    assert _import(tmp_path, caps) == 0
    assert _import(tmp_path, caps) == 0  # its own earlier output: replaced
    capsys.readouterr()
    assert run_app(app, _translate(caps, caps, model)) == EXIT_OUTPUT  # translate into an import folder
    assert "holds the output of `clcm-data import`" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt.bak").write_text("mine")
    assert _import(tmp_path, mine) == EXIT_OUTPUT
    assert "holds files clcm did not write (notes.txt.bak)" in capsys.readouterr().err
    assert _import(tmp_path, mine, "--overwrite") == 0
    assert (mine / "notes.txt.bak").read_text() == "mine"  # --overwrite never removes what clcm did not write
    pairs = tmp_path / "pairs"
    assert run_app(app, _translate(caps, pairs, model)) == 0
    assert run_app(app, _translate(caps, pairs, model)) == 0  # translate replaces its own output too
    assert read_manifest(pairs).command == "translate"


def test_standalone_command_refuses_a_run_directory_a_running_run_holds(tmp_path: Path, model: Path,
                                                                         capsys) -> None:  # fmt: skip
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert _import(tmp_path, tmp_path / "caps") == 0
    capsys.readouterr()
    with open(run_dir / ".lock", "a+") as lock:  # what a running `clcm-data run` holds
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert run_app(app, _translate(tmp_path / "caps", run_dir / "translate", model)) == EXIT_OUTPUT
        err = capsys.readouterr().err
        assert f"is in run directory {run_dir}, which a running `clcm-data run` holds" in err
    assert not (run_dir / "translate").exists()
    assert run_app(app, _translate(tmp_path / "caps", run_dir / "translate", model)) == 0  # lock released


def test_every_output_file_honours_the_umask(tmp_path: Path, model: Path) -> None:
    old = os.umask(0o022)
    try:
        assert _import(tmp_path, tmp_path / "caps") == 0
        args = _translate(tmp_path / "caps", tmp_path / "pairs", model, "--cache-dir", str(tmp_path / "cache"))
        assert run_app(app, args) == 0
    finally:
        os.umask(old)
    files = [p for d in ("caps", "pairs", "cache") for p in (tmp_path / d).rglob("*") if p.is_file()]
    assert any("pairs" in p.parts for p in files) and any("cache" in p.parts for p in files)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o644}, modes  # translate shards and cache parts were 0600


def test_export_manifest_lists_its_files(tmp_path: Path) -> None:
    assert _import(tmp_path, tmp_path / "caps") == 0
    assert run_app(app, ["export", str(tmp_path / "caps"), "-f", "jsonl", "-o", str(tmp_path / "exp")]) == 0
    manifest = json.loads((tmp_path / "exp" / "_manifest.json").read_text())
    written = sorted(p.name for p in (tmp_path / "exp").iterdir() if p.name != "_manifest.json")
    assert sorted(s["name"] for s in manifest["shards"]) == written
    assert all(s["rows"] > 0 and len(s["sha256"]) == 64 for s in manifest["shards"])


def test_out_that_is_a_file_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "o").write_text("x")
    assert _import(tmp_path, tmp_path / "o") == EXIT_OUTPUT
    assert "exists and is not a directory" in capsys.readouterr().err
