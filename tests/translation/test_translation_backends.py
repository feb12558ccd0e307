from __future__ import annotations

import math

import pytest

from clcm.errors import ModelError
from clcm.testing.tiny_seq2seq import build_test_models, sample_captions
from clcm.translation import DecodeSettings, ModelSpec, load_translator

pytestmark = pytest.mark.timeout(120)
TEXTS = sample_captions(30)[::3] + [
    "A dog.",
    "Two very small children are playing with a big red ball near the water.",
]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_test_models(tmp_path_factory.getbasetemp() / "tiny_seq2seq")


def _spec(model, backend, **kw):
    settings = DecodeSettings(max_length_factor=1.0, max_length_extra=3)
    return ModelSpec(str(model), "en", "cs", backend=backend, settings=settings, **kw)


def test_hf_and_ct2_greedy_outputs_equal_on_tiny_marian(models):
    hf = load_translator(_spec(models["marian"], "hf")).translate(TEXTS)
    ct2 = load_translator(_spec(models["marian_ct2"], "ct2", compute_type="float32")).translate(TEXTS)
    assert [t.text for t in hf] == [t.text for t in ct2]
    assert [t.tokens for t in hf] == [t.tokens for t in ct2]
    for a, b in zip(hf, ct2, strict=True):
        assert a.logprob < 0 and math.isclose(a.logprob, b.logprob, abs_tol=0.05)


def test_order_kept_and_batching_does_not_change_outputs(models):
    spec = _spec(models["marian_ct2"], "ct2", compute_type="float32")
    whole = load_translator(spec).translate(TEXTS)
    small = ModelSpec(**{**spec.__dict__, "settings": DecodeSettings(1, 1.0, 3, max_batch_size=2)})
    one_by_one = [load_translator(small).translate([t])[0] for t in TEXTS[:4]]
    assert [t.text for t in one_by_one] == [t.text for t in whole[:4]]


def test_int8_ct2_translates(models):
    out = load_translator(_spec(models["marian_ct2"], "ct2")).translate(TEXTS[:3])
    assert len(out) == 3 and all(t.tokens > 0 and t.logprob < 0 for t in out)


def test_nllb_hf_uses_target_language_token(models):
    tr = load_translator(_spec(models["nllb"], "hf"))
    assert tr.family == "nllb" and tr.tgt_token == "ces_Latn"
    assert tr.tokenizer.src_lang == "eng_Latn"
    ids = tr.encode(["A dog."])[0]
    assert tr.tokenizer.convert_tokens_to_ids("eng_Latn") in ids
    to_cs = tr.translate(TEXTS[:2])
    to_de = load_translator(ModelSpec(str(models["nllb"]), "en", "de", backend="hf")).translate(TEXTS[:2])
    assert all("ces_Latn" not in t.text for t in to_cs)
    assert [t.text for t in to_cs] != [t.text for t in to_de]  # the forced target token steers decoding


@pytest.mark.parametrize("backend,key", [("hf", "marian"), ("ct2", "marian_ct2")])
def test_cuda_without_gpu_is_a_model_error(models, backend, key):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ModelError, match="no CUDA device"):
        load_translator(_spec(models[key], backend, device="cuda"))


def test_bad_model_dirs_are_model_errors(tmp_path, models):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=str(tmp_path)):
        load_translator(_spec(tmp_path, "hf"))
    with pytest.raises(ModelError, match="not a CTranslate2 model"):
        load_translator(_spec(models["marian"], "ct2"))
    with pytest.raises(ModelError, match="does not exist"):
        load_translator(_spec(tmp_path / "missing", "ct2"))


def test_language_without_a_token_in_the_model_is_a_model_error(models):
    with pytest.raises(ModelError, match="no language token 'jpn_Jpan'"):
        load_translator(ModelSpec(str(models["nllb"]), "en", "ja", backend="hf"))
