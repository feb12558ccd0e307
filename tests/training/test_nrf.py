"""NRF: the noise filter, the selected-subset denoising term, and the terms/gradients of both stages on a tiny BERT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_toy import text_batch as _batch

from clcm.errors import UsageError
from clcm.training.losses import infonce_loss
from clcm.training.objectives.base import BuildContext, Stage
from clcm.training.objectives.nrf import NoiseFilter, NRFObjective


def _objective(model_dir: Path, **options) -> NRFObjective:
    torch.manual_seed(0)
    opts = {"joint_dim": 8, "visual_hidden": 12, "heads": 2, "qk_dim": 8, **options}
    return NRFObjective(BuildContext(text_model=str(model_dir), visual_dim=6, options=opts))


def _grad_norm(module: torch.nn.Module) -> float:
    return sum(p.grad.abs().sum().item() for p in module.parameters() if p.grad is not None)


def test_noise_filter_ignores_padded_source_tokens_and_uses_the_source() -> None:
    torch.manual_seed(0)
    nf = NoiseFilter(hidden=8, heads=2, ffn=16, blocks=2).eval()
    f_t, f_s = torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    m_t, m_s = torch.ones(2, 3, dtype=torch.bool), torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    out = nf(f_t, m_t, f_s, m_s, include_padding=False)
    assert out.shape == (2, 8)
    garbage = f_s.clone()
    garbage[1, 2:] = 1e3 * torch.randn(2, 8)
    torch.testing.assert_close(nf(f_t, m_t, garbage, m_s, include_padding=False), out)
    other_source = nf(f_t, m_t, torch.randn(2, 4, 8), m_s, include_padding=False)
    assert not torch.allclose(other_source, out)


def test_den_loss_uses_only_the_selected_rows(tiny_bert: Path) -> None:
    obj = _objective(tiny_bert).eval()
    gen = torch.Generator().manual_seed(2)
    t_tilde = torch.nn.functional.normalize(torch.randn(4, 8, generator=gen), dim=1)
    s = torch.nn.functional.normalize(torch.randn(4, 8, generator=gen), dim=1)
    sel = torch.tensor([True, False, True, True])
    expected = infonce_loss(t_tilde[sel], s[sel]) + 0.1 * (t_tilde[sel] - s[sel]).pow(2).sum(1).mean()
    torch.testing.assert_close(obj._den_loss(t_tilde, s, sel), expected)
    changed = t_tilde.clone()
    changed[1] = -changed[1]  # an unselected (noisy) row cannot move the term
    torch.testing.assert_close(obj._den_loss(changed, s, sel), expected)
    assert obj._den_loss(t_tilde, s, torch.tensor([True, False, False, False])) == 0


def test_warmup_trains_text_side_on_selected_rows(tiny_bert: Path) -> None:
    obj = _objective(tiny_bert)
    stage = obj.stages()[0]
    assert stage.name == "warmup" and not stage.validate
    terms = obj(_batch(tiny_bert, [True, True, False, True]), stage)
    assert set(terms) == {"den_loss", "st_loss"} and all(torch.isfinite(v) for v in terms.values())
    sum(terms.values()).backward()
    assert _grad_norm(obj.noise_filter) > 0 and _grad_norm(obj.encoder) > 0
    assert _grad_norm(obj.visual) == 0
    visual_ids = {id(p) for p in obj.visual.parameters()}
    assert not visual_ids & {id(p) for g in obj.param_groups(stage, 1e-4) for p in g["params"]}


def test_finetune_terms_and_gradients(tiny_bert: Path, caplog: pytest.LogCaptureFixture) -> None:
    obj = _objective(tiny_bert)
    stage = obj.stages()[-1]
    assert stage.name == "finetune"
    with caplog.at_level("INFO", logger="clcm.training.objectives.nrf"):
        terms = obj(_batch(tiny_bert), stage)  # no mask: every row, with a note
    assert "nrf_selected" in caplog.text
    expected = {"vs_loss", "vt_loss", "v_filtered_loss", "st_loss", "sd_loss", "den_loss"}
    assert set(terms) == expected and all(torch.isfinite(v) and v.dim() == 0 for v in terms.values())
    sum(terms.values()).backward()
    for module in (obj.encoder, obj.head, obj.text_map, obj.noise_filter, obj.visual, obj.visual_map):
        assert _grad_norm(module) > 0
    groups = obj.param_groups(stage, 1e-4)
    assert sorted(g["lr"] for g in groups) == pytest.approx([2e-5, 1e-4])
    assert sorted(g.get("lr_scale", 1.0) for g in groups) == [0.2, 1.0]  # the trainer re-applies lr each epoch


def test_self_distillation_sends_no_gradient_into_the_filter(tiny_bert: Path) -> None:
    obj = _objective(tiny_bert, den_weight=0.0)
    terms = obj(_batch(tiny_bert), Stage("finetune"))
    terms["sd_loss"].backward()  # D(t̃.detach(), t̂, v): teacher view frozen
    assert _grad_norm(obj.noise_filter) == 0 and _grad_norm(obj.encoder) > 0 and _grad_norm(obj.visual) > 0


def test_triplet_variant_eval_views_and_option_errors(tiny_bert: Path) -> None:
    obj = _objective(tiny_bert, contrastive="triplet", fuse_mt=True, warmup_epochs=0)
    assert [s.name for s in obj.stages()] == ["finetune"]
    terms = obj(_batch(tiny_bert, [True] * 4), Stage("finetune"))
    assert all(torch.isfinite(v) for v in terms.values())
    obj.eval()
    batch = _batch(tiny_bert)
    assert obj.query_views() == ("tgt", "mt_en")
    with torch.no_grad():
        q, v = obj.encode_text(batch["tgt"], "tgt"), obj.encode_visual(batch["visual"], None)
    assert q.shape == v.shape == (4, 8)
    torch.testing.assert_close(q.norm(dim=1), torch.ones(4))
    with pytest.raises(UsageError, match="views"):
        _objective(tiny_bert).encode_text(batch["tgt"], "mt_en")
    with pytest.raises(UsageError, match="contrastive"):
        _objective(tiny_bert, contrastive="hinge")
    with pytest.raises(UsageError, match="unknown key .* in section 'nrf objective option'"):
        _objective(tiny_bert, sd_weigth=0.3)
