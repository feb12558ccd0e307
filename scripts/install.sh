#!/usr/bin/env bash
# Install clcm into ./.venv: the CPU build of torch first (so nothing pulls a multi-GB CUDA build), then the project.
# GPU users: install the torch build for your CUDA first (https://pytorch.org), then run this script.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "torch==2.13.0"
fi
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/clcm-data --version
