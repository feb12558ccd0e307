"""CLI faults: mistyped flags, Ctrl-C, full or read-only disks (issue 12 items 9-11)."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_support import captions, run_config, write_jsonl

from clcm.cli.common import run_app
from clcm.cli.data import app
from clcm.errors import EXIT_INTERRUPTED, EXIT_OUTPUT, EXIT_USAGE

REPO = Path(__file__).resolve().parents[2]


def _clcm_data(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    code = "from clcm.cli.data import main; main()"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, **kwargs)


def test_mistyped_flag_is_exit_2_naming_it_and_the_close_match(tmp_path: Path, capsys) -> None:
    code = run_app(app, ["translate", "-i", str(tmp_path / "none"), "-o", str(tmp_path / "o"), "-l", "de",
                         "--modle", str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err.startswith("error: no such option: --modle; did you mean --model")
    assert err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_beam_flags_still_pass_through(tmp_path: Path, capsys) -> None:
    # known Beam options are accepted (the run then fails on the missing input, exit 3, not on the flags)
    code = run_app(app, ["translate", "-i", str(tmp_path / "none"), "-o", str(tmp_path / "o"), "-l", "de",
                         "--runner", "DirectRunner", "--direct_num_workers=2", "--save_main_session"])  # fmt: skip
    assert code == 3, capsys.readouterr().err


def test_mistyped_beam_arg_in_a_run_config_fails_before_import(tmp_path: Path, model: Path, capsys) -> None:
    inp = write_jsonl(tmp_path / "caps.jsonl", captions(4))
    cfg = run_config(tmp_path / "run.yaml", [inp], model, run_dir=tmp_path / "run",
                     beam_args=["--runner", "FnApiRunner", "--direct_num_wokers", "2"])  # fmt: skip
    assert run_app(app, ["run", str(cfg)]) == EXIT_USAGE
    assert "no such option: --direct_num_wokers; did you mean --direct_num_workers" in capsys.readouterr().err
    assert not (tmp_path / "run" / "import").exists()


def test_ctrl_c_is_exit_130_with_one_line_and_the_next_run_resumes(tmp_path: Path, model: Path) -> None:
    inp = write_jsonl(tmp_path / "caps.jsonl", captions(4000))
    cfg = run_config(tmp_path / "run.yaml", [inp], model, run_dir=tmp_path / "run")
    proc = _clcm_data(["run", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    # inside the translate pipeline: its first translations are in the cache, most captions are still to do
    while not any((tmp_path / "run" / "cache").glob("*/*/buckets/*/part-*.parquet")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err
    lines = err.strip().splitlines()  # (a first run also logs the model's conversion to CTranslate2)
    assert lines[-1] == "interrupted; finished outputs are kept, run the same command again to resume"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and len(lines) <= 6, err
    assert not (tmp_path / "run" / "translate" / "_stage.json").exists()  # the stage is not stamped complete
    again = _clcm_data(["run", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "import     skipped" in out and "translate  ran" in out
    assert not (tmp_path / "run" / ".staging").exists()  # a successful run leaves no scratch folder


@pytest.fixture
def readonly_dir(tmp_path: Path):
    """A directory nobody can write: mode 0555, or (root ignores modes) a read-only tmpfs mount."""
    d = tmp_path / "readonly"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(d)], capture_output=True)
    if mount.returncode:
        pytest.skip("running as root without mount: no read-only directory to test with")
    yield d
    subprocess.run(["umount", str(d)], check=False)


def _captions_dir(tmp_path: Path, n: int = 6) -> Path:
    inp = write_jsonl(tmp_path / "caps.jsonl", captions(n))
    assert run_app(app, ["import", "-f", "jsonl", str(inp), "-o", str(tmp_path / "caps")]) == 0
    return tmp_path / "caps"


def _translate(tmp_path: Path, model: Path, *extra: str) -> list[str]:
    return ["translate", "-i", str(_captions_dir(tmp_path)), "-o", str(tmp_path / "pairs"), "-l", "de",
            "--model", str(model), "--max-length", "8", "--no-progress", "--runner", "FnApiRunner",
            *extra]  # fmt: skip


def test_read_only_cache_dir_is_exit_4_before_translating(tmp_path: Path, model: Path, readonly_dir: Path,
                                                          capsys) -> None:  # fmt: skip
    args = _translate(tmp_path, model, "--cache-dir", str(readonly_dir / "cache"))
    capsys.readouterr()
    assert run_app(app, args) == EXIT_OUTPUT
    err = capsys.readouterr().err
    assert err.startswith("error: translation cache (--cache-dir)") and "not writable" in err
    assert err.count("\n") == 1
    assert not list((tmp_path / "pairs").rglob("*.parquet"))  # nothing was translated


def test_disk_full_inside_the_pipeline_is_exit_4_with_one_line(tmp_path: Path, model: Path, capsys,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import clcm.pipelines.sinks as sinks

    def full(path: str, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(sinks, "write_bytes", full)  # the shard writer on the (in-process) Beam worker
    args = _translate(tmp_path, model, "--no-cache")
    capsys.readouterr()
    assert run_app(app, args) == EXIT_OUTPUT
    err = capsys.readouterr().err
    assert "Traceback" not in err and "ERROR" not in err, err  # (a first use logs the model's conversion)
    lines = [ln for ln in err.splitlines() if ln.startswith("error")]
    shard = rf"{tmp_path}/pairs/(\w+/)?\w+-\d+-of-\d+\.parquet"
    assert len(lines) == 1 and re.fullmatch(f"error: No space left on device: {shard}", lines[0])


def test_a_full_scratch_disk_in_rounds_is_exit_4(tmp_path: Path, model: Path, capsys,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import clcm.pipelines.sinks as sinks

    def full(path: str, rows: object, schema: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(sinks, "write_run", full)  # a round's sorted run, written to the local scratch directory
    args = _translate(tmp_path, model, "--no-cache", "--round-rows", "2")  # 6 captions: 3 rounds
    capsys.readouterr()
    assert run_app(app, args) == EXIT_OUTPUT
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error")]
    assert len(lines) == 1 and re.fullmatch(r"error: No space left on device: .*clcm-rounds-[^/]+/.+", lines[0]), err
    assert not list((tmp_path / "pairs").rglob("*.parquet"))  # no partial output


def test_a_really_full_disk_is_exit_4(tmp_path: Path, capsys) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tiny tmpfs")
    full = tmp_path / "full"
    full.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(full)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        inp = write_jsonl(tmp_path / "caps.jsonl", captions(2000))
        code = run_app(app, ["import", "-f", "jsonl", str(inp), "-o", str(full / "caps")])
        err = capsys.readouterr().err
        assert code == EXIT_OUTPUT, err
        assert err.startswith("error: ") and "No space left on device" in err and err.count("\n") == 1
    finally:
        subprocess.run(["umount", str(full)], check=False)
