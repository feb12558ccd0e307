"""`clcm-data run CONFIG`: all stages from one config, idempotent and resumable."""

from __future__ import annotations

from clcm.cli.common import not_built


def run_cmd() -> None:
    """Run import -> translate -> score -> filter -> export from one YAML config (only new work is done)."""
    not_built("clcm-data run", "issue 7")
