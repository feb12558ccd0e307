"""The scorer build hook: models fitted on the driver and saved, loaded in workers; options from the config;
shared feature passes run once per batch; the shared cross-fit equals separate per-fold fits."""

from __future__ import annotations

import numpy as np
import pytest
from toy_corpus import toy_pairs

from clcm.errors import UsageError
from clcm.filtering import lexical
from clcm.filtering.base import BuildContext
from clcm.filtering.lexical_crossfit import CrossFitLexical, fold_of
from clcm.filtering.lexical_model import LexicalModel
from clcm.filtering.registry import FLUENCY_SCORERS, JOINT_SCORERS, LEXICAL_SCORERS
from clcm.filtering.scoring import ScorerSpec, build_scorers, check_scorers, score_batch

MODEL_SCORERS = (*LEXICAL_SCORERS, *FLUENCY_SCORERS, *JOINT_SCORERS)
PAIRS = toy_pairs(300, seed=1)
BATCH = {"src_text": [s for s, _ in PAIRS[:40]], "tgt_text": [t for _, t in PAIRS[:40]]}


def test_driver_fits_and_saves_and_a_worker_loads_the_same_models(tmp_path):
    driver = BuildContext(model_dir=tmp_path, fit_pairs=PAIRS)
    fitted = score_batch(build_scorers(MODEL_SCORERS, driver), BATCH)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fluency_model.npz", "lexical_model.npz"]
    assert driver.fitted["lexical"]["fit_pairs"] == 300 and driver.fitted["lexical"]["file"] == "lexical_model.npz"
    assert set(driver.fitted) == {"lexical", "fluency"}  # each model fitted once for all its scorers
    loaded = score_batch(ScorerSpec(MODEL_SCORERS, model_dir=str(tmp_path)).build(), BATCH)
    for name in MODEL_SCORERS:
        np.testing.assert_array_equal(fitted[name], loaded[name], err_msg=name)


def test_a_worker_without_saved_models_fails_clearly(tmp_path):
    from clcm.errors import ModelError

    with pytest.raises(ModelError, match="lexical_model.npz"):
        ScorerSpec(("lexical",), model_dir=str(tmp_path)).build()


def test_scorers_of_one_model_share_one_pass_per_batch(monkeypatch):
    runs = []
    real = lexical.LexicalPass.run
    monkeypatch.setattr(lexical.LexicalPass, "run", lambda self, batch: runs.append(1) or real(self, batch))
    context = BuildContext(models={"lexical": CrossFitLexical.fit(*zip(*PAIRS, strict=True), folds=2)})
    scores = score_batch(build_scorers(LEXICAL_SCORERS, context), BATCH)
    assert len(runs) == 1 and set(scores) == set(LEXICAL_SCORERS)
    score_batch(build_scorers(LEXICAL_SCORERS, context), BATCH)
    assert len(runs) == 2  # per batch, not remembered across batches (no memo keyed on the batch's texts)


def test_options_are_checked_before_anything_is_built():
    check_scorers(["langid"], {"langid": {"detector": "fast"}})
    with pytest.raises(UsageError, match="unknown scorer"):
        check_scorers(["langdetect"])
    with pytest.raises(UsageError, match=r"scorer_options for unknown scorer\(s\) \['lexicl'\]"):
        check_scorers(["lexical"], {"lexicl": {}})
    with pytest.raises(UsageError, match=r"scorer lexical: unknown option\(s\) \['folds'\]; known: none"):
        check_scorers(["lexical"], {"lexical": {"folds": 3}})
    with pytest.raises(UsageError, match="must be a mapping"):
        check_scorers(["langid"], {"langid": "fast"})


def test_shared_cross_fit_equals_fitting_each_fold_alone():
    src, tgt = [s for s, _ in PAIRS], [t for _, t in PAIRS]
    cf = CrossFitLexical.fit(src, tgt, folds=3, stem=0)
    fold = np.array([fold_of(s, 3) for s in src])
    probe_src = src[:30] + ["A purple zebra dances in the park."]
    probe_tgt = tgt[:30] + ["Fialová zebra tančí v parku."]
    for k in range(3):
        keep = np.flatnonzero(fold != k)
        alone = LexicalModel.fit([src[i] for i in keep], [tgt[i] for i in keep], stem=0)
        a, b = cf.models[k].analyse(probe_src, probe_tgt), alone.analyse(probe_src, probe_tgt)
        for name in a.features:
            np.testing.assert_allclose(a.features[name], b.features[name], rtol=1e-5, atol=1e-6, err_msg=name)
        for x, y in zip(a.target_shortfalls, b.target_shortfalls, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
