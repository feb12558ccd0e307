"""A tiny random BERT (WordPiece tokenizer built from given texts) saved to a directory, for offline tests.

The directory loads with ``AutoTokenizer.from_pretrained`` / ``AutoModel.from_pretrained`` and no network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

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
) -> Path:
    """Build a WordPiece tokenizer from ``texts`` (deterministically) and a random ``BertModel``; save both.

    Args:
        out_dir: directory to write (created if needed).
        texts: training sentences for the tokenizer (a few hundred short captions are plenty).
        hidden, layers, heads, intermediate: BertConfig sizes.
        vocab_size: WordPiece vocabulary size (upper bound, but every character of ``texts`` is always in it).
        seed: torch seed for the random weights.

    Returns:
        ``out_dir`` as a Path.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # A WordPiece vocabulary built deterministically (the tokenizers trainer breaks frequency ties in hash order,
    # so two builds from the same texts gave different vocabularies and different test outcomes): the special
    # tokens, every character as a word start and as a continuation (so nothing is [UNK]), then the most frequent
    # whole words (ties alphabetical) up to ``vocab_size``.
    normalizer, pre_tokenizer = (
        normalizers.BertNormalizer(lowercase=True, strip_accents=True),
        pre_tokenizers.BertPreTokenizer(),
    )
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in counts for c in w})
    vocab = [*SPECIAL_TOKENS, *chars, *(f"##{c}" for c in chars)]
    frequent = sorted((w for w in counts if len(w) > 1), key=lambda w: (-counts[w], w))
    vocab += frequent[: max(0, vocab_size - len(vocab))]
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
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
