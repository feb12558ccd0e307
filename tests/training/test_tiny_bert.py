"""The tiny BERT test builder is reproducible (a flaky vocabulary once failed a learning test in CI)."""

from __future__ import annotations

from clcm.testing.tiny_bert import build_tiny_bert

TEXTS = ["A man runs in the park.", "Muž běží v parku.", "Two dogs play.", "Dva psi si hrají."] * 20


def test_two_builds_are_byte_identical(tmp_path):
    a = build_tiny_bert(tmp_path / "a", TEXTS, vocab_size=60)
    b = build_tiny_bert(tmp_path / "b", TEXTS, vocab_size=60)
    for name in ("tokenizer.json", "config.json", "model.safetensors"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_every_character_has_a_token_so_nothing_is_unknown(tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(build_tiny_bert(tmp_path / "t", TEXTS, vocab_size=120))
    assert tok.unk_token not in tok.tokenize("Psi běží v parku. Muži si hrají.")  # unseen words, seen characters
    assert tok.tokenize("Two dogs")[:2] == ["two", "dogs"]  # frequent whole words are single tokens
