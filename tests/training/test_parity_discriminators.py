"""Every discriminator type against golden values from the NRCCR reference (``adv.Adversarial``, @5628a90).

Computed once (2026-12-01, torch 2.13.0+cpu, float64) by calling the reference's ``Adversarial(...,
train_type='GAN', optim='adam', lr=1e-3, betas=(0.9, 0.999), eps=1e-8, gamma=0, disc_type=KIND)`` on the inputs
below: ``.loss`` for L_D, ``.gen_loss(real, fake, 1, 0)``, then ``.update(real, fake, 1, 0)`` (one Adam step) and
L_D and logits again. Only the numbers are committed. Inputs: ``numpy.random.default_rng(41)``; every discriminator
parameter, in registration order, gets standard-normal × 0.1 of its shape; then real (5, 7, 24), fake (5, 4, 24).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clcm.training.losses import bce_label_loss
from clcm.training.models import Discriminator
from clcm.training.objectives.nrccr import discriminator_step, generator_loss

GOLDEN = {
    "weak": {
        "logits_real_row0": [0.22170709213339584, -0.10507893092814938],
        "logits_real_abs_sum": 1.5463692221686425,
        "d_loss": 0.7132251261377631,
        "gen_loss": 0.0006475843828799784,
        "d_loss_after_step": 0.7120310036313809,
        "logits_fake_after_step_row4": [0.2444423171485422, 0.10252883175445937],
    },
    "not-so-weak": {
        "logits_real_row0": [0.19855577056314463, -0.5328646833375634],
        "logits_real_abs_sum": 2.4092273308558534,
        "d_loss": 0.7052033954568118,
        "gen_loss": 0.0007541575510681542,
        "d_loss_after_step": 0.6550905088220376,
        "logits_fake_after_step_row4": [-0.2223197181953575, 0.11525227640218462],
    },
    "strong": {  # relu(x) + 0.3·f(x) per residual block: x + 0.3·f(x) misses every value here
        "logits_real_row0": [-0.7455174272834626, -0.2866879417899212],
        "logits_real_abs_sum": 6.1189570888672336,
        "d_loss": 0.7611473445047142,
        "gen_loss": 0.0010121441744581025,
        "d_loss_after_step": 0.5739173231858498,
        "logits_fake_after_step_row4": [0.7916743544310155, 0.42008568945898067],
    },
}
# The reference's parameter shapes in registration order (its weights are drawn in this order).
SHAPES = {
    "weak": [(2, 24), (2,)],
    "not-so-weak": [(256, 24), (256,), (128, 256), (128,), (2, 128), (2,)],
    "strong": [(128, 24, 1), (128,)] + [(128, 128, 5), (128,)] * 6 + [(2, 128), (2,)],
}


def _seeded(kind: str) -> tuple[Discriminator, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(41)
    disc = Discriminator(24, kind).double()
    params = list(disc.parameters())
    assert [tuple(p.shape) for p in params] == SHAPES[kind]
    with torch.no_grad():
        for p in params:
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)) * 0.1))
    real = torch.from_numpy(rng.standard_normal((5, 7, 24)))
    fake = torch.from_numpy(rng.standard_normal((5, 4, 24)))
    return disc, real, fake


@pytest.mark.parametrize("kind", sorted(GOLDEN))
def test_discriminator_loss_and_adam_step_match_the_reference(kind):
    gold = GOLDEN[kind]
    disc, real, fake = _seeded(kind)
    with torch.no_grad():
        logits = disc(real)
        gen = generator_loss(disc, fake, 0.001)
    assert logits[0].tolist() == pytest.approx(gold["logits_real_row0"], rel=1e-10)
    assert logits.abs().sum().item() == pytest.approx(gold["logits_real_abs_sum"], rel=1e-10)
    assert gen.item() == pytest.approx(gold["gen_loss"], rel=1e-10)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    d_loss = discriminator_step(disc, opt, real, fake)
    assert d_loss.item() == pytest.approx(gold["d_loss"], rel=1e-10)
    with torch.no_grad():
        d_after = 0.5 * (bce_label_loss(disc(real), 1.0) + bce_label_loss(disc(fake), 0.0))
        logits_fake = disc(fake)
    assert d_after.item() == pytest.approx(gold["d_loss_after_step"], rel=1e-9)
    assert logits_fake[4].tolist() == pytest.approx(gold["logits_fake_after_step_row4"], rel=1e-9)
