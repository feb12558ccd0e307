"""`clcm-train features`: tiny random CLIP models built offline, images generated on the fly (PIL)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from clcm.cli.common import run_app
from clcm.cli.data import app as data_app
from clcm.cli.train import app
from clcm.errors import EXIT_EMPTY, EXIT_MODEL, EXIT_OUTPUT
from clcm.schemas import REJECT_SCHEMA, read_manifest, read_table
from clcm.schemas import reasons as R
from clcm.testing.tiny_clip import build_tiny_clip
from clcm.training.extract_features import FeatureConfig, run_features
from clcm.training.features import load_features

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def clip_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_clip")
    return {"full": build_tiny_clip(root / "full"), "vision": build_tiny_clip(root / "vision", vision_only=True)}


def _image(seed: int, size: tuple[int, int] = (40, 30)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("images")
    for i in range(4):
        _image(i).save(d / f"{1000 + i}.jpg" if i % 2 else d / f"{1000 + i}.png")
    (d / "nested").mkdir()
    _image(9, (64, 64)).convert("L").save(d / "nested" / "2000.bmp")  # grey scale: converted to RGB
    (d / "broken.jpg").write_bytes(b"this is no JPEG")
    (d / "truncated.png").write_bytes(_png_bytes(_image(5))[:200])
    (d / "notes.txt").write_text("not an image")
    (d / ".DS_Store").write_bytes(b"\0")
    return d


def _cli(*argv: object) -> int:
    return run_app(app, [str(a) for a in argv])


def _direct(model_dir: Path, paths: list[Path]) -> np.ndarray:
    """What the model gives for these files, computed with transformers directly."""
    import torch
    from transformers import AutoImageProcessor, CLIPModel

    model, proc = CLIPModel.from_pretrained(model_dir).eval(), AutoImageProcessor.from_pretrained(model_dir)
    with torch.inference_mode():
        px = proc(images=[Image.open(p).convert("RGB") for p in paths], return_tensors="pt")["pixel_values"]
        return model.get_image_features(pixel_values=px).pooler_output.numpy()


def test_images_to_npy_and_parquet_that_the_trainer_reads(clip_dirs, image_dir, tmp_path, capsys) -> None:
    out = tmp_path / "feats"
    args = ["features", image_dir, "-o", out, "--model", clip_dirs["full"], "--batch-size", 2, "--device", "cpu"]
    assert _cli(*args, "--no-progress") == 0
    said = capsys.readouterr().out
    assert f"--features {out / 'features.npy'}" in said and "3 rejected" in said
    m = read_manifest(out)
    assert m.counts["read"] == 8 and m.counts["kept"] == 5 and m.counts["media"] == 5 and m.counts["dim"] == 16
    assert m.counts["rejected"] == {R.INVALID_IMAGE: 2, R.NOT_AN_IMAGE: 1}
    rejects = {Path(r["source"]).name: r for r in read_table(out, REJECT_SCHEMA, prefix="rejects-").to_pylist()}
    assert sorted(rejects) == ["broken.jpg", "notes.txt", "truncated.png"]
    assert (
        rejects["broken.jpg"]["reason"] == R.INVALID_IMAGE
        and "UnidentifiedImageError" in rejects["broken.jpg"]["detail"]
    )
    assert all(r["stage"] == "features" for r in rejects.values())

    npy, parquet = load_features(str(out / "features.npy")), load_features(str(out / "features.parquet"))
    assert load_features(str(out)).media_ids() == npy.media_ids()  # the output directory itself: its .npy
    ids = ["1000", "1001", "1002", "1003", "2000"]
    assert npy.media_ids() == parquet.media_ids() == ids
    files = [image_dir / "1000.png", image_dir / "1001.jpg", image_dir / "1002.png", image_dir / "1003.jpg",
             image_dir / "nested" / "2000.bmp"]  # fmt: skip
    expected = _direct(clip_dirs["full"], files)
    got = np.stack([npy.get(i) for i in ids])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(got, np.stack([parquet.get(i) for i in ids]))
    assert pq.read_schema(out / "features.parquet").metadata[b"table"] == b"features"
    assert sorted(sh["name"] for sh in m.shards) == ["features.parquet", "rejects/rejects-00000-of-00001.parquet"]
    capsys.readouterr()
    assert run_app(data_app, ["inspect", str(out), "-n", "0"]) == 0
    shown = capsys.readouterr().out
    assert "features: schema_version 1, 5 rows" in shown and "manifest mismatch" not in shown

    assert _cli(*args) == EXIT_OUTPUT  # an earlier output is not replaced without --overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_batches_and_decode_threads_do_not_change_the_features(clip_dirs, image_dir, tmp_path) -> None:
    runs = []
    for batch, workers in ((1, 0), (4, 3)):
        out = tmp_path / f"b{batch}"
        run_features(FeatureConfig(str(image_dir), str(out), model=str(clip_dirs["full"]), batch_size=batch,
                                   workers=workers, device="cpu", formats=("npy",), progress=False))  # fmt: skip
        runs.append(np.load(out / "features.npy"))
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5, atol=1e-6)


def test_video_frames_mean_pooled_or_as_sequences(clip_dirs, tmp_path) -> None:
    videos = tmp_path / "videos"
    for name, n in (("v1", 3), ("v2", 2)):
        (videos / name).mkdir(parents=True)
        for k in (1, 2, 10)[:n]:
            _image(10 * n + k).save(videos / name / f"frame{k}.png")
    (videos / "v3").mkdir()  # no frames
    frames_flat = tmp_path / "flat"  # the same frames as plain images, for the expected values
    frames_flat.mkdir()
    for p in sorted(videos.glob("*/*.png")):
        (frames_flat / f"{p.parent.name}_{p.stem}.png").write_bytes(p.read_bytes())
    model = str(clip_dirs["full"])
    base = {"model": model, "device": "cpu", "progress": False, "batch_size": 2}
    run_features(FeatureConfig(str(frames_flat), str(tmp_path / "img"), formats=("npy",), **base))
    single = load_features(str(tmp_path / "img" / "features.npy"))

    m = run_features(FeatureConfig(str(videos), str(tmp_path / "mean"), videos=True, **base))
    assert m.counts["read"] == 6 and m.counts["kept"] == 5 and m.counts["rejected"] == {R.NO_FRAMES: 1}
    mean = load_features(str(tmp_path / "mean" / "features.parquet"))
    assert mean.media_ids() == ["v1", "v2"]
    v1 = np.stack([single.get(f"v1_frame{k}") for k in (1, 2, 10)])
    np.testing.assert_allclose(mean.get("v1"), v1.mean(axis=0), rtol=1e-5, atol=1e-6)

    cfg = FeatureConfig(
        str(videos), str(tmp_path / "seq"), videos=True, pooling="frames", formats=("bigfile",), **base
    )
    run_features(cfg)
    seq = load_features(str(tmp_path / "seq"))
    assert seq.is_frames and seq.media_ids() == ["v1", "v2"]
    np.testing.assert_allclose(seq.get("v1"), v1, rtol=1e-5, atol=1e-6)  # frames in natural order: 1, 2, 10
    assert seq.get("v2").shape == (2, 16)


def test_a_vision_tower_with_projection_gives_its_image_embeds(clip_dirs, image_dir, tmp_path) -> None:
    out = tmp_path / "v"
    m = run_features(FeatureConfig(str(image_dir), str(out), model=str(clip_dirs["vision"]), device="cpu",
                                   formats=("npy",), progress=False, normalize=True))  # fmt: skip
    assert m.counts["dim"] == 16  # the projection (hidden size is 32)
    np.testing.assert_allclose(np.linalg.norm(np.load(out / "features.npy"), axis=1), 1.0, rtol=1e-5)


def test_user_mistakes_are_one_line_errors(clip_dirs, image_dir, tmp_path, capsys) -> None:
    import torch

    base = ["features", image_dir, "--model", clip_dirs["full"], "--no-progress"]
    cases = [
        ([*base, "-o", tmp_path / "a", "--model", tmp_path / "no-model"], EXIT_MODEL, "cannot load image model"),
        ([*base, "-o", tmp_path / "b", "--pooling", "frames"], 2, "--pooling frames needs --videos"),
        ([*base, "-o", tmp_path / "c", "--format", "csv"], 2, "--format: unknown"),
        (["features", tmp_path / "nope", "-o", tmp_path / "d"], 2, "no such folder"),
    ]
    if not torch.cuda.is_available():
        cases.append(([*base, "-o", tmp_path / "e", "--device", "cuda"], EXIT_MODEL, "CUDA is not available"))
    for argv, code, message in cases:
        assert _cli(*argv) == code, argv
        err = capsys.readouterr().err.strip()
        assert message in err and "Traceback" not in err and len(err.splitlines()) == 1, err


def test_a_folder_where_nothing_decodes_exits_6_with_its_rejects(clip_dirs, tmp_path, capsys) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"nope")
    out = tmp_path / "o"
    assert _cli("features", bad, "-o", out, "--model", clip_dirs["full"], "--no-progress") == EXIT_EMPTY
    assert "all 1 records were rejected" in capsys.readouterr().err
    assert read_table(out, REJECT_SCHEMA, prefix="rejects-").column("reason").to_pylist() == [R.INVALID_IMAGE]
    assert not (out / "features.npy").exists()


@pytest.mark.gpu
def test_cuda_half_precision_matches_cpu(clip_dirs, image_dir, tmp_path) -> None:
    outs = {}
    for device, dtype in (("cpu", "float32"), ("cuda", "float16")):
        outs[device] = tmp_path / device
        run_features(FeatureConfig(str(image_dir), str(outs[device]), model=str(clip_dirs["full"]), device=device,
                                   dtype=dtype, formats=("npy",), progress=False))  # fmt: skip
    np.testing.assert_allclose(np.load(outs["cuda"] / "features.npy"), np.load(outs["cpu"] / "features.npy"),
                               rtol=2e-2, atol=2e-2)  # fmt: skip


def test_features_written_to_s3_equal_the_local_files_and_train_reads_them(s3, clip_dirs, image_dir, tmp_path):
    from clcm import storage

    bucket = s3()
    args = [
        image_dir,
        "--model",
        clip_dirs["full"],
        "--device",
        "cpu",
        "--no-progress",
        "--format",
        "npy,parquet,bigfile",
    ]
    assert _cli("features", *args, "-o", tmp_path / "feats") == 0
    assert _cli("features", *args, "-o", f"{bucket}/feats") == 0
    remote = {
        storage.relpath(p, f"{bucket}/feats"): storage.read_bytes(p) for p in storage.list_tree(f"{bucket}/feats")
    }
    local = {p.relative_to(tmp_path / "feats").as_posix(): p.read_bytes() for p in (tmp_path / "feats").rglob("*")
             if p.is_file()}  # fmt: skip
    assert sorted(remote) == sorted(local) and "feature.bin" in remote
    assert [k for k in local if k != "_manifest.json" and local[k] != remote[k]] == []
    for spec in ("feats/features.npy", "feats/features.parquet", "feats"):  # the BigFile directory
        store, expected = load_features(f"{bucket}/{spec}"), load_features(str(tmp_path / spec))
        assert store.media_ids() == expected.media_ids()
        np.testing.assert_array_equal(np.asarray(store.matrix), np.asarray(expected.matrix))
    assert _cli("features", *args, "-o", f"{bucket}/feats") == EXIT_OUTPUT  # not replaced without --overwrite
    assert _cli("features", *args[:-2], "-o", f"{bucket}/feats", "--overwrite") == 0  # npy only this time
    assert not storage.exists(f"{bucket}/feats/feature.bin")
