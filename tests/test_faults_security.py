"""Security faults (issue 12 §1–2): files from users never run code; data and flags never write outside ``-o``."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from clcm.cli import train as train_cli
from clcm.errors import EXIT_INPUT, InputError
from clcm.training import checkpoint


class _Exploit:
    """Unpickling this runs ``os.system`` (what a crafted checkpoint does under ``weights_only=False``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _crafted(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    path = tmp_path / f"{kind}.pt"
    if kind == "torch_zip":  # torch.save's zip format, with a valid-looking checkpoint around the exploit
        torch.save({"format": checkpoint.FORMAT, "objective": "baseline", "x": _Exploit(marker)}, path)
    elif kind == "raw_pickle":
        path.write_bytes(pickle.dumps(_Exploit(marker)))
    elif kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "text":
        path.write_text("epoch: 3\nthis is not a checkpoint\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "plain_dict":  # loads fine, but is not ours
        torch.save({"weights": torch.zeros(2)}, path)
    return path, marker


KINDS = ["torch_zip", "raw_pickle", "random", "text", "empty", "plain_dict"]


@pytest.mark.parametrize("kind", KINDS)
def test_load_refuses_a_non_checkpoint_without_running_it(tmp_path: Path, kind: str) -> None:
    path, marker = _crafted(tmp_path, kind)
    with pytest.raises(InputError) as exc:
        checkpoint.load(path)
    assert not marker.exists(), "unpickling the file ran code"
    assert "\n" not in str(exc.value) and "checkpoint" in str(exc.value)


@pytest.mark.parametrize("kind", ["torch_zip", "raw_pickle", "random", "text"])
def test_evaluate_checkpoint_exits_3_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str):
    path, marker = _crafted(tmp_path, kind)
    args = ["evaluate", "--checkpoint", str(path), "--queries", str(tmp_path / "q"), "--features", "f.npy"]
    with pytest.raises(SystemExit) as exc:
        train_cli.main(args)
    err = capsys.readouterr().err
    assert exc.value.code == EXIT_INPUT
    assert not marker.exists()
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_checkpoint_values_are_plain(tmp_path: Path) -> None:
    """What save writes loads with weights_only=True; numpy RNG state survives the round trip exactly."""
    import random

    import numpy as np

    np.random.seed(5)
    random.seed(5)
    state = checkpoint.rng_state()
    want = (np.random.random(3), random.random(), torch.rand(2))
    path = tmp_path / "c.pt"
    checkpoint.save(path, {"objective": "baseline", "context": {}, "config": {}, "model": {}, "epoch": 1,
                           "rng": state, "history": [{"loss": np.float32(0.5)}]})  # fmt: skip
    ckpt = checkpoint.load(path)
    assert ckpt["history"][0]["loss"] == 0.5 and type(ckpt["history"][0]["loss"]) is float
    checkpoint.set_rng_state(ckpt["rng"])
    got = (np.random.random(3), random.random(), torch.rand(2))
    assert np.array_equal(got[0], want[0]) and got[1] == want[1] and torch.equal(got[2], want[2])
    with pytest.raises(TypeError, match="cannot be stored"):
        checkpoint.save(path, {"bad": object()})
