"""Synthetic translation noise made from the corpus itself (the Bicleaner recipe), to train the combiner.

Each corruption takes a pair (src, tgt, bt) plus a pool of other pairs and returns a noisy (tgt, bt). The
back-translation of a corrupted target is not known, so it is corrupted alongside in the most plausible way
(a copied target round-trips to the source; a misaligned target brings its own back-translation; ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

CONTENT_MIN_CHARS = 4  # language-agnostic proxy for a content word: 4+ letters (function words are short)
# Drops/swaps change 1-3 content words, mostly one: the realistic MT omission / mistranslation is the hardest case,
# so the combiner learns the subtle single-word alignment signals; a few 2-3 word changes cover bigger omissions.
CHANGED_WORDS_P = (0.65, 0.25, 0.10)  # P(1, 2, 3 changed words)
_PUNCT = ".,;:!?\"'()[]"


@dataclass(frozen=True)
class Pair:
    src: str
    tgt: str
    bt: str | None = None
    src_lang: str = ""
    tgt_lang: str = ""
    orig_tgt: str | None = None  # the corpus target a corruption was made from (None: a corpus pair); picks its fold


def _is_content(word: str) -> bool:
    return sum(ch.isalpha() for ch in word) >= CONTENT_MIN_CHARS


def _content_positions(words: list[str]) -> list[int]:
    return [i for i, w in enumerate(words) if _is_content(w)]


def untranslated(p: Pair, pool: Sequence[Pair], rng: np.random.Generator) -> Pair:
    """The MT copied the source."""
    return replace(p, tgt=p.src, bt=p.src if p.bt is not None else None)


def half_translated(p: Pair, pool: Sequence[Pair], rng: np.random.Generator) -> Pair:
    """The start is translated, the rest is left in the source language."""
    t, s = p.tgt.split(), p.src.split()
    cut = max(1, int(round(len(t) * rng.uniform(0.3, 0.6))))
    tail = s[int(round(len(s) * cut / max(len(t), 1))) :] or s[-1:]
    return replace(p, tgt=" ".join(t[:cut] + tail), bt=p.bt)


def _cipher(text: str, rng: np.random.Generator) -> str:
    """A pseudo-language: the text's lower-case letters mapped through a random letter permutation."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    table = str.maketrans(letters, "".join(rng.permutation(list(letters))))
    return text.translate(table)


def wrong_language(p: Pair, pool: Sequence[Pair], rng: np.random.Generator) -> Pair:
    """The output is in another language: the source language (the source or another source caption), or a
    pseudo-language (letters of the target permuted), standing in for third languages the corpus does not have."""
    other = pool[int(rng.integers(len(pool)))]
    u = rng.random()
    text = p.src if u < 0.2 else other.src if u < 0.6 else _cipher(other.tgt, rng)
    return replace(p, tgt=text, bt=text if p.bt is not None else None)


def truncated(p: Pair, pool: Sequence[Pair], rng: np.random.Generator) -> Pair:
    """Generation stopped early."""
    t = p.tgt.split()
    keep = max(1, int(len(t) * rng.uniform(0.2, 0.6)))
    bt = None if p.bt is None else " ".join(p.bt.split()[: max(1, int(len(p.bt.split()) * keep / max(len(t), 1)))])
    return replace(p, tgt=" ".join(t[:keep]), bt=bt)


def repetition_loop(p: Pair, pool: Sequence[Pair], rng: np.random.Generator) -> Pair:
    """A hallucination loop: an n-gram (n = 1-4) repeated 1-8 extra times. Half the loops repeat the sentence's
    last words and never end it (the decoder ran to max length: no final punctuation, a target far longer than
    expected); the others restart mid-sentence and stop there. Short loops too: with only long ones the combiner
    learnt that a loop means a very high repetition score and missed the mild ones."""
    t = p.tgt.split()
    n = int(rng.integers(1, 5))
    times = int(rng.integers(1, 9))
    if rng.random() < 0.5:  # at the end, the sentence-final mark lost
        base = p.tgt.rstrip().rstrip(_PUNCT).split() or t
        loop = base[-n:] * times
        return replace(p, tgt=" ".join(base + loop), bt=None if p.bt is None else p.bt + " " + " ".join(loop))
    start = int(rng.integers(0, max(1, len(t) - n + 1)))
    prefix = t[: start + n]
    loop = t[start : start + n] * times
    return replace(p, tgt=" ".join(prefix + loop), bt=None if p.bt is None else p.bt + " " + " ".join(loop))


def code_mixed(p: Pair, pool: Sequence[Pair], rng: np.random.Generator) -> Pair:
    """A mixed-language target: 25-60% of its words (one span or scattered) replaced by words of the source (the
    MT left parts untranslated), of another pair's source, or of a pseudo-language (another target's letters
    permuted, standing in for a third language's words)."""
    t = p.tgt.split()
    u, other = rng.random(), pool[int(rng.integers(len(pool)))]
    donor = (p.src if u < 1 / 3 else other.src if u < 2 / 3 else _cipher(other.tgt, rng)).split()
    if not t or not donor:
        return untranslated(p, pool, rng)
    k = max(1, int(round(len(t) * rng.uniform(0.25, 0.6))))
    if rng.random() < 0.5:
        start = int(rng.integers(0, len(t) - k + 1))
        idx = list(range(start, start + k))
    else:
        idx = sorted(rng.choice(len(t), size=k, replace=False).tolist())
    out = list(t)
    for i in idx:
        j = min(len(donor) - 1, int(round(i * len(donor) / len(t))))  # the donor word at the same relative place
        lead, _, tail = _strip(out[i])
        out[i] = lead + _strip(donor[j])[1] + tail
    return replace(p, tgt=" ".join(out), bt=p.bt)


