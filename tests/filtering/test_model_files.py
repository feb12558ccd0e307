"""Scorer model files hold plain arrays only: loading never unpickles, a pickled file is refused clearly."""

from __future__ import annotations

import numpy as np
import pytest
from toy_corpus import toy_pairs

from clcm.errors import ModelError
from clcm.filtering.fluency_crossfit import CrossFitFluency
from clcm.filtering.lexical_crossfit import CrossFitLexical, load_lexical
from clcm.filtering.model_files import load_model, save_model


class Boom:
    """Unpickling this runs code (what a crafted model file would do)."""

    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('ran')",))


def test_strings_and_arrays_roundtrip(tmp_path):
    strings = {"vocab": ["muž", "", "狗", "a\x00b", "über"], "empty": []}
    save_model(tmp_path / "m.npz", {"x": np.arange(3), "f": np.float64(0.5)}, strings)
    arrays, back = load_model(tmp_path / "m.npz")
    assert back == strings and arrays["x"].tolist() == [0, 1, 2] and float(arrays["f"]) == 0.5


def test_object_arrays_are_never_written(tmp_path):
    with pytest.raises(TypeError, match="object arrays"):
        save_model(tmp_path / "m.npz", {"v": np.array(["a", None], dtype=object)})


@pytest.mark.parametrize("loader", [load_model, CrossFitFluency.load, CrossFitLexical.load, load_lexical])
def test_a_pickled_model_file_is_refused_without_running_it(tmp_path, monkeypatch, loader):
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "evil.npz", folds=np.int64(1), src_vocab=np.array([Boom()], dtype=object))
    with pytest.raises(ModelError, match="refused: the model file holds pickled objects"):
        loader(tmp_path / "evil.npz")
    assert not (tmp_path / "PWNED").exists()


def test_garbage_and_missing_files_are_model_errors(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ModelError, match="not a readable scorer model file"):
        load_model(tmp_path / "junk.npz")
    with pytest.raises(ModelError, match="not a readable scorer model file"):
        load_model(tmp_path / "missing.npz")


def test_saved_models_hold_no_object_arrays(tmp_path):
    pairs = toy_pairs(100)
    CrossFitLexical.fit([s for s, _ in pairs], [t for _, t in pairs], folds=2).save(tmp_path / "lex.npz")
    CrossFitFluency.fit([t for _, t in pairs], folds=2).save(tmp_path / "flu.npz")
    for name in ("lex.npz", "flu.npz"):
        with np.load(tmp_path / name, allow_pickle=False) as z:  # raises on any object array
            assert all(z[k].dtype != object for k in z.files)
