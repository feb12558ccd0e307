"""Fixed costs: models load once per process (shared by threads, MT and BT), and never for a fully cached run."""

from __future__ import annotations

import threading

import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from run_support import write_caption_shard

from clcm.pipelines import handlers
from clcm.pipelines.translate import TranslateConfig
from clcm.pipelines.translate_run import run
from clcm.testing.tiny_seq2seq import build_test_models, sample_captions
from clcm.translation import DecodeSettings, ModelSpec
from clcm.translation.normalize import normalize_text

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_test_models(tmp_path_factory.getbasetemp() / "tiny_seq2seq")


def test_a_fully_cached_run_loads_no_model(models, tmp_path, monkeypatch):
    write_caption_shard(tmp_path / "in", sample_captions(12))
    cfg = TranslateConfig(
        inputs=(str(tmp_path / "in"),),
        out_dir=str(tmp_path / "a"),
        tgt_langs=("cs",),
        model=str(models["marian_ct2"]),
        compute_type="float32",
        settings=DecodeSettings(max_length=12),
        cache_dir=str(tmp_path / "cache"),
    )
    assert run(cfg, runner=FnApiRunner()).counts["translated"] > 0
    handlers._MODELS.clear()

    def refuse(spec):
        raise AssertionError(f"loaded {spec.model} although every text is cached")

    monkeypatch.setattr(handlers, "load_translator", refuse)
    again = run(TranslateConfig(**{**cfg.__dict__, "out_dir": str(tmp_path / "b")}), runner=FnApiRunner())
    assert again.counts["translated"] == 0 and again.counts["cached"] == again.counts["unique"]


def test_a_model_loads_once_per_process_and_is_shared_by_its_threads(monkeypatch):
    loads = []
    monkeypatch.setattr(handlers, "_MODELS", {})
    monkeypatch.setattr(handlers, "load_translator", lambda spec: loads.append(spec) or object())
    spec = ModelSpec("m", "en", "cs")
    got = []
    threads = [threading.Thread(target=lambda: got.append(handlers.shared_translator(spec))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len({id(g) for g in got}) == 1
    handlers.shared_translator(ModelSpec("m", "cs", "en"))
    assert len(loads) == 2  # another direction is another translator


def test_ct2_directions_of_one_model_share_its_weights_and_tokenizer_without_a_config_load(models, monkeypatch):
    import transformers

    from clcm.translation.ct2 import CT2Translator, convert_model

    nllb = convert_model(str(models["nllb"]), models["nllb"].parent / "nllb-ct2")

    def no_config(*args, **kwargs):
        raise AssertionError("CTranslate2 needs no transformers config")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", no_config)
    path = str(models["marian_ct2"])
    mt = CT2Translator(ModelSpec(path, "en", "cs", compute_type="float32"))
    bt = CT2Translator(ModelSpec(path, "cs", "en", compute_type="float32"))
    assert mt.translator is bt.translator and mt.tokenizer is bt.tokenizer and mt.family == "marian"
    monkeypatch.undo()  # (transformers' AutoTokenizer reads the config of this tiny NLLB to pick its class)
    a = CT2Translator(ModelSpec(str(nllb), "en", "cs", compute_type="float32"))
    b = CT2Translator(ModelSpec(str(nllb), "cs", "en", compute_type="float32"))
    assert a.translator is b.translator and a.family == "nllb"
    assert (a.tokenizer.src_lang, b.tokenizer.src_lang) == ("eng_Latn", "ces_Latn")  # own copies where they differ


@pytest.mark.parametrize("lang", ["en", "de", "fr", "cs"])
def test_precompiled_punctuation_normalisation_equals_sacremoses(lang):
    import re
    import unicodedata

    from sacremoses import MosesPunctNormalizer

    moses = MosesPunctNormalizer(lang=lang)
    texts = ["« Bonjour » , dit-il „quoted“ ‘x’ … 1,5 % 2 000  a\u00a0b  :  ; ? !", ' "A", b" , c 3.5 ', "Ein Hund ."]
    for text in [*texts, *sample_captions(50)]:
        expected = re.sub(r"\s+", " ", moses.normalize(unicodedata.normalize("NFC", text))).strip()
        assert normalize_text(text, lang) == expected
