"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from run_support import tiny_model


@pytest.fixture(autouse=True)
def _xdg_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # ct2 conversions of tiny models go to one per-session cache, never the user's.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Marian model of the `clcm-data run` tests (built once per session)."""
    return tiny_model(tmp_path_factory.getbasetemp())
