"""Reproduce NRCCR's README rows with clcm: import the released captions (+ MT, BT), train, evaluate, compare.

    python examples/reproduce/reproduce.py --list
    python examples/reproduce/reproduce.py SETTING --root ~/VisualSearch --work runs/SETTING --check
    python examples/reproduce/reproduce.py SETTING --root ~/VisualSearch --work runs/SETTING [--device cuda]

``--root`` is NRCCR's ``VisualSearch`` directory laid out as its README says (``<collection>/TextData``,
``<collection>/FeatureData``), filled with the files NRCCR released (see examples/reproduce/README.md for where to
get them). ``--check`` validates that every input is there and readable (caption line format, feature shapes and
ids), prints the plan (the exact commands) and the expected time, and trains nothing. Without it the commands run
and the result is printed next to the expected SumR of methods.md §1.8 (NRCCR README, released checkpoints).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECONDS_PER_STEP = 0.15  # rough: one batch of 128 through mBERT (3 texts, fp32) with backward on one current GPU
MAX_EPOCHS = 50
BATCH = 128
_CAPTION = re.compile(r"^\S+#[A-Za-z0-9]+#\d+ ")


@dataclass(frozen=True)
class Setting:
    collection: str  # directory under --root
    lang: str  # target language
    config: str  # examples/ config
    train: tuple[str, ...]  # TextData files: English, MT, BT
    val: tuple[str, ...]  # TextData files: human target, its MT to English
    test: tuple[str, ...]
    features: str  # "resnet152", "clip" (needs --clip-features), or a BigFile directory under FeatureData
    expected_sumr: float | None  # NRCCR README (methods.md §1.8); None: not published
    options: dict[str, object] = field(default_factory=dict)  # extra --opt values
    note: str = ""


def _multi30k(lang: str, features: str, sumr: float | None, task: int = 1) -> Setting:
    t = "_task1" if lang == "de" and task == 1 else ""
    train_prefix = "multi30ktrain" if task == 1 else "Flickr30ktrain"
    opts: dict[str, object] = {"visual_hidden": 2048, "visual_relu": True} if features == "resnet152" else {}
    return Setting(
        "multi30k",
        lang,
        "train_nrccr_multi30k.yaml",
        (f"{train_prefix}_enc.caption.txt", f"{train_prefix}_google_enc2{lang}.caption.txt",
         f"{train_prefix}_google_enc2{lang}2enc.caption.txt"),
        (f"multi30kval_{lang}{t}.caption.txt", f"multi30kval_google_{lang}2enc{t}.caption.txt"),
        (f"multi30ktest_{lang}_2016{t}.caption.txt", f"multi30ktest_google_{lang}2enc_2016{t}.caption.txt"),
        features,
        sumr,
        opts,
    )  # fmt: skip


def _video(collection: str, feature_dir: str, config: str, sumr: float) -> Setting:
    c = collection
    return Setting(
        c,
        "zh",
        config,
        (f"{c}train.caption.txt", f"{c}train_google_enc2zh.caption.txt", f"{c}train_google_enc2zh2enc.caption.txt"),
        (f"{c}val_zh.caption.txt", f"{c}val_google_zh2enc.caption.txt"),
        (f"{c}test_zh.caption.txt", f"{c}test_google_zh2enc.caption.txt"),
        feature_dir,
        sumr,
    )


def _mscoco(lang: str, sumr: float) -> Setting:
    return Setting(
        "mscoco",
        lang,
        "train_nrccr_multi30k.yaml",
        ("mscocotrain_enc.caption.txt", f"mscocotrain_google_enc2{lang}.caption.txt",
         f"mscocotrain_google_enc2{lang}2enc.caption.txt"),
        (f"mscocoval_{lang}.caption.txt", f"mscocoval_google_{lang}2enc.caption.txt"),
        (f"mscocotest_{lang}.caption.txt", f"mscocotest_google_{lang}2enc.caption.txt"),
        "clip",
        sumr,
        note="test file names are an assumption: the released tester only builds Multi30K names",
    )  # fmt: skip


SETTINGS: dict[str, Setting] = {
    "vatex-zh-i3d": _video("vatex", "i3d_kinetics", "train_nrccr_vatex.yaml", 366.5),
    "msrvttcn-zh": _video("msrvttcn", "resnext101-resnet152", "train_nrccr_msrvttcn.yaml", 308.0),
    "multi30k-de-clip": _multi30k("de", "clip", 450.7),
    "multi30k-fr-clip": _multi30k("fr", "clip", 452.9),
    "multi30k-cs-clip": _multi30k("cs", "clip", 438.7),
    "multi30k-cs-resnet152": _multi30k("cs", "resnet152", 303.6),
    "multi30k-de-resnet152": _multi30k("de", "resnet152", None),
    "multi30k-fr-resnet152": _multi30k("fr", "resnet152", None),
    "multi30k-task2-de-clip": _multi30k("de", "clip", 480.9, task=2),
    "multi30k-task2-fr-clip": _multi30k("fr", "clip", 482.1, task=2),
    "multi30k-task2-cs-clip": _multi30k("cs", "clip", 467.1, task=2),
    "mscoco-zh-clip": _mscoco("zh", 512.4),
    "mscoco-ja-clip": _mscoco("ja", 507.0),
}


def feature_spec(s: Setting, root: Path, clip_features: str | None) -> tuple[str | None, list[Path]]:
    """The ``--features`` SPEC of a setting and the paths it needs (None when CLIP features were not given)."""
    fd = root / s.collection / "FeatureData"
    if s.features == "clip":
        return clip_features, []
    if s.features == "resnet152":
        test = fd / "resnet_152" / "test_2016_flickr-resnet_152-avgpool.npy"
        if not test.exists():  # the released tester spells it resnet152
            test = fd / "resnet_152" / "test_2016_flickr-resnet152-avgpool.npy"
        parts = [
            (fd / "resnet_152" / "train-resnet_152-avgpool.npy", fd / "train_id.txt"),
            (fd / "resnet_152" / "val-resnet_152-avgpool.npy", fd / "val_id.txt"),
            (test, fd / "test_id_2016.txt"),
        ]
        return ",".join(f"{npy}:{ids}" for npy, ids in parts), [p for pair in parts for p in pair]
    big = fd / s.features
    return str(big), [big / n for n in ("feature.bin", "id.txt", "shape.txt", "video2frames.txt")]


def commands(name: str, s: Setting, root: Path, work: Path, spec: str, device: str) -> list[list[str]]:
    text = root / s.collection / "TextData"
    data, train_cli = ["clcm-data"], ["clcm-train"]
    cmds = [[*data, "import", "--format", "nrccr", "-o", str(work / split), *(str(text / f) for f in files)]
            for split, files in (("train", s.train), ("val", s.val), ("test", s.test))]  # fmt: skip
    train = [*train_cli, "train", "--config", str(REPO / "examples" / s.config), "--shards", str(work / "train"),
             "--features", spec, "--val", str(work / "val"), "--tgt-lang", s.lang, "--out-dir", str(work / "run"),
             "--device", device, "--no-progress"]  # fmt: skip
    for k, v in s.options.items():
        train += ["--opt", f"{k}={json.dumps(v)}"]
    evaluate = [*train_cli, "evaluate", "--checkpoint", str(work / "run" / "model_best.pt"),
                "--queries", str(work / "test"), "--features", spec, "--tgt-lang", s.lang, "--device", device,
                "--out", str(work / "test.json")]  # fmt: skip
    return [*cmds, train, evaluate]


def executable(cmd: list[str]) -> list[str]:
    """The console script from this interpreter's environment when it is there (else from PATH)."""
    script = Path(sys.executable).parent / cmd[0]
    return [str(script), *cmd[1:]] if script.exists() else cmd


