"""Config values are checked for type and range when a config is built: one mechanism (clcm.configs) for the
library, the CLI flags, the run config and the training config; a bad value is exit 2 naming the field, before any
stage runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clcm.cli.common import run_app
from clcm.cli.data import app as data_app
from clcm.cli.train import app as train_app
from clcm.configs import FieldError, build_config, max_workers
from clcm.errors import EXIT_INPUT, EXIT_USAGE, UsageError
from clcm.filtering.selection import SelectionConfig
from clcm.pipelines.translate import TranslateConfig
from clcm.schemas.io import shard_count
from clcm.training.config import TrainConfig, load_config, parse_options
from clcm.translation import DecodeSettings


def _run_config(tmp_path: Path, **sections: dict) -> Path:
    (tmp_path / "in.jsonl").write_text('{"media_id": "m1", "lang": "en", "text": "A dog."}\n', encoding="utf-8")
    config = {
        "run_dir": str(tmp_path / "run"),
        "import": {"format": "jsonl", "inputs": [str(tmp_path / "in.jsonl")]},
        "translate": {"tgt_langs": ["de"], "model": str(tmp_path / "model")},
    }
    config.update(sections)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("sections", "field", "problem"),
    [
        ({"translate": {"tgt_langs": ["de"], "settings": {"max_length": "twelve"}}}, "max_length", "an integer"),
        ({"translate": {"tgt_langs": ["de"], "settings": {"max_length": -5}}}, "max_length", "at least 1"),
        ({"translate": {"tgt_langs": ["de"], "num_shards": 100_000}}, "num_shards", "at most 10000"),
        ({"translate": {"tgt_langs": ["de"], "batch_size": 2.5}}, "batch_size", "an integer"),
        ({"translate": {"tgt_langs": ["de"], "use_cache": "yes"}}, "use_cache", "true or false"),
        ({"translate": {"tgt_langs": [1]}}, "tgt_langs", "a list of strings"),
        ({"translate": {"tgt_langs": ["de"]}, "score": {}, "filter": {"selection": {"nrf_fraction": 2}}},
         "nrf_fraction", "at most 1"),
        ({"translate": {"tgt_langs": ["de"]}, "score": {"combiner_pairs": 0}}, "combiner_pairs", "at least 1"),
        ({"workers": 100_000}, "workers", "at most"),
        ({"import": {"format": "jsonl", "inputs": ["x"], "rows_per_shard": "many"}}, "rows_per_shard", "integer"),
    ],
)  # fmt: skip
def test_bad_run_config_value_is_exit_2_naming_the_field_before_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sections: dict, field: str, problem: str
) -> None:
    code = run_app(data_app, ["run", str(_run_config(tmp_path, **sections))])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err.count("\n") == 1 and err.startswith("error: ")  # one line, no traceback
    assert f"{field}: must be" in err and problem in err
    assert not (tmp_path / "run" / "import").exists()  # nothing ran


def test_nested_section_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _run_config(tmp_path, translate={"tgt_langs": ["de"], "settings": {"max_length": "twelve"}})
    assert run_app(data_app, ["run", str(path)]) == EXIT_USAGE
    assert "section 'translate.settings': max_length: must be an integer, got 'twelve'" in capsys.readouterr().err


def test_library_constructors_check_too() -> None:
    with pytest.raises(FieldError, match="max_length: must be an integer, got 'twelve'"):
        DecodeSettings(max_length="twelve")  # type: ignore[arg-type]
    with pytest.raises(FieldError, match="nrf_fraction: must be at most 1, got 2"):
        SelectionConfig(nrf_fraction=2)
    with pytest.raises(FieldError, match="threshold: must be a number or null, got nan"):
        SelectionConfig(threshold=float("nan"))
    with pytest.raises(FieldError, match="workers: must be at most"):
        TranslateConfig(inputs=("x",), out_dir="o", tgt_langs=("de",), workers=max_workers() + 1)
    with pytest.raises(FieldError, match="batch_size: must be at least 1, got 0"):
        TrainConfig(batch_size=0)
    # lists from YAML are frozen to tuples, a lone string is a one-item list
    assert TranslateConfig(inputs=["x"], out_dir="o", tgt_langs="de").tgt_langs == ("de",)  # type: ignore[arg-type]


def test_one_builder_for_run_sections_train_config_and_objective_options() -> None:
    from clcm.training.objectives.nrccr import NRCCROptions

    with pytest.raises(UsageError, match="unknown key 'max_lenght' in section 'translate.settings'; did you mean"):
        build_config(DecodeSettings, {"max_lenght": 3}, "translate.settings")
    with pytest.raises(UsageError, match="section 'nrccr objective option': margin: must be a number, got 'big'"):
        parse_options(NRCCROptions, {"margin": "big"}, "nrccr objective option")
    with pytest.raises(UsageError, match="lr: must be greater than 0"):
        load_config(None, {"lr": -1.0})


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["translate", "-i", "x", "-o", "o", "-l", "de", "--workers", "500"], "workers"),
        (["translate", "-i", "x", "-o", "o", "-l", "de", "--max-length", "-5"], "max_length"),
        (["translate", "-i", "x", "-o", "o", "-l", "de", "--shards", "-1"], "num_shards"),
        (["filter", "-i", "x", "-o", "o", "--nrf-fraction", "2"], "nrf_fraction"),
        (["filter", "-i", "x", "-o", "o", "--min-per-media", "-3"], "min_per_media"),
        (["score", "-i", "x", "-o", "o", "--batch-size", "0"], "batch_size"),
    ],
)
def test_cli_flags_go_through_the_same_checks(args: list[str], field: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(data_app, args) == EXIT_USAGE
    assert f"{field}: must be" in capsys.readouterr().err


def test_train_config_values_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "t.yaml"
    cfg.write_text("epochs: ten\n", encoding="utf-8")
    assert run_app(train_app, ["train", "--config", str(cfg)]) == EXIT_USAGE
    assert "epochs: must be an integer or null, got 'ten'" in capsys.readouterr().err


def test_malformed_yaml_is_exit_2_and_a_missing_file_exit_3_in_run_and_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("import: {format: jsonl\n  inputs: [x\n", encoding="utf-8")
    assert run_app(data_app, ["run", str(bad)]) == EXIT_USAGE
    assert run_app(train_app, ["train", "--config", str(bad)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("is not valid YAML") == 2 and err.count("\n") == 2
    missing = tmp_path / "missing.yaml"
    assert run_app(data_app, ["run", str(missing)]) == EXIT_INPUT
    assert run_app(train_app, ["train", "--config", str(missing)]) == EXIT_INPUT


def test_shard_count_never_exceeds_the_rows() -> None:
    assert shard_count(100_000, 300, 50_000) == 300
    assert shard_count(0, 300, 50_000) == 1
    assert shard_count(None, 120_000, 50_000) == 3
    assert shard_count(4, 0, 50_000) == 1
