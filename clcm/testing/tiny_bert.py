"""A tiny random BERT (WordPiece tokenizer built from given texts) saved to a directory, for offline tests.

The directory loads with ``AutoTokenizer.from_pretrained`` / ``AutoModel.from_pretrained`` and no network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tiny_bert(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 64,
    vocab_size: int = 200,
    seed: int = 0,
    wordpiece: bool = False,
) -> Path:
    """Build a WordPiece tokenizer from ``texts`` (deterministically) and a random ``BertModel``; save both.

    Args:
        out_dir: directory to write (created if needed).
        texts: training sentences for the tokenizer (a few hundred short captions are plenty).
        hidden, layers, heads, intermediate: BertConfig sizes.
        vocab_size: WordPiece vocabulary size (upper bound, but every character of ``texts`` is always in it).
        seed: torch seed for the random weights.
        wordpiece: train real WordPiece subwords (the tokenizers trainer; its vocabulary differs between builds,
            it breaks frequency ties in hash order). Default: a reproducible vocabulary of every character (as a word
            start and as a continuation, so nothing is [UNK]) plus the most frequent whole words, ties alphabetical
            (tests need byte-identical builds: a trained one once failed a learning test in a fresh CI run).

    Returns:
        ``out_dir`` as a Path.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    vocab = None if wordpiece else _whole_word_vocab(texts, normalizer, pre_tokenizer, vocab_size)
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
    if wordpiece:  # real subword training; the trainer breaks frequency ties in hash order: not reproducible
        tok.train_from_iterator(
            list(texts), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
        )
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    tok.decoder = decoders.WordPiece()
    fast = BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        do_lower_case=True,
    )
    fast.save_pretrained(out)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=512,
        pad_token_id=tok.token_to_id("[PAD]"),
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(out)
    return out


def _whole_word_vocab(texts: Iterable[str], normalizer: Any, pre_tokenizer: Any, vocab_size: int) -> dict[str, int]:
    """Special tokens, every character and ``##`` character, then frequent whole words up to ``vocab_size``."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in counts for c in w})
    vocab = [*SPECIAL_TOKENS, *chars, *(f"##{c}" for c in chars)]
    vocab += sorted((w for w in counts if len(w) > 1), key=lambda w: (-counts[w], w))[
        : max(0, vocab_size - len(vocab))
    ]
    return {t: i for i, t in enumerate(vocab)}
