"""Toy corpus helpers for the training tests (imported by conftest.py and tests)."""

from __future__ import annotations

import numpy as np

EN = ["dog", "cat", "man", "woman", "child", "horse", "bird", "car", "ball", "bike", "boat", "tree"]
DE = ["hund", "katze", "mann", "frau", "kind", "pferd", "vogel", "auto", "ball", "rad", "boot", "baum"]
EN_V = ["runs", "sits", "jumps", "plays", "swims", "walks"]
DE_V = ["rennt", "sitzt", "springt", "spielt", "schwimmt", "geht"]


def toy_items(n: int, seed: int) -> list[tuple[int, int, int]]:
    rng = np.random.default_rng(seed)
    return [
        (int(a), int(b), int(v))
        for a, b, v in zip(rng.integers(0, 12, n), rng.integers(0, 12, n), rng.integers(0, 6, n), strict=True)
    ]


def en_text(a: int, b: int, v: int) -> str:
    return f"a {EN[a]} {EN_V[v]} with a {EN[b]}"


def de_text(a: int, b: int, v: int) -> str:
    return f"ein {DE[a]} {DE_V[v]} mit einem {DE[b]}"


def features_of(items: list[tuple[int, int, int]], seed: int = 7, dim: int = 24) -> np.ndarray:
    """A fixed random projection of each item's bag of concepts, plus noise: retrieval is learnable."""
    proj = np.random.default_rng(seed).standard_normal((30, dim))
    bags = np.zeros((len(items), 30))
    for i, (a, b, v) in enumerate(items):
        bags[i, [a, 12 + b, 24 + v]] = 1.0
    noise = np.random.default_rng(seed + 1).standard_normal((len(items), dim)) * 0.1
    return (bags @ proj + noise).astype(np.float32)


def pair_row(media: str, k: int, split: str, en: str, de: str, bt: str | None, origin: str = "mt") -> dict:
    cid = f"{media}#en#{k}"
    return {
        "pair_id": f"{cid}>de",
        "caption_id": cid,
        "media_id": media,
        "caption_index": k,
        "split": split,
        "dataset": "toy",
        "src_lang": "en",
        "src_text": en,
        "tgt_lang": "de",
        "tgt_text": de,
        "bt_text": bt,
        "mt_model": "toy",
        "bt_model": "toy",
        "mt_logprob": -0.5,
        "bt_logprob": -0.5,
        "tgt_origin": origin,
    }


# Four parallel captions for the objective-level tests (CL2CM, NRF): one batch of source/target text + features.
PAIR_SRC = ["a dog runs on the grass", "two men play football", "a woman reads a book", "a child eats an apple"]
PAIR_TGT = ["pes běží po trávě", "dva muži hrají fotbal", "žena čte knihu", "dítě jí jablko"]


def text_batch(model_dir, nrf_selected: list[bool] | None = None, visual_dim: int = 6) -> dict:
    """A trainer-style batch of PAIR_SRC/PAIR_TGT tokenised with ``model_dir``'s tokenizer and seeded features."""
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    gen = torch.Generator().manual_seed(0)
    return {
        "src": dict(tok(PAIR_SRC, padding=True, return_tensors="pt")),
        "tgt": dict(tok(PAIR_TGT, padding=True, return_tensors="pt")),
        "bt": None,
        "visual": torch.randn(len(PAIR_SRC), visual_dim, generator=gen),
        "visual_mask": None,
        "media_ids": [f"m{i}" for i in range(len(PAIR_SRC))],
        "weight": None,
        "nrf_selected": None if nrf_selected is None else torch.tensor(nrf_selected),
    }
