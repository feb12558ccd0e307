"""Per-scorer tables of tiny inline multilingual pairs: expected direction, threshold decision and reason."""

from __future__ import annotations

import numpy as np
import pytest

from clcm.filtering.base import HIGHER_IS_BETTER, LOWER_IS_BETTER
from clcm.filtering.chrf import ChrfScorer
from clcm.filtering.copy import CopyScorer
from clcm.filtering.length import LengthRatioScorer, count_tokens
from clcm.filtering.logprob import LogProbScorer
from clcm.filtering.punctuation import FinalPunctuationScorer
from clcm.filtering.registry import DEFAULT_SCORERS, SCORERS
from clcm.filtering.repetition import RepetitionScorer

SRC = "A brown dog is running after the black dog in the park."
CS = "Hnědý pes běží za černým psem v parku."


def batch(rows: list[tuple]) -> dict[str, list]:
    keys = ("src_text", "tgt_text", "bt_text", "src_lang", "tgt_lang", "mt_logprob")
    return {k: [r[i] if i < len(r) else None for r in rows] for i, k in enumerate(keys)}


def check(scorer, rows, accepted):
    scores = scorer.score(batch(rows))
    assert scores.dtype == np.float32 and scores.shape == (len(rows),)
    assert scorer.accept(scores).tolist() == accepted, scores
    return scores


def test_final_punct_table():
    rows = [
        (SRC, CS, None, "en", "cs"),  # both end a sentence
        (SRC, "Hnědý pes běží v parku za", None, "en", "cs"),  # cut off
        ("A dog runs", "Pes běží", None, "en", "cs"),  # neither does: not a truncation
        ('He says "hi."', "Říká „ahoj.“", None, "en", "cs"),  # a closing quote after the stop
        ("A dog.", "犬が走る。", None, "en", "ja"),  # CJK full stop
        ("A dog.", "", None, "en", "cs"),
    ]
    s = check(FinalPunctuationScorer(), rows, [True, False, True, True, True, False])
    assert s.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def test_length_ratio_table():
    rows = [
        (SRC, CS, None, "en", "cs"),
        (SRC, "Hnědý pes.", None, "en", "cs"),  # truncated
        ("A dog.", "Pes.", None, "en", "cs"),  # very short pairs are not outliers
        ("A dog.", "Hnědý pes běží za černým psem v parku a skáče přes plot u řeky.", None, "en", "cs"),
    ]
    s = check(LengthRatioScorer(), rows, [True, False, True, False])
    assert s[1] > s[0] and LengthRatioScorer.direction == LOWER_IS_BETTER


@pytest.mark.parametrize("lang", ["en", "cs", "fr"])
def test_token_count_fast_path_matches_moses(lang):
    from sacremoses import MosesTokenizer

    moses = MosesTokenizer(lang=lang)
    texts = ["A dog runs.", "Pes běží v parku", "Žena, která jde na pláži bez bot.", "Muž v autobusu A.",
             "Dva psi; kočka: myš!", "Don't stop", "3 dogs run.", "Mr. Smith runs.", "A  dog", " x", "e-mail it",
             "C U B S.", "l'homme court.", "Hello world?", ""]  # fmt: skip
    for t in texts:
        assert count_tokens(t, lang) == len(moses.tokenize(t, escape=False)), t


def test_copy_table():
    rows = [
        (SRC, CS),
        (SRC, SRC),  # untranslated
        (SRC, "Hnědý pes is running after the black dog."),  # half translated
        ("Two men play FIFA 2014.", "Dva muži hrají FIFA 2014."),  # names and numbers copy legitimately
    ]
    s = check(CopyScorer(), rows, [True, False, False, True])
    assert s[1] == 1.0 and s[0] == 0.0
    assert CopyScorer.reason == "untranslated"


def test_repetition_table():
    rows = [
        (SRC, CS),
        (SRC, "Hnědý pes běží za za za za za za za za."),
        (SRC, "Hnědý pes běží v parku v parku v parku v parku v parku."),
        ("A dog and a dog and a dog.", "Pes a pes a pes."),  # repeats in the source excuse repeats in the target
    ]
    s = check(RepetitionScorer(), rows, [True, False, False, True])
    assert s[0] == 0.0 and s[1] > 0.4


def test_chrf_table_and_missing_bt():
    rows = [
        (SRC, CS, SRC),
        (SRC, CS, "A brown dog runs after a black dog in a park."),
        (SRC, CS, "Two women are cooking dinner."),
        (SRC, CS, None),
    ]
    s = ChrfScorer().score(batch(rows))
    assert s[0] == pytest.approx(1.0) and s[1] > 0.5 > s[2] and np.isnan(s[3])
    assert ChrfScorer().accept(s).tolist() == [True, True, False, True]  # a missing BT is not evidence of noise


def test_logprob_passthrough():
    rows = [(SRC, CS, None, "en", "cs", -0.3), (SRC, CS, None, "en", "cs", -4.0), (SRC, CS, None, "en", "cs", None)]
    s = check(LogProbScorer(), rows, [True, False, True])
    assert s[0] == pytest.approx(-0.3) and np.isnan(s[2])


def test_registry_is_consistent():
    for name, cls in SCORERS.items():
        assert cls.name == name
        assert cls.direction in (HIGHER_IS_BETTER, LOWER_IS_BETTER)
        assert isinstance(cls.reason, str) and cls.reason
        assert isinstance(cls.default_threshold, float)
    assert set(DEFAULT_SCORERS) <= set(SCORERS)
