"""The example training configs load, and target the language of the data the README shows them with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clcm.training.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# VATEX and MSR-VTT-CN come with Chinese captions only; the Multi30K configs are shown with the quickstart's data.
DATASET_LANG = {"vatex": "zh", "msrvttcn": "zh"}


def _quickstart_langs() -> set[str]:
    """The languages the quickstart translates to and builds its training pairs in."""
    text = (EXAMPLES / "quickstart.sh").read_text()
    return set(re.findall(r"--lang (\w+)", text)) | set(re.findall(r"--tgt (\w+)", text))


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("train_*.yaml")))
def test_example_train_config_targets_the_language_of_its_data(name: str) -> None:
    assert _quickstart_langs() == {"cs"}
    dataset = next((d for d in DATASET_LANG if d in name), None)
    expected = DATASET_LANG[dataset] if dataset else "cs"
    assert load_config(EXAMPLES / name).tgt_lang == expected
