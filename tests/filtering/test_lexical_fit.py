"""The IBM-1 fit's bounded working memory: the corpus is laid out in chunks of at most a budget of combinations,
and a fit streamed over many chunks equals the fit laid out in one."""

from __future__ import annotations

import numpy as np

from clcm.filtering import lexical_fit, lexical_model
from clcm.filtering.id_seqs import IdSeqs
from clcm.filtering.lexical_crossfit import fold_of
from clcm.filtering.lexical_model import words
from clcm.testing.tiny_seq2seq import sample_captions

SRC = sample_captions(300)
TGT = [" ".join(reversed(s.split())) + (" navic" if i % 3 else "") for i, s in enumerate(SRC)]


def _ids(texts: list[str]) -> IdSeqs:
    return IdSeqs.of([np.arange(len(words(t))) for t in texts])


def test_chunks_never_exceed_the_budget_unless_one_sentence_does() -> None:
    e, f = _ids(SRC), _ids(TGT)
    combos = [len(b) * (len(a) + 1) for a, b in zip(e, f, strict=True)]
    bounds = lexical_fit.chunk_bounds(e, f, budget=200)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(SRC)
    assert all(hi == lo2 for (_, hi), (lo2, _) in zip(bounds, bounds[1:], strict=False))  # contiguous, complete
    assert len(bounds) > 10
    for lo, hi in bounds:
        assert sum(combos[lo:hi]) <= 200 or hi - lo == 1


def test_fit_in_many_small_chunks_equals_the_fit_in_one(monkeypatch) -> None:
    src, tgt = SRC, TGT
    fold = np.array([fold_of(s, 3) for s in SRC])
    laid_out: list[int] = []
    real = lexical_fit.pair_layout
    monkeypatch.setattr(lexical_fit, "pair_layout", lambda e, f: laid_out.append(len(f)) or real(e, f))
    kw = dict(iters=5, cov_floor=0.05, stem=4)
    one = lexical_fit.fit_models(src, tgt, fold, 3, budget=10**9, **kw)
    assert laid_out == [300, 300]  # one chunk per direction
    laid_out.clear()
    many = lexical_fit.fit_models(src, tgt, fold, 3, budget=300, **kw)
    assert len(laid_out) > 20 and max(laid_out) < 60  # never the whole corpus at once
    for a, b in zip(one, many, strict=True):
        for tag in ("s2t", "t2s"):
            da, db = getattr(a, tag), getattr(b, tag)
            np.testing.assert_array_equal(da.keys, db.keys)
            np.testing.assert_allclose(da.logp, db.logp, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(da.typical, db.typical, rtol=1e-5, atol=1e-6)
        a_feats = a.features(SRC[:50], TGT[:50])
        b_feats = b.features(SRC[:50], TGT[:50])
        for name, values in a_feats.items():
            np.testing.assert_allclose(values, b_feats[name], rtol=1e-5, atol=1e-5)


def test_fitted_tables_keep_at_most_max_entries_the_most_probable_first(monkeypatch) -> None:
    fold = np.array([fold_of(s, 3) for s in SRC])
    kw = dict(iters=5, cov_floor=0.05, stem=4)
    full = lexical_fit.fit_models(SRC, TGT, fold, 3, **kw)
    monkeypatch.setattr(lexical_fit, "MAX_ENTRIES", 200)
    capped = lexical_fit.fit_models(SRC, TGT, fold, 3, **kw)
    for tag in ("s2t", "t2s"):
        whole = [getattr(m, tag) for m in full]
        cut = [getattr(m, tag) for m in capped]
        assert len(whole[0].keys) > 400 and len(cut[0].keys) == 200
        assert all(d.keys is cut[0].keys for d in cut)  # the folds still share one key table
        best = np.max([np.nan_to_num(d.logp, nan=-np.inf) for d in whole], axis=0)
        kept = np.isin(whole[0].keys, cut[0].keys)
        assert best[kept].min() >= best[~kept].max()  # nothing dropped is likelier than anything kept
        for a, b in zip(whole, cut, strict=True):
            e, f = cut[0].keys // a.n_f, cut[0].keys % a.n_f
            np.testing.assert_array_equal(a.lookup(e, f), b.lookup(e, f))  # kept entries unchanged
            np.testing.assert_array_equal(a.typical, b.typical)
            e, f = whole[0].keys[~kept] // a.n_f, whole[0].keys[~kept] % a.n_f
            assert (b.lookup(e, f) == lexical_model.UNSEEN_LOGP).all()  # dropped entries read as unseen