def check_inputs(s: Setting, root: Path, spec: str | None, needed: list[Path]) -> tuple[list[str], int]:
    """Problems found (empty: ready) and the number of training captions."""
    problems, n_train = [], 0
    text = root / s.collection / "TextData"
    for group in (s.train, s.val, s.test):
        for f in group:
            path = text / f
            if not path.is_file():
                problems.append(f"missing caption file {path}")
                continue
            with path.open(encoding="utf-8", errors="replace") as fh:
                first = fh.readline()
                lines = 1 + sum(1 for _ in fh) if first else 0
            if first and not _CAPTION.match(first):
                problems.append(f"{path}: first line is not '<id>#<tag>#<k> <caption>': {first[:60]!r}")
            if f == s.train[0]:
                n_train = lines
    if spec is None:
        images = root / s.collection / ("all_pics" if s.collection == "mscoco" else "flickr30k-images")
        problems.append(
            "CLIP ViT-B/32 image features are needed: `clcm-train features "
            f"{images} -o WORK/clip --model openai/clip-vit-base-patch32` prints the SPEC for --clip-features"
        )
        return problems, n_train
    missing = [p for p in needed if not p.exists()]
    problems += [f"missing feature file {p}" for p in missing]
    if not missing:
        try:
            from clcm.training.features import load_features

            store = load_features(spec)
            if s.features == "resnet152" and store.dim != 2048:
                problems.append(f"ResNet-152 features should be 2048-d, got {store.dim}")
        except Exception as exc:  # noqa: BLE001 - any unreadable feature input is reported, not raised
            problems.append(f"features {spec} do not load: {exc}")
    return problems, n_train


