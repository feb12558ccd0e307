"""Golden values of methods.md §6 for the attention block (seed 1) and the discriminator (seed 3), float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clcm.training.losses import bce_label_loss
from clcm.training.models import AttentionBlock, Discriminator, LatentMapping, TextHead, mean_pool


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


@pytest.fixture(scope="module")
def attention():
    rng = np.random.default_rng(1)
    block = AttentionBlock(768, 8, 512).double().eval()
    with torch.no_grad():
        for lin, (o, i) in ((block.query, (512, 768)), (block.key, (512, 768)), (block.value, (768, 768))):
            lin.weight.copy_(_t(rng.standard_normal((o, i)) * 0.02))
            lin.bias.copy_(_t(rng.standard_normal(o) * 0.02))
        block.out.weight.copy_(_t(rng.standard_normal((768, 768)) * 0.02))
        block.out.bias.copy_(_t(rng.standard_normal(768) * 0.02))
    xq, xkv = _t(rng.standard_normal((2, 5, 768))), _t(rng.standard_normal((2, 7, 768)))
    mq = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.float64)[:, None]
    mk = torch.tensor([[1] * 7, [1, 1, 1, 1, 0, 0, 0]], dtype=torch.float64)[:, None]
    return block, xq, xkv, mq, mk


def test_attention_self_golden(attention):
    block, xq, _, mq, _ = attention
    with torch.no_grad():
        out = block(xq, xq, mq, mq, cross=False)
    assert out.abs().sum().item() == pytest.approx(6124.6373821437755, rel=1e-10)
    gold00 = [-0.049971913074243, 1.841936621684920, -0.157271589846794, -0.615766101600513]
    gold14 = [0.916438947877558, -0.762577569510020, 0.562353632347142, -0.670556773690538]
    assert out[0, 0, :4].tolist() == pytest.approx(gold00, abs=1e-12)
    assert out[1, 4, :4].tolist() == pytest.approx(gold14, abs=1e-12)  # a padded query row


def test_attention_cross_golden(attention):
    block, xq, xkv, mq, mk = attention
    with torch.no_grad():
        out = block(xq, xkv, mq, mk, cross=True)
    assert out.abs().sum().item() == pytest.approx(6075.66542373467, rel=1e-10)
    gold = [0.174670403752139, -0.597693960778358, -1.474064421292219, -0.774173631537093]
    assert out[1, 0, :4].tolist() == pytest.approx(gold, abs=1e-12)
    pooled = mean_pool(out, mq[:, 0], include_padding=True)
    gold_mean = [-0.016563979266497, -0.654123192515844, -0.856488277755787, -0.351875945405696]
    assert pooled[1, :4].tolist() == pytest.approx(gold_mean, abs=1e-12)


def test_discriminator_golden():
    rng = np.random.default_rng(3)
    disc = Discriminator(16, "not-so-weak").double()
    state = disc.state_dict()
    keys = ["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias", "model.4.weight", "model.4.bias"]
    assert list(state) == keys
    disc.load_state_dict({k: _t(rng.standard_normal(tuple(state[k].shape)) * 0.1) for k in keys})
    real, fake = _t(rng.standard_normal((4, 6, 16))), _t(rng.standard_normal((4, 9, 16)))
    d_loss = 0.5 * (bce_label_loss(disc(real), 1.0) + bce_label_loss(disc(fake), 0.0))
    assert d_loss.item() == pytest.approx(0.7116166554926809, rel=1e-10)
    assert (0.001 * bce_label_loss(disc(fake), 1.0)).item() == pytest.approx(0.0006592143743615724, rel=1e-10)


@pytest.mark.parametrize("kind", ["weak", "strong"])
def test_other_discriminators_give_two_logits(kind):
    assert Discriminator(16, kind)(torch.randn(3, 5, 16)).shape == (3, 2)


def test_latent_mapping_eval_matches_formula():
    torch.manual_seed(0)
    mapping = LatentMapping(12, 20).double().eval()
    x = torch.randn(4, 12, dtype=torch.float64)
    lin = x @ mapping.linear.weight.T  # zero bias at init; BN at init is y / sqrt(1 + eps)
    expected = lin / lin.norm(dim=1, keepdim=True)
    assert torch.allclose(mapping(x), expected, atol=1e-12)
    bound = (6 / (12 + 20)) ** 0.5
    assert mapping.linear.weight.abs().max() <= bound and mapping.linear.bias.abs().sum() == 0


def test_cross_pool_includes_key_tokens_and_padding():
    torch.manual_seed(0)
    head = TextHead(16, heads=2, qk_dim=8).double().eval()
    fq, fkv = torch.randn(2, 3, 16, dtype=torch.float64), torch.randn(2, 4, 16, dtype=torch.float64)
    mq, mkv = torch.tensor([[1.0, 1, 1], [1, 1, 0]]), torch.tensor([[1.0, 1, 1, 1], [1, 1, 0, 0]])
    with torch.no_grad():
        c = head.attn(fq, fkv, mq[:, None].double(), mkv[:, None].double(), cross=True)
        pooled = head.cross_pool(fq, mq, fkv, mkv)
    assert torch.allclose(pooled, (c.sum(1) + fkv.sum(1)) / 7, atol=1e-12)
    masked = head.cross_pool(fq, mq, fkv, mkv, include_padding=False)
    assert torch.allclose(masked[1], (c[1, :2].sum(0) + fkv[1, :2].sum(0)) / 4, atol=1e-12)
