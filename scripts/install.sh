#!/usr/bin/env bash
# Install clcm into ./.venv. torch first, so that nothing pulls a multi-GB CUDA build onto a machine without a GPU:
# - no NVIDIA GPU: torch's CPU build from PyTorch's CPU wheel index, or plain `pip install torch==2.13.0` where
#   that index cannot be reached (a pip mirror, an offline wheel cache);
# - an NVIDIA GPU: PyPI's torch==2.13.0 (built for one CUDA version); for another CUDA version install the
#   matching build from https://pytorch.org/get-started/locally/ first, then run this script (it keeps it).
# CLCM_TORCH_INDEX=URL chooses the wheel index yourself (e.g. https://download.pytorch.org/whl/cu126).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH="torch==2.13.0"
CPU_INDEX="https://download.pytorch.org/whl/cpu"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip

reachable() {  # an index answers within a few seconds (pip itself would retry for minutes)
  .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" "$1" \
    >/dev/null 2>&1
}

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if [ -n "${CLCM_TORCH_INDEX:-}" ]; then
    .venv/bin/python -m pip install -q --index-url "$CLCM_TORCH_INDEX" "$TORCH"
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "install.sh: NVIDIA GPU found; installing $TORCH from PyPI (its CUDA build). If it does not match your"
    echo "  driver's CUDA, install torch for your CUDA first (https://pytorch.org/get-started/locally/, or set"
    echo "  CLCM_TORCH_INDEX=https://download.pytorch.org/whl/cuXXX) and run this script again."
    .venv/bin/python -m pip install -q "$TORCH"
  elif reachable "$CPU_INDEX/torch/"; then
    echo "install.sh: no NVIDIA GPU; installing the CPU build of $TORCH from $CPU_INDEX"
    .venv/bin/python -m pip install -q --index-url "$CPU_INDEX" "$TORCH"
  else
    echo "install.sh: no NVIDIA GPU and $CPU_INDEX cannot be reached; installing $TORCH with plain pip"
    .venv/bin/python -m pip install -q "$TORCH"
  fi
fi
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/clcm-data --version