def plan_text(name: str, s: Setting, cmds: list[list[str]], n_train: int) -> str:
    steps = -(-n_train // BATCH) * MAX_EPOCHS
    hours = steps * SECONDS_PER_STEP / 3600
    exp = f"{s.expected_sumr}" if s.expected_sumr is not None else "not published (README gives no figure)"
    lines = [f"setting {name}: NRCCR {s.collection} en->{s.lang}, features {s.features}; expected test SumR {exp}"]
    if s.note:
        lines.append(f"note: {s.note}")
    lines.append(
        f"training captions {n_train:,}: at most {MAX_EPOCHS} epochs x {-(-n_train // BATCH):,} steps; about "
        f"{hours:.1f} GPU hours at {SECONDS_PER_STEP} s/step (early stopping usually ends sooner)"
    )
    lines += ["plan:"] + [f"  {shlex.join(c)}" for c in cmds]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("setting", nargs="?", help=f"one of {', '.join(SETTINGS)}")
    ap.add_argument("--list", action="store_true", help="list the settings and their expected SumR")
    ap.add_argument("--root", type=Path, help="NRCCR's VisualSearch directory")
    ap.add_argument("--work", type=Path, help="where imports, the run and test.json go")
    ap.add_argument("--clip-features", help="CLIP ViT-B/32 image features (a clcm-train --features SPEC)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--check", action="store_true", help="validate inputs, print the plan and time; train nothing")
    args = ap.parse_args(argv)
    if args.list or not args.setting:
        for name, s in SETTINGS.items():
            print(f"{name:26s} expected SumR {s.expected_sumr if s.expected_sumr is not None else '-'}")
        return 0
    if args.setting not in SETTINGS:
        ap.error(f"unknown setting {args.setting!r}; --list shows them")
    if args.root is None or args.work is None:
        ap.error("--root and --work are required")
    s = SETTINGS[args.setting]
    spec, needed = feature_spec(s, args.root, args.clip_features)
    problems, n_train = check_inputs(s, args.root, spec, needed)
    cmds = commands(args.setting, s, args.root, args.work, spec or "<CLIP features>", args.device)
    print(plan_text(args.setting, s, cmds, n_train))
    if problems:
        print("not ready:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        return 3
    if args.check:
        print("check: every input is present and readable")
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    for cmd in cmds:
        cmd = executable(cmd)
        print(f"$ {shlex.join(cmd)}", flush=True)
        if subprocess.run(cmd, cwd=REPO, check=False).returncode != 0:
            return 1
    got = json.loads((args.work / "test.json").read_text(encoding="utf-8"))
    print(f"test SumR {got['sumr']:.1f} (expected {s.expected_sumr}); t2v R@1 {got['t2v']['r1']:.1f}, "
          f"v2t R@1 {got['v2t']['r1']:.1f}; fusion weight {got.get('fusion_weight')}")  # fmt: skip
    for w, m in (got.get("fusion_sweep") or {}).items():
        print(f"  w={w}: SumR {m['sumr']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
