"""The fertility length model: its CG solve against a dense least-squares solve, and the lexical_length scorer."""

from __future__ import annotations

import numpy as np
from toy_corpus import ADJS, LEXICON, PLACES, SUBJECTS, VERBS

from clcm.filtering.base import BuildContext
from clcm.filtering.fertility import RIDGE, expected_lengths, fit_fertility
from clcm.filtering.lexical import LexicalModel
from clcm.filtering.scoring import build_scorers


def test_fertility_matches_a_dense_ridge_solve():
    rng = np.random.default_rng(0)
    n_src, n = 30, 400
    src = [rng.integers(1, n_src, size=rng.integers(2, 9)) for _ in range(n)]
    true = rng.uniform(0, 2, n_src)
    lens = np.array([true[s].sum() + 1.5 + rng.normal(0, 0.3) for s in src])
    fert, bias = fit_fertility(src, lens, n_src)
    x = np.zeros((n, n_src + 1))
    for i, s in enumerate(src):
        np.add.at(x[i], s, 1.0)
    x[:, -1] = 1.0
    reg = np.diag(np.append(np.full(n_src, RIDGE), 0.0))
    dense = np.linalg.solve(x.T @ x + reg, x.T @ lens)
    np.testing.assert_allclose(np.append(fert, bias), dense, atol=1e-6)
    np.testing.assert_allclose(expected_lengths(src[:5], fert, bias), x[:5] @ dense, atol=1e-6)


def _varied_pairs(n: int) -> list[tuple[str, str]]:
    """Toy captions with 0-2 adjectives, so lengths vary and each word's fertility is identifiable."""
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        adjs = [str(a) for a in rng.choice(ADJS, size=int(rng.integers(0, 3)), replace=False)]
        s, v, p = (str(rng.choice(x)) for x in (SUBJECTS, VERBS, PLACES))
        en = " ".join(["A", *adjs, s, v, "in", "the", p]) + "."
        out.append((en, " ".join([LEXICON[a] for a in adjs] + [LEXICON[s], LEXICON[v], "v", LEXICON[p]]) + "."))
    return out


def test_lexical_length_finds_missing_words():
    pairs = _varied_pairs(600)
    model = LexicalModel.fit([p[0] for p in pairs], [p[1] for p in pairs], stem=0)
    fert = dict(zip(model.src_vocab.items, model.fertility, strict=True))
    assert abs(fert["red"] - 1.0) < 0.1 and abs(fert["blue"] - 1.0) < 0.1  # each adjective adds one word
    src = ["A red dog runs in the park."] * 4
    tgt = [
        "červený pes běží v parku.",
        "červený pes v parku.",
        "červený",
        "červený pes běží v parku v parku v parku.",
    ]
    scorer = build_scorers(["lexical_length"], BuildContext(models={"lexical": model}))[0]
    s = scorer.score({"src_text": src, "tgt_text": tgt})
    np.testing.assert_allclose(s, [0.0, -1.0, -4.0, 4.0], atol=0.2)
    assert scorer.accept(s).tolist() == [True, True, False, True]  # as a hard rule it only catches big losses
