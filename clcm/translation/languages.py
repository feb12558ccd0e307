"""Language codes per model family and the default model for a language pair."""

from __future__ import annotations

NLLB_DEFAULT = "facebook/nllb-200-distilled-600M"

# OPUS-MT pairs (Helsinki-NLP/opus-mt-{src}-{tgt}) known to exist on the hub, among the languages CCR work uses.
OPUS_MT_PAIRS: frozenset[tuple[str, str]] = frozenset(
    tuple(p.split("-"))  # type: ignore[misc]
    for p in """en-de de-en en-fr fr-en en-cs cs-en en-es es-en en-it it-en en-ru ru-en en-zh zh-en en-jap ja-en
    en-ar ar-en en-nl nl-en en-fi fi-en en-sv sv-en en-da da-en en-hu hu-en en-ro ro-en en-uk uk-en en-vi vi-en
    en-id id-en en-hi hi-en en-et et-en en-sk sk-en de-fr fr-de de-cs cs-de fr-es es-fr ko-en tr-en pl-en
    en-bg bg-en en-el el-en""".split()
)
# OPUS-MT spells Japanese as "jap" in en->ja; every other code is ISO 639-1.
_OPUS_CODE = {("en", "ja"): ("en", "jap")}

# ISO 639-1 -> NLLB-200 (FLORES-200) codes for common languages.
NLLB_CODES: dict[str, str] = {
    "ar": "arb_Arab", "bg": "bul_Cyrl", "cs": "ces_Latn", "da": "dan_Latn", "de": "deu_Latn", "el": "ell_Grek",
    "en": "eng_Latn", "es": "spa_Latn", "et": "est_Latn", "fi": "fin_Latn", "fr": "fra_Latn", "he": "heb_Hebr",
    "hi": "hin_Deva", "hu": "hun_Latn", "id": "ind_Latn", "it": "ita_Latn", "ja": "jpn_Jpan", "ko": "kor_Hang",
    "lt": "lit_Latn", "lv": "lvs_Latn", "nl": "nld_Latn", "pl": "pol_Latn", "pt": "por_Latn", "ro": "ron_Latn",
    "ru": "rus_Cyrl", "sk": "slk_Latn", "sl": "slv_Latn", "sv": "swe_Latn", "th": "tha_Thai", "tr": "tur_Latn",
    "uk": "ukr_Cyrl", "vi": "vie_Latn", "zh": "zho_Hans",
}  # fmt: skip

# ISO 639-1 -> mBART-50 codes.
MBART50_CODES: dict[str, str] = {
    "ar": "ar_AR", "cs": "cs_CZ", "de": "de_DE", "en": "en_XX", "es": "es_XX", "et": "et_EE", "fi": "fi_FI",
    "fr": "fr_XX", "hi": "hi_IN", "it": "it_IT", "ja": "ja_XX", "ko": "ko_KR", "lt": "lt_LT", "lv": "lv_LV",
    "nl": "nl_XX", "ro": "ro_RO", "ru": "ru_RU", "tr": "tr_TR", "vi": "vi_VN", "zh": "zh_CN", "pl": "pl_PL",
    "pt": "pt_XX", "sv": "sv_SE", "uk": "uk_UA", "id": "id_ID",
}  # fmt: skip


def default_model(src: str, tgt: str) -> str:
    """``Helsinki-NLP/opus-mt-{src}-{tgt}`` where that pair exists, else NLLB-200 distilled (600M)."""
    s, t = _OPUS_CODE.get((src, tgt), (src, tgt))
    if (s, t) in OPUS_MT_PAIRS:
        return f"Helsinki-NLP/opus-mt-{s}-{t}"
    return NLLB_DEFAULT


def family_code(family: str, lang: str) -> str | None:
    """The language token a model family expects for ISO code ``lang`` (None for Marian: no token needed).

    Raises:
        KeyError: the family needs a token and ``lang`` has none in our tables.
    """
    if family == "nllb":
        return NLLB_CODES[lang]
    if family == "m2m100":
        return f"__{lang}__"
    if family == "mbart50":
        return MBART50_CODES[lang]
    return None
