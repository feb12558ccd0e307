"""transformers backend: ``AutoModelForSeq2SeqLM`` for Marian/OPUS-MT, M2M100, NLLB and mBART-50."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clcm.errors import ModelError, UsageError
from clcm.translation.base import ModelSpec, Translation, Translator
from clcm.translation.batching import length_batches
from clcm.translation.languages import family_code

_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


def model_family(config: Any, tokenizer: Any) -> str:
    """``marian``, ``nllb``, ``m2m100``, ``mbart50`` or ``other`` (from the model config and tokenizer class)."""
    kind = getattr(config, "model_type", "")
    if kind == "marian":
        return "marian"
    if kind == "m2m_100":
        return "nllb" if "nllb" in type(tokenizer).__name__.lower() else "m2m100"
    if kind == "mbart":
        return "mbart50"
    return "other"


def resolve_device(device: str, cuda_available: bool) -> str:
    """``cpu``/``cuda`` for a requested device; ``cuda`` without a GPU is a ModelError, never a silent CPU run."""
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    if device == "cuda" and not cuda_available:
        raise ModelError("--device cuda was requested but no CUDA device is available (use --device cpu)")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}: expected cpu, cuda or auto")
    return device


def lang_tokens(family: str, tokenizer: Any, src: str, tgt: str) -> tuple[str | None, str | None]:
    """Source-language setting and forced target token of a model family (``(None, None)`` for Marian)."""
    if family not in ("nllb", "m2m100", "mbart50"):
        return None, None
    try:
        src_code, tgt_code = family_code(family, src), family_code(family, tgt)
    except KeyError as exc:
        raise UsageError(f"model family {family} has no language code for {exc.args[0]!r} in clcm's table") from exc
    for code, lang in ((src_code, src), (tgt_code, tgt)):  # an unknown source code would encode as <unk>
        if tokenizer.convert_tokens_to_ids(code) == tokenizer.unk_token_id:
            raise ModelError(f"the tokenizer has no language token {code!r} for {lang!r}")
    return (src if family == "m2m100" else src_code), tgt_code


class HFTranslator(Translator):
    """Greedy or beam-search translation with transformers, one direction, ``torch.inference_mode``."""

    def __init__(self, spec: ModelSpec) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.spec = spec
        self.device = resolve_device(spec.device, torch.cuda.is_available())
        if self.device == "cpu":
            torch.set_num_threads(spec.threads * spec.parallel)  # --workers: more threads for the one model
        ctype = spec.compute_type
        if ctype == "auto":
            ctype = "float16" if self.device == "cuda" else "float32"
        if ctype not in _DTYPES:
            raise UsageError(f"hf backend: compute type {ctype!r} not supported (float32, float16, bfloat16)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.model, revision=spec.revision)
            model = AutoModelForSeq2SeqLM.from_pretrained(spec.model, revision=spec.revision, dtype=_DTYPES[ctype])
        except Exception as exc:  # transformers raises OSError/ValueError/EnvironmentError variants
            raise ModelError(f"cannot load transformers model {spec.model!r}: {exc}") from exc
        self.model = model.to(self.device).eval()
        self.family = model_family(model.config, self.tokenizer)
        src_setting, self.tgt_token = lang_tokens(self.family, self.tokenizer, spec.src_lang, spec.tgt_lang)
        if src_setting is not None:
            self.tokenizer.src_lang = src_setting
        # No forced EOS at the length limit (Marian/M2M configs set one): CTranslate2 has none, and a cut-off
        # translation should look cut off.
        self._gen_kwargs: dict[str, Any] = {"forced_eos_token_id": None}
        if self.tgt_token is not None:
            self._gen_kwargs["forced_bos_token_id"] = self.tokenizer.convert_tokens_to_ids(self.tgt_token)
        # M2M100Tokenizer (transformers 5) does not mark its __xx__ language tokens special: decoding would keep any
        # the model emits mid-sentence, so they are masked out of the text (they are never words).
        lang_ids = sorted(getattr(self.tokenizer, "lang_token_to_id", {}).values()) if self.family == "m2m100" else []
        self._non_text_ids = lang_ids

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Source token ids (with the family's special tokens) of each text."""
        return self.tokenizer(list(texts), add_special_tokens=True)["input_ids"]

    def translate(self, texts: Sequence[str]) -> list[Translation]:
        s = self.spec.settings
        ids = self.encode(texts)
        out: list[Translation | None] = [None] * len(ids)
        budgets = [s.length_budget(len(x)) for x in ids]
        for batch in length_batches([len(x) for x in ids], s.max_batch_tokens, s.max_batch_size, budgets):
            for i, t in zip(batch, self._generate([ids[i] for i in batch], budgets[batch[0]]), strict=True):
                out[i] = t
        return out  # type: ignore[return-value]

    def _generate(self, ids: list[list[int]], budget: int) -> list[Translation]:
        import torch

        s = self.spec.settings
        enc = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(self.device)
        extra = 1 if self.tgt_token is not None else 0  # the forced language token counts as a new token
        with torch.inference_mode():
            gen = self.model.generate(
                **enc,
                max_new_tokens=budget + extra,
                min_new_tokens=s.min_length + extra,
                num_beams=s.beam_size,
                do_sample=False,
                return_dict_in_generate=True,
                output_scores=True,
                **self._gen_kwargs,
            )
            beams = getattr(gen, "beam_indices", None)
            step_lp = self.model.compute_transition_scores(
                gen.sequences, gen.scores, beams, normalize_logits=s.beam_size == 1
            )  # (B, steps): log-prob of each chosen token
            tokens = gen.sequences[:, 1:]  # drop the decoder start token
            tokens = tokens[:, : step_lp.shape[1]]
            eos = tokens == self.model.generation_config.eos_token_id
            mask = (eos.cumsum(1) - eos.long()) == 0  # tokens up to and including the first EOS
            if self.tgt_token is not None:
                mask[:, 0] = False  # the forced language token is not a translation choice
            lp = torch.where(mask, step_lp.float(), torch.zeros_like(step_lp, dtype=torch.float32))
            counts = mask.sum(1)
            mean_lp = (lp.sum(1) / counts.clamp(min=1)).tolist()
        # The forced language token is not text; M2M100Tokenizer (transformers 5) does not mark its language tokens
        # special, so skip_special_tokens alone would leave "__cs__" at the start of every translation.
        text_tokens = tokens[:, 1:] if self.tgt_token is not None else tokens
        if self._non_text_ids:
            drop = torch.isin(text_tokens, torch.tensor(self._non_text_ids, device=text_tokens.device))
            text_tokens = text_tokens.masked_fill(drop, self.tokenizer.pad_token_id)
        texts = self.tokenizer.batch_decode(text_tokens, skip_special_tokens=True)
        return [Translation(t, float(m), int(c)) for t, m, c in zip(texts, mean_lp, counts.tolist(), strict=True)]
