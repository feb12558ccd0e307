from __future__ import annotations

import pytest

from clcm.translation import DecodeSettings, ModelSpec, default_model
from clcm.translation.batching import length_batches
from clcm.translation.languages import family_code
from clcm.translation.normalize import normalize_text


@pytest.mark.parametrize("max_tokens,max_size", [(10, 3), (100, 2), (7, 100), (1, 1)])
def test_length_batches_cover_every_index_once_within_budget(max_tokens, max_size):
    lengths = [5, 1, 9, 3, 3, 12, 2, 7, 1]
    batches = length_batches(lengths, max_tokens, max_size)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= max_size
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= max_tokens
    # sorted by length: batches never interleave lengths
    maxima = [max(lengths[i] for i in b) for b in batches]
    assert maxima == sorted(maxima)


def test_length_batches_never_mix_groups():
    lengths = [3, 3, 3, 3, 9, 9]
    groups = [1, 2, 1, 2, 1, 1]
    batches = length_batches(lengths, 1000, 1000, groups)
    assert sorted(sorted(b) for b in batches) == [[0, 2, 4, 5], [1, 3]]


def test_length_batches_rejects_bad_budget():
    with pytest.raises(ValueError):
        length_batches([1, 2], 0, 4)


def test_length_budget_is_factor_of_source_with_caps():
    s = DecodeSettings(max_length_factor=2.0, max_length_extra=3, max_length=20, min_length=0)
    assert s.length_budget(4) == s.length_budget(8) == 19  # source lengths are bucketed by 8
    assert s.length_budget(9) == 20
    assert s.length_budget(50) == 20
    assert DecodeSettings(max_length=8, min_length=8, max_length_factor=0.0, max_length_extra=0).length_budget(3) == 8


def test_default_models():
    assert default_model("en", "de") == "Helsinki-NLP/opus-mt-en-de"
    assert default_model("en", "ja") == "Helsinki-NLP/opus-mt-en-jap"
    assert default_model("en", "sw") == "facebook/nllb-200-distilled-600M"
    assert family_code("nllb", "cs") == "ces_Latn" and family_code("m2m100", "cs") == "__cs__"
    assert family_code("marian", "cs") is None


def test_cache_fields_change_with_settings_but_not_batching():
    a = ModelSpec("m", "en", "cs", revision="r1")
    assert a.model_ref == "m@r1"
    assert a.cache_fields() != ModelSpec("m", "en", "cs", revision="r2").cache_fields()
    assert (
        a.cache_fields()
        != ModelSpec("m", "en", "cs", revision="r1", settings=DecodeSettings(beam_size=4)).cache_fields()
    )
    same = ModelSpec("m", "en", "cs", revision="r1", settings=DecodeSettings(max_batch_size=3))
    assert a.cache_fields() == same.cache_fields()


def test_normalize_text_nfc_whitespace_and_punctuation():
    assert normalize_text("  A  cafe\u0301,  by\tthe sea  ", "en") == normalize_text("A café, by the sea", "en")
    assert normalize_text("A \u201cbig\u201d dog", "en") == 'A "big" dog'
    assert normalize_text(" \t ", "en") == ""
