"""CTranslate2 backend: int8 on CPU, int8_float16 on GPU, length-bucketed batches; and the model converter."""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clcm.errors import ModelError, UsageError
from clcm.translation.base import ModelSpec, Translation, Translator
from clcm.translation.batching import length_batches
from clcm.translation.hf import lang_tokens, resolve_device

QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16", "float32")


def is_ct2_dir(path: str | os.PathLike) -> bool:
    """True for a directory holding a converted CTranslate2 model."""
    return (Path(path) / "model.bin").is_file()


def convert_model(
    model: str, out_dir: str | os.PathLike, *, quantization: str | None = None, revision: str | None = None
) -> Path:
    """Convert a transformers seq2seq model (hub id or directory) to CTranslate2, with its tokenizer alongside.

    Args:
        model: hub id or local transformers directory.
        out_dir: output directory (replaced if it exists).
        quantization: weight type stored on disk (None keeps the model's; ``int8`` is 4x smaller than float32).
        revision: hub revision.
    """
    import ctranslate2
    from transformers import AutoTokenizer

    if quantization is not None and quantization not in QUANTIZATIONS:
        raise UsageError(f"unknown quantization {quantization!r}: expected one of {', '.join(QUANTIZATIONS)}")
    out = Path(out_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
        converter = ctranslate2.converters.TransformersConverter(model, revision=revision)
        converter.convert(str(out), quantization=quantization, force=True)
    except Exception as exc:  # converter errors are ValueError/OSError/NotImplementedError and friends
        raise ModelError(f"cannot convert {model!r} to CTranslate2: {exc}") from exc
    tokenizer.save_pretrained(out)
    return out


class CT2Translator(Translator):
    """CTranslate2 ``Translator`` for one direction; the tokenizer is the transformers one saved with the model."""

    def __init__(self, spec: ModelSpec) -> None:
        import ctranslate2

        self.spec = spec
        self.device = resolve_device(spec.device, ctranslate2.get_cuda_device_count() > 0)
        ctype = spec.compute_type
        if ctype == "auto":
            ctype = "int8_float16" if self.device == "cuda" else "int8"
        if not os.path.isdir(spec.model):
            raise ModelError(f"CTranslate2 model directory {spec.model} does not exist")
        if not is_ct2_dir(spec.model):
            raise ModelError(
                f"{spec.model!r} is not a CTranslate2 model directory (no model.bin); "
                "convert it with `clcm-data convert-model`"
            )
        try:
            self.translator = _load_ct2(spec.model, self.device, ctype, spec.threads, spec.parallel)
            self.tokenizer = _load_tokenizer(spec.model)
        except Exception as exc:
            raise ModelError(f"cannot load CTranslate2 model {spec.model!r}: {exc}") from exc
        # the family from the tokenizer class: no transformers config load (converted dirs carry CTranslate2's own)
        self.family = _family_from_tokenizer(self.tokenizer)
        src_setting, self.tgt_token = lang_tokens(self.family, self.tokenizer, spec.src_lang, spec.tgt_lang)
        if src_setting is not None:
            self.tokenizer = copy.deepcopy(self.tokenizer)  # the shared one stays unchanged for other directions
            self.tokenizer.src_lang = src_setting

    def encode(self, texts: Sequence[str]) -> list[list[str]]:
        """Source tokens (with the family's special tokens) of each text, as CTranslate2 takes them."""
        ids = self.tokenizer(list(texts), add_special_tokens=True)["input_ids"]
        return [self.tokenizer.convert_ids_to_tokens(x) for x in ids]

    def translate(self, texts: Sequence[str]) -> list[Translation]:
        s = self.spec.settings
        src = self.encode(texts)
        out: list[Translation | None] = [None] * len(src)
        budgets = [s.length_budget(len(x)) for x in src]
        batches = length_batches([len(x) for x in src], s.max_batch_tokens, s.max_batch_size, budgets)
        pending = []  # submitted at once: the model's `parallel` (inter_threads) workers translate them side by side
        for batch in batches:
            prefix = [[self.tgt_token] for _ in batch] if self.tgt_token else None
            budget = budgets[batch[0]]
            pending.append(
                self.translator.translate_batch(
                    [src[i] for i in batch],
                    target_prefix=prefix,
                    beam_size=s.beam_size,
                    max_decoding_length=budget + (1 if prefix else 0),
                    min_decoding_length=s.min_length + (1 if prefix else 0),
                    return_scores=True,
                    return_end_token=True,
                    max_batch_size=len(batch),
                    asynchronous=True,
                )
            )
        for batch, results in zip(batches, pending, strict=True):
            for i, r in zip(batch, results, strict=True):
                out[i] = self._result(r.result())
        return out  # type: ignore[return-value]

    def _result(self, result: Any) -> Translation:
        hyp = result.hypotheses[0]
        if self.tgt_token and hyp and hyp[0] == self.tgt_token:
            hyp = hyp[1:]
        text = self.tokenizer.decode(self.tokenizer.convert_tokens_to_ids(hyp), skip_special_tokens=True)
        # With length_penalty=1 (the default) CTranslate2's score is already the length-normalised log-prob.
        return Translation(text, float(result.scores[0]), len(hyp))


@functools.lru_cache(maxsize=8)
def _load_ct2(path: str, device: str, compute_type: str, threads: int, parallel: int) -> Any:
    """One CTranslate2 model per process and settings: MT and BT with one multilingual model share it."""
    import ctranslate2

    return ctranslate2.Translator(
        path, device=device, compute_type=compute_type, inter_threads=parallel, intra_threads=threads
    )


@functools.lru_cache(maxsize=8)
def _load_tokenizer(path: str) -> Any:
    """One tokenizer load per process and model directory (MT and BT of one model share it)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _family_from_tokenizer(tokenizer: Any) -> str:
    name = type(tokenizer).__name__.lower()
    for family in ("marian", "nllb", "m2m100", "mbart"):
        if family in name:
            return "mbart50" if family == "mbart" else family
    return "other"
