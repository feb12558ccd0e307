"""Objectives on a tiny BERT: frame features, the discriminator's own Adam step, parameter groups."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from clcm.training.data import Tokenize
from clcm.training.models import top_layers
from clcm.training.objectives import build_objective
from clcm.training.objectives.base import BuildContext, Stage


def _batch(tiny_bert_dir, frames: bool):
    tok = Tokenize(AutoTokenizer.from_pretrained(tiny_bert_dir))
    en = ["a dog runs with a ball", "a cat sits with a child", "a man plays with a horse", "a bird swims"]
    de = ["ein hund rennt mit einem ball", "eine katze sitzt", "ein mann spielt mit einem pferd", "ein vogel"]
    torch.manual_seed(0)
    visual = torch.randn(4, 5, 8) if frames else torch.randn(4, 8)
    mask = torch.tensor([[1.0] * 5, [1.0] * 3 + [0.0] * 2, [1.0] * 5, [1.0] * 2 + [0.0] * 3]) if frames else None
    return {"src": tok(en, english=True), "tgt": tok(de), "bt": tok(en), "visual": visual, "visual_mask": mask,
            "media_ids": ["a", "b", "c", "d"], "weight": None, "nrf_selected": None}  # fmt: skip


@pytest.mark.parametrize("frames", [False, True])
def test_nrccr_step_updates_the_discriminator_with_its_own_adam(tiny_bert_dir, frames):
    ctx = BuildContext(str(tiny_bert_dir), 8, frames, top_layers(2, 1), {"joint_dim": 16, "qk_dim": 16})
    torch.manual_seed(0)
    obj = build_objective("nrccr", ctx)
    batch = _batch(tiny_bert_dir, frames)
    stage = Stage()
    main_params = {id(p) for g in obj.param_groups(stage, 1e-4) for p in g["params"]}
    disc_params = [p for p in obj.disc.parameters()]
    assert not main_params & {id(p) for p in disc_params}
    frozen = obj.text.model.embeddings.word_embeddings.weight
    assert not frozen.requires_grad and id(frozen) not in main_params
    assert obj.text.model.encoder.layer[1].output.dense.weight.requires_grad
    assert not obj.text.model.encoder.layer[0].output.dense.weight.requires_grad
    before = [p.detach().clone() for p in disc_params]
    terms = obj(batch, stage)
    terms.update(obj.before_backward(batch, stage))
    assert {"tri_loss", "tri_t_loss", "dtl_loss", "feat_loss", "bt_loss", "adv_loss", "disc"} == set(terms)
    assert all(torch.isfinite(v) for v in terms.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, disc_params, strict=True))  # D stepped
    sum(v for k, v in terms.items() if k.endswith("_loss")).backward()
    # the generator term reaches the trainable encoder layer through H_t
    assert obj.text.model.encoder.layer[1].output.dense.weight.grad.abs().sum() > 0
    with torch.no_grad():
        obj.eval()
        q = obj.encode_text(batch["tgt"], "tgt")
        v = obj.encode_visual(batch["visual"], batch["visual_mask"])
    assert q.shape == v.shape == (4, 16)
    assert torch.allclose(q.norm(dim=1), torch.ones(4), atol=1e-5)


def test_baseline_weighted_losses(tiny_bert_dir):
    ctx = BuildContext(str(tiny_bert_dir), 8, False, None, {"joint_dim": 16, "loss": "both"})
    torch.manual_seed(0)
    obj = build_objective("baseline", ctx).eval()
    batch = _batch(tiny_bert_dir, False)
    plain = obj(batch, Stage())
    batch["weight"] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    weighted = obj(batch, Stage())
    assert set(plain) == {"src_loss", "tgt_loss"}
    assert weighted["src_loss"] < plain["src_loss"]
