"""Tiny random seq2seq translation models, built offline, for tests, the README quickstart and benchmarks.

Both builders train a tokenizer on the given sentences, build a randomly initialised model of the requested
size, and save model + tokenizer with ``save_pretrained`` so ``AutoModelForSeq2SeqLM``/``AutoTokenizer`` (and the
CTranslate2 converter) load the directory like a hub model. The outputs are gibberish; the plumbing is real.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

# Language-code tokens of the tiny NLLB model (NLLB-200 codes of the languages tests use).
TINY_NLLB_CODES: tuple[str, ...] = ("eng_Latn", "deu_Latn", "fra_Latn", "ces_Latn")


def _train_spm(sentences: Sequence[str], prefix: Path, vocab_size: int, seed: int, *, marian: bool = True) -> Path:
    """Train a unigram SentencePiece model; ``marian`` ids (``</s>``=0, ``<unk>``=1) or fairseq's defaults
    (``<unk>``=0, ``<s>``=1, ``</s>``=2, as the M2M100 and mBART-50 models were trained with)."""
    import sentencepiece as spm

    ids = dict(unk_id=1, eos_id=0, bos_id=-1) if marian else dict(unk_id=0, bos_id=1, eos_id=2)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
        fh.write("\n".join(s for s in sentences if s.strip()) + "\n")
        corpus = fh.name
    try:
        spm.SentencePieceTrainer.train(
            input=corpus,
            model_prefix=str(prefix),
            vocab_size=vocab_size,
            model_type="unigram",
            character_coverage=1.0,
            hard_vocab_limit=False,  # few sentences: accept a smaller vocabulary than asked for
            pad_id=-1,  # Marian appends <pad> last (as in OPUS-MT); the fairseq tokenizers add their own
            **ids,
            num_threads=1,
            minloglevel=2,
        )
    finally:
        os.unlink(corpus)
    return prefix.with_suffix(".model")


def _size(d_model: int, layers: int, ffn_dim: int, heads: int) -> dict[str, int]:
    """The config sizes every tiny encoder-decoder shares (same depth and width on both sides)."""
    return {
        "d_model": d_model,
        "encoder_layers": layers,
        "decoder_layers": layers,
        "encoder_attention_heads": heads,
        "decoder_attention_heads": heads,
        "encoder_ffn_dim": ffn_dim,
        "decoder_ffn_dim": ffn_dim,
        "max_position_embeddings": 512,
    }


def _save_random(model_cls: type, config: object, tok: object, pad: int, out: Path, seed: int) -> Path:
    """Initialise ``model_cls(config)`` with ``seed`` and a zero pad embedding row; save it with ``tok``.

    The zero pad row is what trained models have: HF and CTranslate2 then decode identically.
    """
    import torch

    torch.manual_seed(seed)
    model = model_cls(config).eval()
    with torch.no_grad():
        model.get_input_embeddings().weight[pad].zero_()
    model.save_pretrained(out)
    tok.save_pretrained(out)  # type: ignore[attr-defined]
    return out


def build_tiny_marian(
    out_dir: str | os.PathLike,
    sentences: Sequence[str],
    *,
    vocab_size: int = 256,
    d_model: int = 16,
    layers: int = 1,
    ffn_dim: int = 32,
    heads: int = 2,
    seed: int = 0,
) -> Path:
    """Build and save a random Marian (OPUS-MT architecture) model with a shared SentencePiece vocabulary.

    Args:
        out_dir: directory to write (created).
        sentences: training text for the SentencePiece model (a few hundred captions is plenty).
        vocab_size: SentencePiece vocabulary size (an upper bound when the text is small).
        d_model, layers, ffn_dim, heads: model size (opus-mt: 512, 6, 2048, 8).
        seed: torch and SentencePiece seed.
    """
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spm_path = _train_spm(sentences, out / "spm", vocab_size, seed)
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(spm_path))
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    vocab["<pad>"] = len(vocab)  # last id, as in real OPUS-MT: CTranslate2's converter expects it there
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    for name in ("source.spm", "target.spm"):
        (out / name).write_bytes(spm_path.read_bytes())
    spm_path.unlink()
    spm_path.with_suffix(".vocab").unlink(missing_ok=True)
    tok = MarianTokenizer(str(out / "source.spm"), str(out / "target.spm"), str(out / "vocab.json"))
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab),
        **_size(d_model, layers, ffn_dim, heads),
        pad_token_id=pad,
        decoder_start_token_id=pad,
        eos_token_id=vocab["</s>"],
        forced_eos_token_id=vocab["</s>"],
        bad_words_ids=[[pad]],
        num_beams=1,
        max_length=512,
    )
    return _save_random(MarianMTModel, config, tok, pad, out, seed)


def build_tiny_nllb(
    out_dir: str | os.PathLike,
    sentences: Sequence[str],
    *,
    vocab_size: int = 300,
    d_model: int = 16,
    layers: int = 1,
    ffn_dim: int = 32,
    heads: int = 2,
    seed: int = 0,
    lang_codes: Sequence[str] = TINY_NLLB_CODES,
) -> Path:
    """Build and save a random NLLB-style (M2M100 architecture) model with a BPE tokenizer and language tokens.

    Args:
        out_dir: directory to write (created).
        sentences: tokenizer training text.
        vocab_size: BPE vocabulary size before the language-code tokens.
        d_model, layers, ffn_dim, heads: model size.
        seed: torch seed.
        lang_codes: NLLB language-code tokens the tokenizer knows (``eng_Latn``, ``ces_Latn``, ...).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    bpe.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bpe.train_from_iterator(
        [s for s in sentences if s.strip()], trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials)
    )
    state = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    tok = NllbTokenizer(
        vocab=state["vocab"], merges=merges, extra_special_tokens=list(lang_codes), src_lang=lang_codes[0]
    )
    size = max(len(tok), max(tok.convert_tokens_to_ids(list(lang_codes))) + 1)
    config = M2M100Config(
        vocab_size=size,
        **_size(d_model, layers, ffn_dim, heads),
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.eos_token_id,
        scale_embedding=True,
        tokenizer_class="NllbTokenizer",
    )
    return _save_random(M2M100ForConditionalGeneration, config, tok, tok.pad_token_id, out, seed)


