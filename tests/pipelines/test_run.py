"""`clcm-data run`: config validation, skip / re-run logic, incremental runs and determinism (tiny ct2 model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_support import captions, run_config, shard_digests, sorted_table, write_jsonl

from clcm.cli.common import run_app
from clcm.cli.data import app
from clcm.errors import EXIT_USAGE
from clcm.pipelines.run import STAMP_NAME, run
from clcm.pipelines.run_config import load_run_config

pytestmark = pytest.mark.timeout(240)


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run_app(app, args)
    out = capsys.readouterr()
    return code, out.out, out.err


def _actions(run_dir: Path) -> dict[str, tuple[str, str]]:
    log = json.loads((run_dir / "_run.json").read_text())
    return {s["stage"]: (s["action"], s["why"]) for s in log["stages"]}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"imprt": {}}, "unknown key 'imprt' in section 'top level'"),
        ({"import": {"format": "jsonl", "inputs": ["x"], "colour": 1}}, "unknown key 'colour' in section 'import'"),
        ({"import": {"format": "jsonl", "inputs": ["x"], "out": "y"}}, "unknown key 'out' in section 'import'"),
        (
            {"translate": {"tgt_langs": ["de"], "settings": {"beam": 2}}},
            "unknown key 'beam' in section 'translate.settings'",
        ),
        ({"export": {"format": "jsonl", "input": "z"}}, "unknown key 'input' in section 'export'"),
        ({"import": None}, "needs an `import:` section"),
        ({"evaluate": {"queries": "q"}}, "section 'evaluate' needs the 'train' section before it"),
        ({"translate": None, "filter": {}}, "section 'filter' needs the 'score' section before it"),
        ({"workers": 0}, "`workers` must be a positive integer"),
    ],
)
def test_bad_config_is_a_usage_error_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: dict, message: str
) -> None:
    import yaml

    base = {
        "run_dir": str(tmp_path / "run"),
        "import": {"format": "jsonl", "inputs": [str(tmp_path / "in.jsonl")]},
        "translate": {"tgt_langs": ["de"], "model": str(tmp_path / "m")},
    }
    base.update(edit)
    base = {k: v for k, v in base.items() if v is not None}
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(base))
    write_jsonl(tmp_path / "in.jsonl", captions(2))
    code, _, err = _cli(["run", str(cfg)], capsys)
    assert code == EXIT_USAGE
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "import").exists()  # validation happens before any stage runs


def test_missing_run_dir_and_cli_override(tmp_path: Path) -> None:
    cfg = run_config(tmp_path / "run.yaml", [tmp_path / "in.jsonl"], tmp_path / "m")
    with pytest.raises(Exception, match="no run directory"):
        load_run_config(cfg)
    assert load_run_config(cfg, run_dir=str(tmp_path / "r")).run_dir == str(tmp_path / "r")
    assert load_run_config(cfg, run_dir="r").translation_cache == str(Path("r") / "cache")


def test_run_skips_complete_stages_and_reruns_changed_ones(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inp = write_jsonl(tmp_path / "caps.jsonl", captions(12))
    run_dir = tmp_path / "run"
    cfg = run_config(tmp_path / "run.yaml", [inp], model, run_dir=run_dir)

    code, out, err = _cli(["run", str(cfg)], capsys)
    assert code == 0, err
    assert _actions(run_dir) == {s: ("ran", "no previous output") for s in ("import", "translate", "export")}
    manifest = json.loads((run_dir / "translate" / "_manifest.json").read_text())
    assert manifest["counts"]["read"] == 12 and manifest["counts"]["kept"] == 12
    assert len((run_dir / "export" / "pairs.jsonl").read_text().splitlines()) == 12
    first = {s: shard_digests(run_dir / s) for s in ("import", "translate")}

    code, out, _ = _cli(["run", str(cfg)], capsys)
    assert code == 0
    assert set(_actions(run_dir).values()) == {("skipped", "complete, unchanged")}
    assert "skipped" in out

    # A changed translate section re-runs translate and everything after it, not import.
    run_config(cfg, [inp], model, run_dir=run_dir, translate={**load_translate(cfg), "batch_size": 7})
    assert _cli(["run", str(cfg)], capsys)[0] == 0
    actions = _actions(run_dir)
    assert actions["import"][0] == "skipped"
    assert actions["translate"] == ("ran", "config, input or upstream changed")
    assert actions["export"] == ("ran", "upstream translate re-ran")
    # batch size changes no values: the re-run writes byte-identical shards
    assert {s: shard_digests(run_dir / s) for s in ("import", "translate")} == first

    # Forcing a stage re-runs it and what follows.
    assert _cli(["run", str(cfg), "--force", "export"], capsys)[0] == 0
    assert _actions(run_dir)["export"] == ("ran", "forced")


def load_translate(cfg: Path) -> dict:
    import yaml

    return yaml.safe_load(cfg.read_text())["translate"]


def test_incomplete_or_altered_outputs_rerun_the_stage(tmp_path: Path, model: Path) -> None:
    inp = write_jsonl(tmp_path / "caps.jsonl", captions(6))
    config = load_run_config(run_config(tmp_path / "run.yaml", [inp], model, run_dir=tmp_path / "run"))
    run(config)
    translate_dir = tmp_path / "run" / "translate"
    shard = next(translate_dir.glob("pairs/pairs-*.parquet"))

    shard.write_bytes(shard.read_bytes()[:-10])  # corrupted after the fact
    by_stage = {s.stage: s for s in run(config)}
    assert by_stage["import"].action == "skipped"
    assert by_stage["translate"].why == f"output pairs/{shard.name} changed"
    assert by_stage["translate"].counts["cached"] > 0  # the cache made the redo cheap
    assert by_stage["export"].action == "skipped"  # repaired to the same bytes: nothing after it changes

    shard.unlink()
    assert {s.stage: s.why for s in run(config)}["translate"] == f"output pairs/{shard.name} missing"

    # A stage dir without its completion stamp (a killed run) is stale: cleared, then re-run.
    (translate_dir / STAMP_NAME).unlink()
    (translate_dir / "pairs" / ".pairs-00000-of-00001.parquet.x.tmp").write_bytes(b"half")
    (translate_dir / "pairs" / "pairs-00007-of-00009.parquet").write_bytes(b"left over")
    assert {s.stage: s.why for s in run(config)}["translate"] == "previous run did not finish (no completion stamp)"
    assert sorted(p.relative_to(translate_dir).as_posix() for p in translate_dir.rglob("*.parquet")) == [
        "pairs/pairs-00000-of-00001.parquet",
        "rejects/rejects-00000-of-00001.parquet",
    ]
    assert not list(translate_dir.rglob(".*tmp"))


def test_incremental_run_translates_only_new_captions_and_equals_a_fresh_run(tmp_path: Path, model: Path) -> None:
    inp = write_jsonl(tmp_path / "caps.jsonl", captions(16))
    config = load_run_config(run_config(tmp_path / "run.yaml", [inp], model, run_dir=tmp_path / "grown"))
    first = {s.stage: s for s in run(config)}
    assert first["translate"].counts["translated"] > 0 and first["translate"].counts["cached"] == 0

    write_jsonl(inp, captions(16) + captions(6, offset=16))  # the nightly input grew by 6 captions
    grown = {s.stage: s for s in run(config)}
    assert grown["import"].why == "config, input or upstream changed"
    mt = grown["translate"].counts["per_lang"]["de"]["mt"]
    assert mt["unique"] == 22 and mt["cached"] == 16 and mt["translated"] == 6  # only the new captions

    fresh = load_run_config(run_config(tmp_path / "fresh.yaml", [inp], model, run_dir=tmp_path / "fresh"))
    run(fresh)
    for stage, prefix, key in (("import", "captions", "caption_id"), ("translate", "pairs", "pair_id")):
        a = sorted_table(tmp_path / "grown" / stage, prefix, key)
        b = sorted_table(tmp_path / "fresh" / stage, prefix, key)
        assert a.num_rows == 22 and a.equals(b), stage
    # deterministic sharding and sorting: not just the same rows, the same bytes
    assert shard_digests(tmp_path / "grown" / "translate") == shard_digests(tmp_path / "fresh" / "translate")
    assert (tmp_path / "grown/export/pairs.jsonl").read_bytes() == (tmp_path / "fresh/export/pairs.jsonl").read_bytes()


@pytest.mark.slow
def test_one_and_two_workers_give_identical_shards(tmp_path: Path, model: Path) -> None:
    inp = write_jsonl(tmp_path / "caps.jsonl", captions(40))
    digests = []
    for workers in (1, 2):
        cfg = run_config(tmp_path / f"w{workers}.yaml", [inp], model, run_dir=tmp_path / f"w{workers}")
        config = load_run_config(cfg)
        config = type(config)(**{**config.__dict__, "workers": workers, "beam_args": ()})
        run(config, beam_args=["--runner", "DirectRunner"])
        digests.append({s: shard_digests(tmp_path / f"w{workers}" / s) for s in ("import", "translate")})
    assert digests[0] == digests[1]


@pytest.mark.parametrize(
    "name", ["run-local.yaml", "run-dataflow.yaml", "run-flink.yaml", "run-spark.yaml", "run-train.yaml"]
)
def test_example_configs_validate(name: str, tmp_path: Path) -> None:
    from clcm.pipelines.run import STAGES
    from clcm.pipelines.run_stages import StageContext

    config = load_run_config(Path(__file__).resolve().parents[2] / "examples" / name)
    assert config.stage("import") and (config.stage("translate") or name == "run-train.yaml")
    assert any(a.startswith("--runner") for a in config.beam_args) or name in ("run-local.yaml", "run-train.yaml")
    contexts: dict[str, StageContext] = {}
    for section in config.stages:  # every section's keys are known to its stage
        source = config.input_of(section.name)
        upstream = contexts[source] if source else None
        ctx = StageContext(tmp_path, tmp_path / section.name, upstream, config.beam_args, 1, str(tmp_path / "c"))
        STAGES[section.name].build(section.as_dict(), ctx)
        contexts[section.name] = ctx


def test_command_line_beam_flags_override_the_config(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inp = write_jsonl(tmp_path / "caps.jsonl", captions(4))
    beam_args = ["--runner=NoSuchRunner"]
    cfg = run_config(tmp_path / "run.yaml", [inp], model, run_dir=tmp_path / "run", beam_args=beam_args)
    code, _, err = _cli(["run", str(cfg), "--runner", "FnApiRunner"], capsys)
    assert code == 0, err
    manifest = json.loads((tmp_path / "run" / "translate" / "_manifest.json").read_text())
    assert manifest["runner"] == "FnApiRunner"


def test_two_runs_never_share_a_run_directory(tmp_path: Path) -> None:
    from clcm.errors import UsageError
    from clcm.pipelines.run import run_lock

    cfg = run_config(tmp_path / "run.yaml", [tmp_path / "in.jsonl"], tmp_path / "m", run_dir=tmp_path / "run")
    with run_lock(tmp_path / "run"), pytest.raises(UsageError, match="another `clcm-data run` is using"):
        run(load_run_config(cfg))
    assert not (tmp_path / "run" / "import").exists()


SCORE = {"scorers": ["length_ratio", "copy", "repetition", "bt_chrf"], "combiner_pairs": 200}


def test_full_run_with_score_and_filter(tmp_path: Path, model: Path) -> None:
    inp = write_jsonl(tmp_path / "caps.jsonl", captions(30))
    stages = {"score": SCORE, "filter": {"selection": {"threshold": 0.9}}}
    cfg = run_config(tmp_path / "run.yaml", [inp], model, run_dir=tmp_path / "run", **stages)
    statuses = {s.stage: s for s in run(load_run_config(cfg))}
    assert [s.action for s in statuses.values()] == ["ran"] * 5
    assert statuses["score"].counts["scored"] == 30
    kept, scored = statuses["filter"].counts["kept"], statuses["filter"].counts["scored"]
    assert scored == 30 and statuses["export"].counts["read"] == kept
    assert len((tmp_path / "run/export/pairs.jsonl").read_text().splitlines()) == kept
    scored_digests = shard_digests(tmp_path / "run" / "score")

    # Re-thresholding re-runs only filter and export; scores are never recomputed.
    stages["filter"] = {"selection": {"threshold": 0.2}, "plots": False}
    run_config(cfg, [inp], model, run_dir=tmp_path / "run", **stages)
    actions = {s.stage: s.action for s in run(load_run_config(cfg))}
    expected = {"import": "skipped", "translate": "skipped", "score": "skipped", "filter": "ran", "export": "ran"}
    assert actions == expected

    # The same input and config in another run directory give byte-identical scored shards.
    other = run_config(tmp_path / "other.yaml", [inp], model, run_dir=tmp_path / "other", **stages)
    run(load_run_config(other))
    assert shard_digests(tmp_path / "other" / "score") == scored_digests
