"""Language codes clcm accepts: ISO 639-1 two-letter codes (what Multi30K, NRCCR and OPUS-MT use)."""

from __future__ import annotations

ISO_639_1: frozenset[str] = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el
    en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja
    jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd
    ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss
    st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu""".split()
)


def is_known_lang(code: str) -> bool:
    """True for a lower-case ISO 639-1 code."""
    return code in ISO_639_1


def check_lang(code: str) -> str:
    """Return ``code`` if known, else raise ValueError naming it (for CLI options, not data rows)."""
    if not is_known_lang(code):
        raise ValueError(f"unknown language code {code!r}: expected an ISO 639-1 code such as en, de, fr, cs, ja, zh")
    return code
