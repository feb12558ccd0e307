"""`clcm-data score` with scorer options from the command line and the run config, and the built-in USE embedder."""

from __future__ import annotations

import pytest
from test_score_filter import pair_rows
from typer.testing import CliRunner

from clcm.cli.common import run_app
from clcm.cli.data import app
from clcm.pipelines.score import ScoreConfig
from clcm.pipelines.score import run as run_score
from clcm.schemas import read_manifest, write_sharded
from clcm.schemas.tables import PAIR_SCHEMA

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    d = tmp_path_factory.mktemp("pairs")
    write_sharded(pair_rows(60, with_bt=False), d, "pairs", PAIR_SCHEMA, 60)
    return d


def test_scorer_options_and_the_use_embedder_end_to_end(pairs, tmp_path):
    r = CliRunner().invoke(app, ["score", "-i", str(pairs), "-o", str(tmp_path / "s"), "--combiner-pairs", "40",
                                 "--scorer", "langid,copy,embedding", "--embedder", "use",
                                 "--scorer-option", "langid.detector=fast", "--runner", "FnApiRunner"])  # fmt: skip
    assert r.exit_code == 0, r.output
    m = read_manifest(tmp_path / "s")
    assert m.config["scorer_options"] == {"langid": {"detector": "fast"}, "embedding": {"model": "use"}}
    assert m.config["active_scorers"] == ["langid", "copy", "embedding"]
    assert [x["id"] for x in m.models] == ["use"]
    assert set(m.extra["cpu_seconds"]) == {"read", "fit", "combiner", "beam"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scorer-option", "langid.detectr=fast"], "scorer langid: unknown option(s) ['detectr']"),
        (["--scorer-option", "langid=fast"], "expected NAME.KEY=VALUE"),
        (["--scorer-option", "lexicl.x=1"], "scorer_options for unknown scorer(s) ['lexicl']"),
    ],
)
def test_bad_scorer_options_exit_2_before_any_work(pairs, tmp_path, capsys, args, message):
    code = run_app(app, ["score", "-i", str(pairs), "-o", str(tmp_path / "s"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()  # refused before reading or writing anything


def test_run_config_section_passes_scorer_options(pairs, tmp_path):
    config = ScoreConfig(inputs=str(pairs), out_dir=str(tmp_path / "s"), scorers=("langid", "copy"),
                         scorer_options={"langid": {"detector": "langdetect"}}, combiner_pairs=30)  # fmt: skip
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    m = run_score(config, runner=FnApiRunner())
    assert m.config["scorer_options"] == {"langid": {"detector": "langdetect"}}
