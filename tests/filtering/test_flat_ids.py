"""The compact fit representations give exactly what the plain ones did: flat id sequences (one array, not one per
sentence), the IBM-1 layout built in small pieces, one key table shared by the cross-fitted IBM-1 models, the
vectorised n-gram windows, and cross-fitted n-gram LMs sharing their key arrays. Expected values come from simple
per-sentence code or from models fitted alone, compared bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from clcm.filtering import lexical_fit
from clcm.filtering.fluency_model import BOS, EOS, ngram_windows
from clcm.filtering.id_seqs import IdSeqs, encode
from clcm.filtering.lexical_crossfit import CrossFitLexical, fold_of, load_lexical
from clcm.filtering.lexical_model import Direction, Vocab, words
from clcm.filtering.ngram import KneserNeyLM
from clcm.filtering.ngram import encode as encode_ngrams
from clcm.testing.tiny_seq2seq import sample_captions

SRC = sample_captions(400)
TGT = [" ".join(reversed(s.split())) + (" navic" if i % 3 else "") for i, s in enumerate(SRC)]


def test_id_seqs_hold_each_sequence_and_pick_any_of_them() -> None:
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 50, size=rng.integers(0, 6)) for _ in range(40)]
    flat = IdSeqs.of(seqs)
    assert len(flat) == 40 and [list(flat[i]) for i in range(40)] == [list(s) for s in seqs]
    idx = np.array([5, 0, 39, 5, 17])
    taken = flat.take(idx)
    assert [list(taken[i]) for i in range(len(idx))] == [list(seqs[i]) for i in idx]
    span = flat.span(3, 9)
    assert [list(span[i]) for i in range(6)] == [list(s) for s in seqs[3:9]]
    assert list(encode(["a b", "", "b c a"], lambda t: [ord(c) for c in t.split()]).ids) == [97, 98, 98, 99, 97]


def test_vocab_encode_gives_the_ids_of_first_appearance() -> None:
    vocab = Vocab()
    flat = vocab.encode(SRC, 4)
    index: dict[str, int] = {"<null>": 0}
    expected = [[index.setdefault(w, len(index)) for w in words(s, 4)] for s in SRC]
    assert [list(flat[i]) for i in range(len(SRC))] == expected
    assert vocab.items == list(index)


def test_a_layout_built_in_small_pieces_is_the_layout_built_at_once(monkeypatch) -> None:
    src_vocab, tgt_vocab = Vocab(), Vocab()
    e, f = src_vocab.encode(SRC, 4), tgt_vocab.encode(TGT, 4)
    monkeypatch.setattr(lexical_fit, "LAYOUT_COMBINATIONS", 10**9)
    keys_one, one = lexical_fit.chunked_layout(e, f, len(tgt_vocab), budget=5000)
    monkeypatch.setattr(lexical_fit, "LAYOUT_COMBINATIONS", 300)  # many pieces per chunk
    keys_many, many = lexical_fit.chunked_layout(e, f, len(tgt_vocab), budget=5000)
    np.testing.assert_array_equal(keys_one, keys_many)
    assert len(one) == len(many) > 3
    for a, b in zip(one, many, strict=True):
        for name in ("key", "starts", "sentence", "f_word"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_fold_models_sharing_one_key_table_read_as_their_own_tables(tmp_path) -> None:
    src = [f"{s} q{i:03d}" for i, s in enumerate(SRC)]  # a word only one pair has: some folds never see it
    tgt = [f"{t} z{i:03d}" for i, t in enumerate(TGT)]
    model = CrossFitLexical.fit(src, tgt, folds=3, iters=4)
    rng = np.random.default_rng(1)
    for m in model.models:
        for tag, n_e in (("s2t", len(m.src_vocab)), ("t2s", len(m.tgt_vocab))):
            shared = getattr(m, tag)
            assert shared.keys is getattr(model.models[0], tag).keys  # one table for every fold
            own = ~np.isnan(shared.logp)
            alone = Direction(shared.keys[own], shared.logp[own], shared.n_f, shared.typical)  # its own keys only
            assert 0 < own.sum() < len(own)
            e = np.concatenate([shared.keys // shared.n_f, rng.integers(-1, n_e, 500)])
            f = np.concatenate([shared.keys % shared.n_f, rng.integers(-1, shared.n_f, 500)])
            np.testing.assert_array_equal(shared.lookup(e, f), alone.lookup(e, f))
    path = tmp_path / "lexical.npz"
    model.save(path)
    loaded = load_lexical(path)
    assert loaded.models[1].s2t.keys is loaded.models[2].s2t.keys  # written once, loaded once
    assert len({fold_of(s, 3) for s in src}) == 3
    for name, values in model.features(src, tgt).items():
        np.testing.assert_array_equal(values, loaded.features(src, tgt)[name])


@pytest.mark.parametrize("order", [2, 4])
def test_ngram_windows_are_the_windows_of_each_padded_sentence(order) -> None:
    rng = np.random.default_rng(order)
    seqs = [rng.integers(3, 30, size=rng.integers(0, 7)) for _ in range(30)]
    windows, seq = ngram_windows(seqs, order)
    expected, expected_seq = [], []
    for i, s in enumerate(seqs):
        padded = [BOS] * (order - 1) + list(s) + [EOS]
        for j in range(len(padded) - order + 1):
            expected.append(padded[j : j + order])
            expected_seq.append(i)
    np.testing.assert_array_equal(windows, np.array(expected))
    np.testing.assert_array_equal(seq, expected_seq)
    assert windows.dtype == np.int64


@pytest.mark.parametrize("order", [2, 4])
def test_fold_lms_sharing_their_keys_are_the_lms_counted_alone(order) -> None:
    rng = np.random.default_rng(order)
    radix = 40
    seqs = [rng.integers(3, radix, size=rng.integers(1, 8)) for _ in range(300)]
    fold = rng.integers(0, 3, size=len(seqs))
    windows, seq = ngram_windows(seqs, order)
    keys, inverse = np.unique(encode_ngrams(windows, radix), return_inverse=True)
    held = np.stack([np.bincount(inverse[fold[seq] == k], minlength=len(keys)) for k in range(3)])
    folds = KneserNeyLM.several(keys, held.sum(axis=0) - held, order, radix)
    seen = windows[rng.integers(0, len(windows), size=1000)]  # counted histories (in some folds), then any
    history = np.concatenate([seen[:, :-1], rng.integers(0, radix, size=(1000, order - 1))])
    word = np.concatenate([seen[:, -1], rng.integers(0, radix, size=1000)])
    for k, lm in enumerate(folds):
        own = np.unique(encode_ngrams(windows[fold[seq] != k], radix), return_counts=True)
        assert len(own[0]) < len(keys)  # a fold lacks some grams: they count 0 in the shared table
        alone = KneserNeyLM(*own, order, radix)
        assert lm.vocab_size == alone.vocab_size and lm.levels[-1][0] is folds[0].levels[-1][0]
        np.testing.assert_array_equal(lm.prob(history, word), alone.prob(history, word))
