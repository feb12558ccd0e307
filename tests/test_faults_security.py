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
        path.write_bytes(pickle.dumps(_Exploit(marker), protocol=2))
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
    assert ("would run code" in str(exc.value)) == (kind in ("torch_zip", "raw_pickle"))


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


# -- §2: names from data or flags never leave the output directory ---------------------------------------------------


def _caption(i: int, **over) -> dict:
    row = {"caption_id": f"m{i}#en#0", "media_id": f"m{i}", "caption_index": 0, "lang": "en", "text": f"a dog {i}",
           "origin": "human", "split": "train", "dataset": "toy"}  # fmt: skip
    return {**row, **over}


def _export(tmp_path: Path, capsys, rows: list[dict], *flags: str) -> tuple[int, str, Path]:
    from clcm.cli.common import run_app
    from clcm.cli.data import app
    from clcm.schemas import CAPTION_SCHEMA, write_rows

    src, out = tmp_path / "work" / "in", tmp_path / "work" / "a" / "b" / "out"
    write_rows(rows, src / "captions-00000-of-00001.parquet", CAPTION_SCHEMA)
    code = run_app(app, ["export", "-f", "nrccr", str(src), "-o", str(out), *flags])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err, out


def _written_outside(tmp_path: Path, out: Path) -> list[Path]:
    src = tmp_path / "work" / "in"
    return [p for p in tmp_path.rglob("*") if p.is_file() and out not in p.parents and src not in p.parents]


def test_dataset_column_cannot_write_outside_out(tmp_path: Path, capsys) -> None:
    code, err, out = _export(tmp_path, capsys, [_caption(1, dataset="../../x_"), _caption(2, dataset="../../x_")])
    assert code == EXIT_INPUT
    assert err.startswith("error: the rows' dataset '../../x_' cannot be part of a file name")
    assert _written_outside(tmp_path, out) == []


@pytest.mark.parametrize("collection", ["../../y", "a/b", "..", ".hidden", "", "x" * 101])
def test_collection_flag_must_be_a_safe_name(tmp_path: Path, capsys, collection: str) -> None:
    from clcm.errors import EXIT_USAGE

    code, err, out = _export(tmp_path, capsys, [_caption(1)], "--collection", collection)
    assert code == EXIT_USAGE and "--collection" in err and "file name" in err
    assert _written_outside(tmp_path, out) == []


def test_unsafe_split_or_language_is_a_reject_row(tmp_path: Path, capsys) -> None:
    import json

    rows = [_caption(1), _caption(2, split="../../evil"), _caption(3, lang="../../z", caption_id="m3#z#0")]
    code, _, out = _export(tmp_path, capsys, rows)
    assert code == 0 and _written_outside(tmp_path, out) == []
    counts = json.loads((out / "_manifest.json").read_text())["counts"]
    assert counts == {"read": 3, "kept": 1, "rejected": {"unsafe_name": 2}}
    assert sorted(p.name for p in out.iterdir()) == ["_manifest.json", "toytrain_enc.caption.txt"]


def test_inside_refuses_escapes(tmp_path: Path) -> None:
    from clcm.errors import OutputError
    from clcm.schemas.paths import inside, name_problem

    assert inside(tmp_path, "a.txt") == tmp_path / "a.txt"
    (tmp_path / "link").symlink_to(tmp_path.parent)
    for parts in (("..", "x"), ("/etc/passwd",), ("link", "x"), (".",)):
        with pytest.raises(OutputError, match="not inside the output directory"):
            inside(tmp_path, *parts)
    assert [name_problem(v) is None for v in ("multi30k", "test_2016", "a.b+c-d", "..", "a/b", "a b", "\ud800")] == [
        True, True, True, False, False, False, False]  # fmt: skip


def test_ct2_cache_dir_from_revision_stays_in_the_cache(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("ctranslate2")
    import clcm.translation.ct2 as ct2
    from clcm.pipelines.translate_run import preflight
    from clcm.translation import ModelSpec

    converted = []
    monkeypatch.setattr(ct2, "convert_model", lambda model, out, revision=None: converted.append(Path(out)))
    monkeypatch.setattr("clcm.pipelines.translate_run.check_model", lambda *a, **k: None)  # no hub model here
    root = tmp_path / "a" / "b" / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(root))
    spec = ModelSpec(model="org/model", src_lang="en", tgt_lang="de", revision="x/../../../../../escape")
    preflight(spec)
    (out,) = converted
    assert out.resolve().parent == (root / "clcm" / "ct2").resolve()  # '/' in a revision became '--'


def test_filter_plots_of_score_columns_named_like_paths_stay_inside(tmp_path: Path, caplog) -> None:
    """Score column names come from the scored shards: a plot is never written outside the output directory."""
    import numpy as np

    from clcm.filtering.report import write_plots

    out = tmp_path / "a" / "out"
    out.mkdir(parents=True)
    scores = {"score_copy": np.array([0.1, 0.9]), "score_/../../../evil": np.array([0.2, 0.3])}
    names = write_plots(out, scores, {}, {"kept": 1, "dropped": {"copy": 1}, "scored": 2})
    assert names == ["hist_score_copy.png", "reasons.png"]
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["hist_score_copy.png", "reasons.png"]
    assert all(p.parent == out for p in tmp_path.rglob("*.png"))
    assert "not a safe file name" in caplog.text


def test_a_checkpoint_with_a_foreign_context_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    checkpoint.save(path, {"objective": "baseline", "context": {"text_model": "x", "visual_dim": 4, "evil": 1},
                           "config": {}, "model": {}, "epoch": 1})  # fmt: skip
    with pytest.raises(InputError, match="context does not fit"):
        checkpoint.rebuild(checkpoint.load(path), torch.device("cpu"))
