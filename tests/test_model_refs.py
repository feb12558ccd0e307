"""Model references fail fast with one clear line (clcm.hub.check_model): a missing directory, a model that is not
cached while HF_HUB_OFFLINE=1, a hub that cannot be reached; a cached model loads without retries when the hub
cannot be reached. No network: the 'unreachable hub' is a closed port on loopback."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
from huggingface_hub import constants
from huggingface_hub.hf_api import api

from clcm.cli.common import run_app
from clcm.cli.data import app as data_app
from clcm.errors import EXIT_MODEL, ModelError
from clcm.hub import check_model


@pytest.fixture
def online_without_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Online mode whose hub endpoint is a closed loopback port, and an empty hub cache under tmp_path."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused at once
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(api, "endpoint", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clcm.testing.tiny_bert import build_tiny_bert

    texts = ["A dog runs.", "A cat sits."]
    return build_tiny_bert(tmp_path_factory.mktemp("bert"), texts, hidden=16, layers=1, heads=2, intermediate=32)


def test_missing_local_directory_is_named() -> None:
    with pytest.raises(ModelError, match=r"^text model directory not found: \./no/such-model$"):
        check_model("./no/such-model", what="text model")
    with pytest.raises(ModelError, match="directory not found: /no/such/dir"):
        check_model("/no/such/dir")


def test_offline_and_not_cached_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelError, match=r"'org/model' is not a local directory, and not in the local Hugging Face "
                       r"cache .* while HF_HUB_OFFLINE=1 is set"):  # fmt: skip
        check_model("org/model")


def test_unreachable_hub_and_not_cached_fails_in_seconds(online_without_network: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(
        ModelError,
        match="'org/model' is not a local directory, not in the local Hugging Face cache, and the hub cannot be",
    ):
        check_model("org/model")
    assert time.monotonic() - t0 < 15  # transformers retried for ~50 s here


def test_cached_model_loads_when_the_hub_cannot_be_reached(
    online_without_network: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoConfig

    repo = online_without_network / "models--org--tiny"
    shutil.copytree(tiny_bert_dir, repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    t0 = time.monotonic()
    check_model("org/tiny")  # switches this process to the cache
    assert constants.HF_HUB_OFFLINE
    assert AutoConfig.from_pretrained("org/tiny", cache_dir=str(online_without_network)).model_type == "bert"
    assert time.monotonic() - t0 < 15


def test_cli_missing_model_directory_is_exit_5_with_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "in.jsonl").write_text('{"media_id": "m", "lang": "en", "text": "A dog."}\n', encoding="utf-8")
    assert run_app(data_app, ["import", "-f", "jsonl", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "c")]) == 0
    capsys.readouterr()
    code = run_app(data_app, ["translate", "-i", str(tmp_path / "c"), "-o", str(tmp_path / "p"), "-l", "de",
                              "--model", str(tmp_path / "no-model"), "--backend", "hf"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == EXIT_MODEL
    assert err == f"error: translation model directory not found: {tmp_path / 'no-model'}\n"
    from clcm.training.runtime import load_tokenizer

    with pytest.raises(ModelError, match=r"^text model directory not found: \./no-such-encoder$"):
        load_tokenizer("./no-such-encoder")
