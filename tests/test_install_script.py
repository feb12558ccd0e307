"""scripts/install.sh picks the torch build for the machine: the CPU wheel index without a GPU (plain pip when
that index cannot be reached), PyPI's build plus advice with a GPU. Runs the real script against a fake venv
python that records its calls (nothing is installed, no network)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAKE_PYTHON = """#!/usr/bin/env bash
echo "python $*" >> "$CALLS"
case "$*" in
  *"import torch"*) exit 1 ;;
  *urlopen*) exit "$PROBE_RC" ;;
esac
exit 0
"""


def _run(tmp_path: Path, *, gpu: bool, probe_ok: bool) -> tuple[str, list[str]]:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "install.sh", root / "scripts" / "install.sh")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("python", FAKE_PYTHON), ("clcm-data", "#!/usr/bin/env bash\necho clcm-data 0\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    tools = tmp_path / "tools"
    tools.mkdir()
    if gpu:
        (tools / "nvidia-smi").write_text("#!/usr/bin/env bash\necho 'GPU 0: H100'\n")
        (tools / "nvidia-smi").chmod(0o755)
    calls = tmp_path / "calls.txt"
    env = {"PATH": f"{tools}:/usr/bin:/bin", "CALLS": str(calls), "PROBE_RC": "0" if probe_ok else "1",
           "HOME": str(tmp_path)}  # fmt: skip
    r = subprocess.run(["bash", str(root / "scripts" / "install.sh")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout, calls.read_text().splitlines()


def _torch_installs(calls: list[str]) -> list[str]:
    return [c for c in calls if "pip install" in c and "torch==2.13.0" in c]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_no_gpu_uses_the_cpu_wheel_index(tmp_path: Path) -> None:
    out, calls = _run(tmp_path, gpu=False, probe_ok=True)
    assert _torch_installs(calls) == ["python -m pip install -q --index-url https://download.pytorch.org/whl/cpu "
                                      "torch==2.13.0"]  # fmt: skip
    assert "CPU build" in out


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_no_gpu_and_no_cpu_index_falls_back_to_plain_pip(tmp_path: Path) -> None:
    out, calls = _run(tmp_path, gpu=False, probe_ok=False)
    assert _torch_installs(calls) == ["python -m pip install -q torch==2.13.0"]
    assert "cannot be reached" in out


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_says_what_to_do(tmp_path: Path) -> None:
    out, calls = _run(tmp_path, gpu=True, probe_ok=True)
    assert _torch_installs(calls) == ["python -m pip install -q torch==2.13.0"]
    assert "NVIDIA GPU found" in out and "pytorch.org/get-started/locally" in out
