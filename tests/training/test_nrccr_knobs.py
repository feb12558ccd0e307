"""NRCCR knobs for small encoders (faithful defaults): position-table init and the triplet's negative selection."""

from __future__ import annotations

import pytest
import torch
from test_objectives import _batch

from clcm.training.losses import triplet_loss
from clcm.training.models import PositionalEncoding, TextHead, top_layers
from clcm.training.objectives import build_objective
from clcm.training.objectives.base import BuildContext, Stage

pytestmark = pytest.mark.timeout(60)


def test_position_table_init_std():
    torch.manual_seed(0)
    assert PositionalEncoding(250, 64).embedding.weight.std() > 0.9  # reference: PyTorch's N(0, 1)
    assert PositionalEncoding(250, 64, init_std=0.02).embedding.weight.std() < 0.03
    assert TextHead(64, heads=2, qk_dim=16, pos_init_std=0.02).pos.embedding.weight.std() < 0.03


def _tri_terms(tiny_bert_dir, **options) -> dict[str, torch.Tensor]:
    opts = {"joint_dim": 16, "qk_dim": 16, "dtl_beta": 0.0, "scale": 0.0} | options
    torch.manual_seed(0)
    obj = build_objective("nrccr", BuildContext(str(tiny_bert_dir), 8, False, top_layers(2, 2), opts)).eval()
    with torch.no_grad():
        return obj(_batch(tiny_bert_dir, False), Stage())


def test_max_violation_false_sums_every_negative(tiny_bert_dir):
    hard = _tri_terms(tiny_bert_dir)
    summed = _tri_terms(tiny_bert_dir, max_violation=False)
    # the same model and batch: the sum over violating negatives is >= the hardest one, and > with 4 samples
    for key in ("tri_loss", "tri_t_loss", "bt_loss"):
        assert summed[key] > hard[key] > 0


def test_max_violation_false_matches_the_loss_function():
    torch.manual_seed(1)
    s, v = (
        torch.nn.functional.normalize(torch.randn(5, 8), dim=1),
        torch.nn.functional.normalize(torch.randn(5, 8), dim=1),
    )
    scores = v @ s.t()
    d = scores.diag()
    expected = sum(
        max(0.0, 0.2 + scores[i, j] - d[i]) + max(0.0, 0.2 + scores[i, j] - d[j])
        for i in range(5)
        for j in range(5)
        if i != j
    )
    assert torch.isclose(triplet_loss(s, v, max_violation=False), torch.tensor(float(expected)), atol=1e-5)
