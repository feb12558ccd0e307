"""examples/reproduce: ``--check`` on small fake NRCCR layouts (offline), and the planned imports really produce
what the training and evaluation commands read."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from clcm.cli import data as data_cli
from clcm.training.config import TrainConfig
from clcm.training.data import load_pairs, load_queries

KIT = Path(__file__).resolve().parents[2] / "examples" / "reproduce" / "reproduce.py"


@pytest.fixture(scope="module")
def kit():
    spec = importlib.util.spec_from_file_location("reproduce_kit", KIT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["reproduce_kit"] = module
    spec.loader.exec_module(module)
    return module


def _captions(path: Path, ids: list[str], tag: str, texts: list[str]) -> None:
    path.write_text("".join(f"{m}#{tag}#0 {t}\n" for m, t in zip(ids, texts, strict=True)), encoding="utf-8")


def _text_data(kit, root: Path, name: str, ids: dict[str, list[str]]) -> None:
    s = kit.SETTINGS[name]
    text = root / s.collection / "TextData"
    text.mkdir(parents=True)
    lang = s.lang
    tr = ids["train"]
    for f, tag in zip(s.train, ("enc", f"enc2{lang}", f"enc2{lang}2enc"), strict=True):
        _captions(text / f, tr, tag, [f"a dog number {i} runs" for i in range(len(tr))])
    for split in ("val", "test"):
        files = getattr(s, split)
        _captions(text / files[0], ids[split], lang, [f"pes {i} běží" for i in range(len(ids[split]))])
        _captions(text / files[1], ids[split], f"{lang}2enc", [f"dog {i} runs" for i in range(len(ids[split]))])


def _ids() -> dict[str, list[str]]:
    return {"train": [f"{1000 + i}" for i in range(6)], "val": ["2000", "2001"], "test": ["3000", "3001", "3002"]}


def test_check_passes_on_a_complete_image_layout_and_imports_feed_training(kit, tmp_path, capsys):
    root, work, ids = tmp_path / "VisualSearch", tmp_path / "work", _ids()
    _text_data(kit, root, "multi30k-cs-resnet152", ids)
    fd = root / "multi30k" / "FeatureData"
    (fd / "resnet_152").mkdir(parents=True)
    for split, id_file in (("train", "train_id.txt"), ("val", "val_id.txt"), ("test_2016_flickr", "test_id_2016.txt")):
        key = split.split("_")[0]
        np.save(fd / "resnet_152" / f"{split}-resnet_152-avgpool.npy", np.ones((len(ids[key]), 2048), np.float32))
        (fd / id_file).write_text("\n".join(ids[key]) + "\n")
    assert kit.main(["multi30k-cs-resnet152", "--root", str(root), "--work", str(work), "--check"]) == 0
    out = capsys.readouterr().out
    assert "expected test SumR 303.6" in out and "check: every input is present" in out
    assert "training captions 6:" in out and "--opt visual_hidden=2048" in out
    # run the plan's three imports through the real CLI, then read what train/evaluate would read
    s = kit.SETTINGS["multi30k-cs-resnet152"]
    spec, _ = kit.feature_spec(s, root, None)
    for cmd in kit.commands("multi30k-cs-resnet152", s, root, work, spec, "cpu")[:3]:
        with pytest.raises(SystemExit) as exc:
            data_cli.main(cmd[1:])
        assert exc.value.code == 0
    train_cmd, eval_cmd = kit.commands("multi30k-cs-resnet152", s, root, work, spec, "cpu")[3:]
    shards, queries = train_cmd[train_cmd.index("--shards") + 1], eval_cmd[eval_cmd.index("--queries") + 1]
    pairs = load_pairs(TrainConfig(shards=shards))
    assert len(pairs) == 6 and pairs.bt is not None and pairs.tgt_lang == "cs"
    queries = load_queries(queries, "cs")
    assert queries.media_ids == ids["test"] and set(queries.views) == {"tgt", "mt_en"}


def test_check_names_every_missing_input(kit, tmp_path, capsys):
    root = tmp_path / "VisualSearch"
    _text_data(kit, root, "vatex-zh-i3d", _ids())
    (root / "vatex" / "TextData" / "vatexval_zh.caption.txt").unlink()
    code = kit.main(["vatex-zh-i3d", "--root", str(root), "--work", str(tmp_path / "w"), "--check"])
    err = capsys.readouterr().err
    assert code == 3
    assert "vatexval_zh.caption.txt" in err and "i3d_kinetics/feature.bin" in err


def test_check_validates_a_bigfile_and_the_caption_format(kit, tmp_path, capsys):
    root, ids = tmp_path / "VisualSearch", _ids()
    _text_data(kit, root, "vatex-zh-i3d", ids)
    big = root / "vatex" / "FeatureData" / "i3d_kinetics"
    big.mkdir(parents=True)
    videos = ids["train"] + ids["val"] + ids["test"]
    frames = [f"{v}_{k}" for v in videos for k in range(2)]
    np.ones((len(frames), 4), np.float32).tofile(big / "feature.bin")
    (big / "id.txt").write_text(" ".join(frames))
    (big / "shape.txt").write_text(f"{len(frames)} 4")
    (big / "video2frames.txt").write_text(repr({v: [f"{v}_0", f"{v}_1"] for v in videos}))
    args = ["vatex-zh-i3d", "--root", str(root), "--work", str(tmp_path / "w"), "--check"]
    assert kit.main(args) == 0
    assert "expected test SumR 366.5" in capsys.readouterr().out
    (big / "shape.txt").write_text(f"{len(frames) + 1} 4")  # inconsistent with id.txt
    assert kit.main(args) == 3
    assert "do not load" in capsys.readouterr().err
    (root / "vatex" / "TextData" / "vatextrain.caption.txt").write_text("no id here\n")
    assert kit.main(args) == 3
    assert "first line is not" in capsys.readouterr().err


def test_clip_settings_need_clip_features(kit, tmp_path, capsys):
    root = tmp_path / "VisualSearch"
    _text_data(kit, root, "multi30k-de-clip", _ids())
    assert kit.main(["multi30k-de-clip", "--root", str(root), "--work", str(tmp_path / "w"), "--check"]) == 3
    assert "--clip-features" in capsys.readouterr().err
    assert kit.main(["--list"]) == 0 and "mscoco-ja-clip" in capsys.readouterr().out
