"""The transformers backend on tiny random M2M100 and mBART-50 models: language tokens, determinism, order, errors."""

from __future__ import annotations

import math

import pytest

from clcm.errors import ModelError, UsageError
from clcm.testing.tiny_seq2seq import build_tiny_m2m100, build_tiny_mbart50, sample_captions
from clcm.translation import DecodeSettings, ModelSpec, load_translator

pytestmark = pytest.mark.timeout(120)
TEXTS = ["A dog.", "Two very small children are playing with a big red ball near the water.", *sample_captions(9)[::4]]
# Language token each family expects for the ISO codes the tests use.
CODES = {"m2m100": {"en": "__en__", "cs": "__cs__"}, "mbart50": {"en": "en_XX", "cs": "cs_CZ"}}
DIRECTIONS = [("en", "cs"), ("cs", "en")]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf_families")
    sentences = sample_captions(400)
    return {
        "m2m100": build_tiny_m2m100(root / "m2m100", sentences),
        "mbart50": build_tiny_mbart50(root / "mbart50", sentences),
    }


def _load(model, src, tgt):
    settings = DecodeSettings(max_length_factor=1.0, max_length_extra=3)
    return load_translator(ModelSpec(str(model), src, tgt, backend="hf", settings=settings))


def _spy_generate(tr):
    """Record the ``sequences`` of every ``model.generate`` call the translator makes."""
    calls = []
    real = tr.model.generate

    def generate(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(out.sequences)
        return out

    tr.model.generate = generate
    return calls


@pytest.mark.parametrize("family", ["m2m100", "mbart50"])
@pytest.mark.parametrize("src,tgt", DIRECTIONS)
def test_source_and_forced_target_language_tokens(models, family, src, tgt):
    tr = _load(models[family], src, tgt)
    tok = tr.tokenizer
    assert tr.family == family and tr.tgt_token == CODES[family][tgt]
    src_id, tgt_id = tok.convert_tokens_to_ids([CODES[family][src], CODES[family][tgt]])
    assert len({src_id, tgt_id, tok.unk_token_id}) == 3
    for ids in tr.encode(TEXTS):  # fairseq layout: [source language token] text </s>
        assert ids[0] == src_id and ids[-1] == tok.eos_token_id and tgt_id not in ids
    calls = _spy_generate(tr)
    out = [tr.translate([text])[0] for text in TEXTS[:3]]
    assert len(calls) == 3
    for seq, t in zip(calls, out, strict=True):
        assert seq.shape[0] == 1
        assert seq[0, 0].item() == tr.model.generation_config.decoder_start_token_id
        assert seq[0, 1].item() == tgt_id  # the first generated token is the forced target language token
        # The text is the decoding of the tokens after the language token, without any language token.
        lang_ids = set(getattr(tok, "lang_token_to_id", {}).values())
        assert t.text == tok.decode([i for i in seq[0, 2:].tolist() if i not in lang_ids], skip_special_tokens=True)
        assert 0 < t.tokens <= seq.shape[1] - 2


@pytest.mark.parametrize("family", ["m2m100", "mbart50"])
@pytest.mark.parametrize("src,tgt", DIRECTIONS)
def test_deterministic_finite_and_order_kept(models, family, src, tgt):
    tr = _load(models[family], src, tgt)
    first = tr.translate(TEXTS)
    assert tr.translate(TEXTS) == first
    assert all(math.isfinite(t.logprob) and t.logprob < 0 and t.tokens > 0 for t in first)
    assert min(abs(a.logprob - b.logprob) for i, a in enumerate(first) for b in first[:i]) > 1e-3  # order shows
    backwards = tr.translate(TEXTS[::-1])[::-1]
    assert [(t.text, t.tokens) for t in backwards] == [(t.text, t.tokens) for t in first]
    for a, b in zip(backwards, first, strict=True):
        assert math.isclose(a.logprob, b.logprob, abs_tol=1e-4)
    # The forced token steers decoding: the same captions decode differently into another target language.
    other = _load(models[family], src, "de").translate(TEXTS)
    assert [(t.text, t.logprob) for t in other] != [(t.text, t.logprob) for t in first]


def test_m2m100_unknown_language_is_a_model_error(models):
    with pytest.raises(ModelError, match="no language token '__eo__' for 'eo'"):
        _load(models["m2m100"], "en", "eo")
    with pytest.raises(ModelError, match="no language token '__eo__' for 'eo'"):  # source side too
        _load(models["m2m100"], "eo", "en")


def test_mbart50_language_outside_the_table_is_a_usage_error(models):
    with pytest.raises(UsageError, match="mbart50 has no language code for 'eo'"):
        _load(models["mbart50"], "en", "eo")
    with pytest.raises(UsageError, match="mbart50 has no language code for 'eo'"):
        _load(models["mbart50"], "eo", "cs")


def test_m2m100_language_tokens_never_reach_the_text(models):
    tr = _load(models["m2m100"], "en", "cs")
    calls = _spy_generate(tr)
    texts = [t.text for t in tr.translate(TEXTS)]
    lang_ids = set(tr.tokenizer.lang_token_to_id.values())
    emitted = {int(i) for seq in calls for i in seq[:, 2:].flatten()} & lang_ids  # after the forced one
    assert emitted, "the random model should emit language tokens mid-sentence (else this test checks nothing)"
    leaked = [t for t in texts for tok in tr.tokenizer.lang_token_to_id if tok in t]
    assert not leaked
