"""Test configuration: offline, single-threaded, and the shared Multi30K data when it is present."""

from __future__ import annotations

import os
from pathlib import Path

# Any accidental download must fail: tests build their tiny models locally.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
# Two shared cores: torch's default thread pool makes generation 10-40x slower here.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
MULTI30K_DIR = Path(os.environ.get("CLCM_MULTI30K", REPO_ROOT.parent / "shared" / "data" / "multi30k"))


def pytest_configure(config: pytest.Config) -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass


@pytest.fixture(scope="session")
def multi30k_dir() -> Path:
    """The shared Multi30K task-1 directory; tests using it are skipped (with the reason) when it is absent."""
    if not (MULTI30K_DIR / "train.en.gz").is_file():
        pytest.skip(f"Multi30K data not found at {MULTI30K_DIR} (set CLCM_MULTI30K to its directory)")
    return MULTI30K_DIR


from s3_support import moto_endpoint, s3  # noqa: E402,F401 - the loopback S3 server fixtures, for every test dir
