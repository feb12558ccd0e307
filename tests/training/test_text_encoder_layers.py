"""TextEncoder's layer freezing on small encoders: a layer list that matches nothing must fail loudly."""

from __future__ import annotations

import pytest

from clcm.errors import ModelError
from clcm.training.models import TextEncoder, top_layers

pytestmark = pytest.mark.timeout(60)


def test_mbert_layer_list_on_a_two_layer_encoder_raises(tiny_bert_dir):
    mbert_image_layers = [f"layer.{i}." for i in range(11, 2, -1)]  # NRCCR's layer.11 ... layer.3
    with pytest.raises(ModelError, match="match no trainable parameter"):
        TextEncoder(str(tiny_bert_dir), mbert_image_layers)


def test_top_layers_train_every_layer_of_a_small_encoder(tiny_bert_dir):
    enc = TextEncoder(str(tiny_bert_dir), top_layers(2, 9))
    trainable = {n for n, p in enc.model.named_parameters() if p.requires_grad}
    assert any("layer.0." in n for n in trainable) and any("layer.1." in n for n in trainable)
    assert not any("embeddings" in n or "pooler" in n for n in trainable)


def test_empty_layer_list_freezes_the_encoder(tiny_bert_dir):
    enc = TextEncoder(str(tiny_bert_dir), ())
    assert not any(p.requires_grad for p in enc.model.parameters())