def _fairseq_spm(
    sentences: Sequence[str], out: Path, vocab_size: int, seed: int
) -> tuple[Path, list[tuple[str, float]]]:
    """A SentencePiece model with fairseq ids saved as ``out/sentencepiece.bpe.model``, and its (piece, score)s."""
    import sentencepiece as spm

    trained = _train_spm(sentences, out / "spm", vocab_size, seed, marian=False)
    path = out / "sentencepiece.bpe.model"
    trained.replace(path)
    trained.with_suffix(".vocab").unlink(missing_ok=True)
    sp = spm.SentencePieceProcessor(model_file=str(path))
    return path, [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]


def build_tiny_m2m100(
    out_dir: str | os.PathLike,
    sentences: Sequence[str],
    *,
    vocab_size: int = 256,
    d_model: int = 16,
    layers: int = 1,
    ffn_dim: int = 32,
    heads: int = 2,
    seed: int = 0,
    init_std: float = 0.3,
) -> Path:
    """Build and save a random M2M100 model with a real ``M2M100Tokenizer`` (SentencePiece + ``vocab.json``).

    The tokenizer numbers its ``__en__``, ``__cs__``, ... language tokens after ``vocab.json``, so the model
    vocabulary is sized from the largest language-token id. Arguments as in :func:`build_tiny_marian`;
    ``init_std`` (weight init; transformers' 0.02 makes a tiny model's outputs nearly input-independent).
    """
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spm_path, pieces = _fairseq_spm(sentences, out, vocab_size, seed)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}  # fairseq's dictionary order, as in m2m100_418M
    for piece, _ in pieces:
        vocab.setdefault(piece, len(vocab))
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tok = M2M100Tokenizer(str(out / "vocab.json"), str(spm_path), src_lang="en")
    config = M2M100Config(
        vocab_size=max(len(tok), max(tok.lang_token_to_id.values()) + 1),
        **_size(d_model, layers, ffn_dim, heads),
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.eos_token_id,
        scale_embedding=True,
        init_std=init_std,
        tokenizer_class="M2M100Tokenizer",
    )
    return _save_random(M2M100ForConditionalGeneration, config, tok, tok.pad_token_id, out, seed)


