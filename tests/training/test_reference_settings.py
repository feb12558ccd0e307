"""NRCCR's evaluation inputs and per-dataset settings against the reference (HuiGuanLab/nrccr @5628a90).

Golden values were produced once (2026-12-01, torch 2.13.0+cpu) by running the reference's own loaders and tester
code outside the repository; only the numbers and strings are committed:
- query views: ``util.tag_data_provider_{img,vid}.TxtDataSet4DualEncoding(None, MT_FILE, NATIVE_FILE, None)``
  indexed over every caption with a tokenizer that records what it is asked to encode;
- fusion sweep: ``tester_vid``'s loop over w in [1.0, 0.8, 0.5, 0.2, 0.0] (``validate.norm_score``,
  ``evaluation.cal_error``, ``util.metrics.eval_q2m``/``t2v_map``/``v2t_map``) on the seed-43 inputs below;
- settings: the ``layer_list`` and ``disc_type`` of ``do_all_{vatex,msrvttcn,multi30k}.sh``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from clcm.training.config import TrainConfig, load_config, resolve_defaults
from clcm.training.data import QueryData, Tokenize
from clcm.training.evaluation import FUSION_SWEEP, evaluate, score_embeddings, view_weights
from clcm.training.models import top_layers
from clcm.training.objectives import objective_class
from clcm.training.runtime import amp_dtype

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MT_EN = ["a dog, running on the GRASS", "Zwei Männer: one's café!", "3 kids play   football?", "ends without stop"]
NATIVE = ["ein Hund rennt auf dem Gras.", "zwei Männer im Café", "drei Kinder spielen Fußball", "endet ohne Punkt"]
# What the reference tokenizes for the MT->English view: raw for images, cleaned for video.
REFERENCE_MT_EN = {
    "image": MT_EN,
    "video": ["A dog running on the grass.", "Zwei m nner one s caf.", "3 kids play football.", "Ends without stop."],
}


class _RecordingTokenizer:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts, **kwargs):
        self.seen += list(texts)
        ids = torch.tensor([[len(t) % 7 + 1, len(t) % 5 + 1, 1] for t in texts])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


class _Store:
    def __init__(self, frames: bool) -> None:
        self.is_frames, self.dim = frames, 3

    def check(self, ids, what) -> None:
        pass

    def get(self, media_id, max_frames):
        v = np.full(3, float(media_id[-1]) + 1.0, dtype=np.float32)
        return np.stack([v, v]) if self.is_frames else v


class _Fused(nn.Module):
    def query_views(self):
        return ("tgt", "mt_en")

    def encode_visual(self, visual, mask):
        return (visual.mean(1) if visual.dim() == 3 else visual).float()

    def encode_text(self, tokens, view):
        return tokens["input_ids"].float()


@pytest.mark.parametrize("kind", ["image", "video"])
def test_mt_en_queries_are_cleaned_only_for_video_like_the_reference(kind):
    tok = _RecordingTokenizer()
    queries = QueryData([f"m{i}#de#0" for i in range(4)], [f"m{i}" for i in range(4)], {"tgt": NATIVE, "mt_en": MT_EN})
    tokenize = Tokenize(tok, lowercase=False, clean_src=True)  # lower-casing is the tokenizer's job in the reference
    evaluate(_Fused(), tokenize, _Store(kind == "video"), queries, fusion_weight=0.5, device="cpu", batch_size=2)
    # texts are embedded in length-sorted batches: compare as multisets per view
    assert sorted(tok.seen) == sorted(NATIVE + REFERENCE_MT_EN[kind])


# tester_vid at seed 43: t2v and v2t (r1, r5, r10, medr, meanr) and mAP for every w; w weights the MT->en view.
SWEEP_GOLDEN = {
    1.0: ([57.142857142857146, 95.23809523809524, 100.0, 1.0, 1.8571428571428572],
          [28.571428571428573, 85.71428571428571, 100.0, 2.0, 2.4285714285714284],
          0.7380952380952381, 0.5346575312740726),
    0.8: ([66.66666666666667, 100.0, 100.0, 1.0, 1.8095238095238095],
          [71.42857142857143, 85.71428571428571, 100.0, 1.0, 1.8571428571428572],
          0.7809523809523808, 0.6409580498866213),
    0.5: ([57.142857142857146, 95.23809523809524, 100.0, 1.0, 1.8571428571428572],
          [85.71428571428571, 100.0, 100.0, 1.0, 1.4285714285714286], 0.7380952380952381, 0.6442176870748298),
    0.2: ([42.857142857142854, 95.23809523809524, 100.0, 2.0, 2.0],
          [71.42857142857143, 100.0, 100.0, 1.0, 1.8571428571428572], 0.6695011337868481, 0.5938133147996041),
    0.0: ([38.095238095238095, 95.23809523809524, 100.0, 2.0, 2.238095238095238],
          [57.142857142857146, 100.0, 100.0, 1.0, 2.0], 0.6234693877551021, 0.5485827664399092),
}  # fmt: skip


def _seed43():
    rng = np.random.default_rng(43)
    vis, cap, cap2 = rng.standard_normal((7, 9)), rng.standard_normal((21, 9)), rng.standard_normal((21, 9))
    return vis, cap + 0.4 * np.repeat(vis, 3, axis=0), cap2 + 0.3 * np.repeat(vis, 3, axis=0)


@pytest.mark.parametrize("w", FUSION_SWEEP)
def test_fusion_sweep_matches_the_reference_video_tester(w):
    vis, mt_en, native = _seed43()
    weights = view_weights(("tgt", "mt_en"), {"tgt", "mt_en"}, w)
    got = score_embeddings(vis, {"mt_en": mt_en, "tgt": native}, weights, np.repeat(np.arange(7), 3))
    t2v, v2t, t2v_map, v2t_map = SWEEP_GOLDEN[w]
    keys = ("r1", "r5", "r10", "medr", "meanr")
    assert [got["t2v"][k] for k in keys] == pytest.approx(t2v, rel=1e-9)
    assert [got["v2t"][k] for k in keys] == pytest.approx(v2t, rel=1e-9)
    assert got["t2v"]["map"] == pytest.approx(t2v_map, rel=1e-6)
    assert got["v2t"]["map"] == pytest.approx(v2t_map, rel=1e-6)


def test_evaluate_reports_every_fusion_weight_in_one_run():
    queries = QueryData([f"m{i}#de#0" for i in range(4)], [f"m{i}" for i in range(4)], {"tgt": NATIVE, "mt_en": MT_EN})
    tokenize = Tokenize(_RecordingTokenizer())
    out = evaluate(_Fused(), tokenize, _Store(False), queries, fusion_weight=0.5, device="cpu", sweep=FUSION_SWEEP)
    assert list(out["fusion_sweep"]) == ["1.0", "0.8", "0.5", "0.2", "0.0"]
    assert out["fusion_sweep"]["0.5"]["sumr"] == out["sumr"] and out["views"] == {"mt_en": 0.5, "tgt": 0.5}


def _resolved(objective: str, frames: bool = False, **values) -> TrainConfig:
    cfg = TrainConfig(objective=objective, **values)
    return resolve_defaults(cfg, objective_class(objective).train_defaults, frames=frames)


def test_nrccr_trains_in_fp32_by_default_and_mixed_precision_is_explicit():
    cuda = torch.device("cuda")  # amp_dtype only reads the device type: no GPU needed
    assert _resolved("nrccr").amp == "off" and amp_dtype(_resolved("nrccr"), cuda) is None
    assert amp_dtype(_resolved("nrccr", amp="bf16"), cuda) == torch.bfloat16
    assert amp_dtype(_resolved("nrccr", amp="fp16"), cuda) == torch.float16


# layer_list of the reference scripts (VATEX, MSR-VTT-CN / Multi30K, MSCOCO)
VIDEO_LAYERS = "layer.11-layer.10-layer.9-layer.8-layer.7-layer.6-layer.5"
IMAGE_LAYERS = "layer.11-layer.10-layer.9-layer.8-layer.7-layer.6-layer.5-layer.4-layer.3"


def _as_reference(layers: tuple[str, ...]) -> str:
    return "-".join(s.rstrip(".") for s in sorted(layers, key=lambda s: -int(s.split(".")[1])))


def test_trainable_layers_follow_the_dataset_kind():
    assert _as_reference(top_layers(12, _resolved("nrccr", frames=True).trainable_top_layers)) == VIDEO_LAYERS
    assert _as_reference(top_layers(12, _resolved("nrccr", frames=False).trainable_top_layers)) == IMAGE_LAYERS
    assert _resolved("nrccr", frames=True, trainable_top_layers=3).trainable_top_layers == 3


@pytest.mark.parametrize(
    ("name", "layers", "disc"),
    [("vatex", VIDEO_LAYERS, "strong"), ("msrvttcn", VIDEO_LAYERS, "not-so-weak"),
     ("multi30k", IMAGE_LAYERS, "not-so-weak")],
)  # fmt: skip
def test_example_configs_carry_the_reference_script_settings(name, layers, disc):
    cfg = load_config(EXAMPLES / f"train_nrccr_{name}.yaml")
    assert _as_reference(top_layers(12, cfg.trainable_top_layers)) == layers
    assert cfg.objective_options["disc_type"] == disc
    assert (cfg.amp, cfg.fusion_weight, cfg.test_fusion_weight) == ("off", 0.2, 0.5)
