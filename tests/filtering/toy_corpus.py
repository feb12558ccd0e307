"""A tiny generated en -> xx parallel corpus (word-for-word dictionary), for lexical and pipeline tests."""

from __future__ import annotations

import numpy as np

LEXICON = {
    "man": "muž", "woman": "žena", "dog": "pes", "cat": "kočka", "boy": "chlapec", "girl": "dívka",
    "red": "červený", "blue": "modrý", "green": "zelený", "small": "malý", "big": "velký", "old": "starý",
    "runs": "běží", "sits": "sedí", "jumps": "skáče", "eats": "jí", "holds": "drží", "plays": "hraje",
    "park": "parku", "street": "ulici", "beach": "pláži", "ball": "míč", "bike": "kolo", "hat": "klobouk",
}  # fmt: skip
SUBJECTS = ["man", "woman", "dog", "cat", "boy", "girl"]
ADJS = ["red", "blue", "green", "small", "big", "old"]
VERBS = ["runs", "sits", "jumps", "eats", "holds", "plays"]
PLACES = ["park", "street", "beach", "ball", "bike", "hat"]


def toy_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (English, pseudo-Czech) caption pairs: 'A <adj> <subj> <verb> in the <place>.' word by word."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a, s, v, p = (str(rng.choice(x)) for x in (ADJS, SUBJECTS, VERBS, PLACES))
        en = f"A {a} {s} {v} in the {p}."
        xx = f"{LEXICON[a].capitalize()} {LEXICON[s]} {LEXICON[v]} v {LEXICON[p]}."
        out.append((en, xx))
    return out