def build_tiny_mbart50(
    out_dir: str | os.PathLike,
    sentences: Sequence[str],
    *,
    vocab_size: int = 256,
    d_model: int = 16,
    layers: int = 1,
    ffn_dim: int = 32,
    heads: int = 2,
    seed: int = 0,
    init_std: float = 0.3,
) -> Path:
    """Build and save a random mBART-50 model with a real ``MBart50Tokenizer`` built from a SentencePiece model.

    The tokenizer appends the 52 mBART-50 language codes (``en_XX``, ``cs_CZ``, ``de_DE``, ``fr_XX``, ...) and
    ``<mask>`` as special tokens after the SentencePiece pieces. Arguments as in :func:`build_tiny_m2m100`.
    """
    from transformers import MBart50Tokenizer, MBartConfig, MBartForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _, pieces = _fairseq_spm(sentences, out, vocab_size, seed)
    tok = MBart50Tokenizer(vocab=pieces, src_lang="en_XX")
    config = MBartConfig(
        vocab_size=len(tok),
        **_size(d_model, layers, ffn_dim, heads),
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.eos_token_id,  # as in mbart-large-50: </s>, then the forced language code
        scale_embedding=True,
        init_std=init_std,
        tokenizer_class="MBart50Tokenizer",
    )
    return _save_random(MBartForConditionalGeneration, config, tok, tok.pad_token_id, out, seed)


_SUBJECTS = ("A man", "A woman", "Two dogs", "A child", "A group of people", "An old man", "A girl", "Three boys")
_VERBS = ("is riding", "is walking", "are playing", "is sitting", "is running", "stands", "is jumping", "looks")
_PLACES = (
    "on a bike",
    "in the park",
    "near the water",
    "on a street",
    "in front of a building",
    "on the beach",
    "with a red ball",
    "in the snow",
)


def sample_captions(n: int = 200) -> list[str]:
    """``n`` synthetic English captions (deterministic) for tokenizer training and tests without Multi30K."""
    out = []
    for i in range(n):
        s, v, p = _SUBJECTS[i % 8], _VERBS[(i // 8) % 8], _PLACES[(i // 64) % 8]
        out.append(f"{s} {v} {p}." if i % 3 else f"{s} {v} {p}, smiling.")
    return out


def build_test_models(root: str | os.PathLike, sentences: Sequence[str] | None = None) -> dict[str, Path]:
    """Build (once; reused if present) a tiny Marian, its CTranslate2 float32 conversion, and a tiny NLLB model.

    Returns ``{"marian": dir, "marian_ct2": dir, "nllb": dir}`` under ``root``.
    """
    from clcm.translation.ct2 import convert_model, is_ct2_dir

    root = Path(root)
    paths = {"marian": root / "marian", "marian_ct2": root / "marian-ct2", "nllb": root / "nllb"}
    sentences = list(sentences) if sentences is not None else sample_captions(400)
    if not (paths["marian"] / "config.json").is_file():
        build_tiny_marian(paths["marian"], sentences)
    if not is_ct2_dir(paths["marian_ct2"]):
        convert_model(str(paths["marian"]), paths["marian_ct2"])
    if not (paths["nllb"] / "config.json").is_file():
        build_tiny_nllb(paths["nllb"], sentences)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m clcm.testing.tiny_seq2seq OUT_DIR``: build the tiny demo models (for the README quickstart)."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        raise SystemExit("usage: python -m clcm.testing.tiny_seq2seq OUT_DIR")
    for name, path in build_test_models(args[0]).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
