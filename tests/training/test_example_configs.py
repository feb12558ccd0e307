"""The example training configs load, and target the language of the data the README shows them with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clcm.training.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("train_*.yaml")))
def test_example_train_config_matches_the_quickstart_language(name: str) -> None:
    quickstart = (EXAMPLES / "quickstart.sh").read_text()
    # the languages the quickstart translates to and builds its training pairs in
    langs = set(re.findall(r"--lang (\w+)", quickstart)) | set(re.findall(r"--tgt (\w+)", quickstart))
    assert langs == {"cs"}
    assert load_config(EXAMPLES / name).tgt_lang in langs