def _strip(word: str) -> tuple[str, str, str]:
    """(leading punctuation, the word, trailing punctuation)."""
    core = word.strip(_PUNCT)
    start = word.find(core) if core else len(word)
    return word[:start], core, word[start + len(core) :]


def _with_case_of(word: str, model: str) -> str:
    return word[:1].upper() + word[1:] if model[:1].isupper() else word[:1].lower() + word[1:]


def _changed_words(rng: np.random.Generator, available: int) -> int:
    return min(available, 1 + int(rng.choice(len(CHANGED_WORDS_P), p=CHANGED_WORDS_P)))


def word_drop(p: Pair, pool: Sequence[Pair], rng: np.random.Generator) -> Pair:
    """Content words are missing (1-3, see ``CHANGED_WORDS_P``), written as an MT omission reads: the punctuation
    and the capital of a dropped word stay (a missing final word must not look like a truncation)."""
    t = p.tgt.split()
    pos = _content_positions(t)
    if len(t) < 3 or not pos:
        return truncated(p, pool, rng)
    n = min(_changed_words(rng, len(pos)), len(t) - 2)
    for i in sorted(rng.choice(pos, size=n, replace=False).tolist(), reverse=True):
        lead, core, tail = _strip(t.pop(i))
        if tail and i > 0:
            t[i - 1] += tail
        if i == 0 and t:
            t[0] = _with_case_of(lead + t[0], core)
    return replace(p, tgt=" ".join(t), bt=p.bt)


def word_swap(p: Pair, pool: Sequence[Pair], rng: np.random.Generator) -> Pair:
    """Content words (1-3, see ``CHANGED_WORDS_P``) are replaced by ones of another caption (a wrong object or
    colour), in place: the old word's punctuation and capitalisation stay, so only the word itself is wrong."""
    t = p.tgt.split()
    pos = _content_positions(t)
    if not pos:
        return misaligned(p, pool, rng)
    for i in rng.choice(pos, size=_changed_words(rng, len(pos)), replace=False):
        lead, core, tail = _strip(t[i])
        for _ in range(5):
            donor = [_strip(w)[1] for w in pool[int(rng.integers(len(pool)))].tgt.split()]
            cands = [w for w in donor if _is_content(w) and w.lower() != core.lower()]
            if cands:
                t[i] = lead + _with_case_of(cands[int(rng.integers(len(cands)))], core) + tail
                break
    return replace(p, tgt=" ".join(t), bt=p.bt)


def misaligned(p: Pair, pool: Sequence[Pair], rng: np.random.Generator) -> Pair:
    """The target belongs to another caption."""
    other = pool[int(rng.integers(len(pool)))]
    # the target is another corpus sentence: it must be scored like that sentence (its own cross-fit fold)
    return replace(p, tgt=other.tgt, bt=other.bt if p.bt is not None else None, orig_tgt=other.orig_tgt or other.tgt)


Corruption = Callable[[Pair, Sequence[Pair], np.random.Generator], Pair]

CORRUPTIONS: dict[str, Corruption] = {
    "untranslated": untranslated,
    "half_translated": half_translated,
    "wrong_language": wrong_language,
    "truncated": truncated,
    "repetition": repetition_loop,
    "word_drop": word_drop,
    "word_swap": word_swap,
    "misaligned": misaligned,
    "code_mixed": code_mixed,
}
# Subtle types are over-sampled: they are the hard ones and the classifier needs many examples of them.
DEFAULT_MIX: dict[str, float] = {
    "untranslated": 1.0,
    "half_translated": 1.0,
    "wrong_language": 1.0,
    "truncated": 1.0,
    "repetition": 1.0,
    "word_drop": 2.5,
    "word_swap": 2.5,
    "misaligned": 1.0,
    "code_mixed": 1.0,
}


def corrupt(
    pairs: Sequence[Pair], n: int, seed: int, mix: dict[str, float] | None = None
) -> tuple[list[Pair], list[str]]:
    """``n`` corrupted pairs drawn from ``pairs`` (types sampled by ``mix`` weights); returns pairs and types."""
    mix = mix or DEFAULT_MIX
    rng = np.random.default_rng(seed)
    kinds = list(mix)
    weights = np.array([mix[k] for k in kinds], dtype=float)
    chosen = rng.choice(len(kinds), size=n, p=weights / weights.sum())
    base = rng.integers(0, len(pairs), size=n)
    out, types = [], []
    for k, b in zip(chosen, base, strict=False):
        kind = kinds[int(k)]
        noisy = CORRUPTIONS[kind](pairs[int(b)], pairs, rng)
        if noisy.tgt == pairs[int(b)].tgt:  # a no-op corruption would be a mislabelled clean pair
            continue
        out.append(noisy if noisy.orig_tgt else replace(noisy, orig_tgt=pairs[int(b)].tgt))
        types.append(kind)
    return out, types
