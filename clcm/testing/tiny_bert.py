"""A tiny random BERT (WordPiece tokenizer trained on given texts) saved to a directory, for offline tests.

The directory loads with ``AutoTokenizer.from_pretrained`` / ``AutoModel.from_pretrained`` and no network.
"""

from __future__ import annotations

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
    """Train a WordPiece tokenizer on ``texts``, build a random ``BertModel`` and save both to ``out_dir``.

    Args:
        out_dir: directory to write (created if needed).
        texts: training sentences for the tokenizer (a few hundred short captions are plenty).
        hidden, layers, heads, intermediate: BertConfig sizes.
        vocab_size: WordPiece vocabulary size (upper bound; small corpora give fewer tokens).
        seed: torch seed for the random weights.

    Returns:
        ``out_dir`` as a Path.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
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
