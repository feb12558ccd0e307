"""CL2CM: relational KD and word-level OT math, and the objective's terms/gradients per stage on a tiny BERT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_toy import text_batch as _batch

from clcm.errors import UsageError
from clcm.training.losses_contrastive import relational_kd
from clcm.training.objectives.base import BuildContext, Stage
from clcm.training.objectives.cl2cm import CL2CMObjective, content_mask, word_ot_loss, word_transfer_loss


def _objective(model_dir: Path, **options) -> CL2CMObjective:
    torch.manual_seed(0)
    opts = {"joint_dim": 8, "visual_hidden": 12, **options}
    ctx = BuildContext(text_model=str(model_dir), visual_dim=6, options=opts)
    return CL2CMObjective(ctx)


def _grad_norm(module: torch.nn.Module) -> float:
    return sum(p.grad.abs().sum().item() for p in module.parameters() if p.grad is not None)


def test_relational_kd_matches_naive_kl_and_never_reaches_the_teacher() -> None:
    gen = torch.Generator().manual_seed(0)
    teacher = torch.randn(5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    student = torch.randn(5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    naive = 0.0
    for p_mat, q_mat in [(teacher.softmax(1), student.softmax(1)), (teacher.softmax(0).t(), student.softmax(0).t())]:
        naive += sum((p_mat[i] * (p_mat[i] / q_mat[i]).log()).sum() for i in range(5)) / 5
    loss = relational_kd(teacher, student)
    torch.testing.assert_close(loss, naive)
    loss.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    assert relational_kd(student, student).abs().item() < 1e-12


def test_word_ot_prefers_aligned_tokens_and_ignores_padding() -> None:
    gen = torch.Generator().manual_seed(1)
    h_s = torch.randn(1, 6, 16, generator=gen)
    aligned = h_s[:, torch.randperm(6, generator=gen)] + 0.01 * torch.randn(1, 6, 16, generator=gen)
    unrelated = torch.randn(1, 6, 16, generator=gen)
    mask = torch.ones(1, 6, dtype=torch.bool)
    assert word_ot_loss(h_s, mask, aligned, mask) < 0.05 < word_ot_loss(h_s, mask, unrelated, mask)
    # Appending padding (any values) changes nothing.
    padded = torch.cat([aligned, 100 * torch.randn(1, 3, 16, generator=gen)], 1)
    pad_mask = torch.cat([mask, torch.zeros(1, 3, dtype=torch.bool)], 1)
    torch.testing.assert_close(word_ot_loss(h_s, mask, padded, pad_mask), word_ot_loss(h_s, mask, aligned, mask))
    assert torch.isfinite(word_ot_loss(h_s, mask, unrelated, mask, marginals="norm"))


def test_content_mask_drops_cls_sep_and_padding() -> None:
    mask = content_mask(torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]))
    assert mask.tolist() == [[False, True, True, False, False], [False, True, True, True, False]]


def test_teacher_stage_trains_the_teacher_only(tiny_bert: Path) -> None:
    obj = _objective(tiny_bert)
    batch = _batch(tiny_bert)
    stage = obj.stages()[0]
    assert stage.name == "teacher" and not stage.validate
    terms = obj(batch, stage)
    assert set(terms) == {"cl_sent_loss", "cl_word_loss"}
    assert all(k.endswith("_loss") and torch.isfinite(v) and v.dim() == 0 for k, v in terms.items())
    assert terms["cl_word_loss"] > 0
    sum(terms.values()).backward()
    assert _grad_norm(obj.teacher.proj) > 0 and _grad_norm(obj.teacher.encoder) > 0
    assert _grad_norm(obj.student) == 0 and _grad_norm(obj.visual) == 0
    group_ids = {id(p) for g in obj.param_groups(stage, 1e-4) for p in g["params"]}
    assert group_ids == {id(p) for p in obj.teacher.parameters() if p.requires_grad}


def test_student_stage_freezes_the_teacher(tiny_bert: Path) -> None:
    obj = _objective(tiny_bert, encoder_lr_scale=0.5)
    batch = _batch(tiny_bert)
    stage = obj.stages()[1]
    assert stage.name == "student"
    obj.train()
    terms = obj(batch, stage)
    assert set(terms) == {"vs_loss", "vt_loss", "kt_loss"}
    assert all(torch.isfinite(v) for v in terms.values())
    assert not obj.teacher.training  # dropout off in the frozen teacher
    sum(terms.values()).backward()
    assert all(p.grad is None for p in obj.teacher.parameters())
    assert _grad_norm(obj.student.encoder) > 0 and _grad_norm(obj.visual) > 0 and _grad_norm(obj.visual_proj) > 0
    groups = obj.param_groups(stage, 1e-4)
    assert sorted(g["lr"] for g in groups) == [5e-5, 1e-4]
    assert sorted(g.get("lr_scale", 1.0) for g in groups) == [0.5, 1.0]  # the trainer re-applies lr each epoch
    assert not {id(p) for p in obj.teacher.parameters()} & {id(p) for g in groups for p in g["params"]}


def test_word_transfer_targets_the_ot_barycentre() -> None:
    gen = torch.Generator().manual_seed(3)
    h_src = torch.randn(1, 3, 8, generator=gen)
    plan = torch.tensor([[[0.5, 0.0], [0.0, 0.25], [0.0, 0.25]]])  # target 0 <- source 0; target 1 <- sources 1, 2
    bary = torch.stack([h_src[0, 0], (h_src[0, 1] + h_src[0, 2]) / 2])[None]
    mask = torch.ones(1, 2, dtype=torch.bool)
    assert word_transfer_loss(plan, h_src, 3 * bary, mask).abs() < 1e-6  # cosine: scale-free
    assert word_transfer_loss(plan, h_src, -bary, mask) == pytest.approx(2.0)
    # A padded target token (no plan mass, mask False) does not count.
    padded_plan = torch.cat([plan, torch.zeros(1, 3, 1)], 2)
    padded = torch.cat([-bary, torch.randn(1, 1, 8, generator=gen)], 1)
    pad_mask = torch.tensor([[True, True, False]])
    assert word_transfer_loss(padded_plan, h_src, padded, pad_mask) == pytest.approx(2.0)


def test_optional_word_transfer_trains_the_student_only(tiny_bert: Path) -> None:
    obj = _objective(tiny_bert, word_kt_weight=1.0)
    terms = obj(_batch(tiny_bert), Stage("student"))
    assert torch.isfinite(terms["word_kt_loss"]) and terms["word_kt_loss"] > 0
    terms["word_kt_loss"].backward()
    assert all(p.grad is None for p in obj.teacher.parameters()) and _grad_norm(obj.student.encoder) > 0


def test_joint_training_keeps_the_cl_terms_in_stage_two(tiny_bert: Path) -> None:
    obj = _objective(tiny_bert, joint_training=True)
    terms = obj(_batch(tiny_bert), Stage("student"))
    assert {"cl_sent_loss", "cl_word_loss", "kt_loss"} <= set(terms)
    sum(terms.values()).backward()
    assert _grad_norm(obj.teacher) > 0


def test_dual_stream_eval_and_option_errors(tiny_bert: Path) -> None:
    obj = _objective(tiny_bert).eval()
    batch = _batch(tiny_bert)
    assert obj.query_views() == ("tgt",)
    with torch.no_grad():
        t, v = obj.encode_text(batch["tgt"], "tgt"), obj.encode_visual(batch["visual"], None)
    assert t.shape == v.shape == (4, 8)
    torch.testing.assert_close(t.norm(dim=1), torch.ones(4))
    with pytest.raises(UsageError, match="tgt"):
        obj.encode_text(batch["tgt"], "mt_en")
    with pytest.raises(UsageError, match="unknown key .* in section 'cl2cm objective option'"):
        _objective(tiny_bert, ot_epsilon=0.1)
    with pytest.raises(UsageError, match="ot_marginals"):
        _objective(tiny_bert, ot_marginals="entropy")
