"""Stage outputs that common tools read: every shard directory of import / score / filter holds one schema only.

pandas, duckdb and Hugging Face datasets are dev dependencies; a tool that is not installed skips its check with the
reason. The stages run for real (import CLI, score on the in-process Beam runner, filter, inspect), and the trainer
and exporter read the stage directories they wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from test_score_filter import pair_rows

from clcm.cli.common import run_app
from clcm.cli.data import app
from clcm.filtering.selection import SelectionConfig
from clcm.pipelines.filter import FilterConfig
from clcm.pipelines.filter import run as run_filter
from clcm.pipelines.score import ScoreConfig
from clcm.pipelines.score import run as run_score
from clcm.schemas import PAIR_SCHEMA, read_manifest, write_rows

pytestmark = pytest.mark.timeout(180)

KEYS = ("pair_id", "caption_id", "media_id", "caption_index", "split", "src_lang", "src_text", "tgt_lang",
        "tgt_text", "bt_text")  # fmt: skip


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layout")
    lines = [json.dumps({k: r[k] for k in KEYS}) for r in pair_rows(120, with_bt=True)]
    lines += [json.dumps({"text": f"A caption {i}.", "lang": "en", "media_id": f"c{i}"}) for i in range(5)]
    lines += ["not json", '{"text": "", "lang": "en", "media_id": "x"}']  # two rejects
    (root / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_app(app, ["import", "-f", "jsonl", str(root / "in.jsonl"), "-o", str(root / "import")]) == 0
    run_score(ScoreConfig(str(root / "import"), str(root / "score"), combiner_pairs=100, num_shards=2),
              runner=FnApiRunner())  # fmt: skip
    run_filter(FilterConfig(str(root / "score"), str(root / "filter"), SelectionConfig(keep_fraction=0.8)))
    assert 0 < read_manifest(root / "filter").counts["kept"] < 120
    return {"import": root / "import", "score": root / "score", "filter": root / "filter"}


SHARD_DIRS = [("import", "captions", 5), ("import", "pairs", 120), ("import", "rejects", 2), ("score", "scored", 120),
              ("filter", "kept", None), ("filter", "dropped", None)]  # fmt: skip


def _rows(stages: dict[str, Path], stage: str, kind: str, n: int | None) -> int:
    if n is not None:
        return n
    return sum(s["rows"] for s in read_manifest(stages[stage]).shards if s["name"].startswith(f"{kind}/"))


def test_each_directory_holds_only_its_own_shards(stages: dict[str, Path]) -> None:
    assert sorted(p.name for p in stages["import"].iterdir()) == ["_manifest.json", "captions", "pairs", "rejects"]
    assert sorted(p.name for p in stages["score"].iterdir()) == ["_manifest.json", "models", "scored"]
    assert sorted(p.name for p in (stages["score"] / "models").iterdir()) == [
        "combiner.json", "fluency_model.npz", "lexical_model.npz"]  # fmt: skip
    top = sorted(p.name for p in stages["filter"].iterdir() if p.is_file())
    assert top[0] == "_manifest.json" and "report.json" in top and "reasons.png" in top
    assert sorted(p.name for p in stages["filter"].iterdir() if p.is_dir()) == ["dropped", "kept"]
    for stage, kind, _ in SHARD_DIRS:
        files = list((stages[stage] / kind).iterdir())
        assert files and all(f.name.startswith(f"{kind}-") and f.suffix == ".parquet" for f in files), files
        assert len({pq.read_schema(f).metadata[b"table"] for f in files}) == 1
    for stage in stages.values():  # the manifest names every shard by its path in the stage directory
        m = read_manifest(stage)
        assert m.shards and all((stage / s["name"]).is_file() for s in m.shards)


@pytest.mark.parametrize(("stage", "kind", "n"), SHARD_DIRS)
def test_pandas_reads_every_shard_directory(stages: dict[str, Path], stage: str, kind: str, n: int | None) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is not installed (pip install -e '.[dev]')")
    assert len(pd.read_parquet(stages[stage] / kind)) == _rows(stages, stage, kind, n)


@pytest.mark.parametrize(("stage", "kind", "n"), SHARD_DIRS)
def test_duckdb_reads_every_shard_directory(stages: dict[str, Path], stage: str, kind: str, n: int | None) -> None:
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (pip install -e '.[dev]')")
    pattern = str(stages[stage] / kind / "*.parquet").replace("'", "''")
    [(count,)] = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{pattern}')").fetchall()
    assert count == _rows(stages, stage, kind, n)


def test_datasets_loads_every_shard_directory(stages: dict[str, Path], tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets", reason="datasets is not installed (pip install -e '.[dev]')")
    for stage, kind, n in SHARD_DIRS:
        ds = datasets.load_dataset("parquet", data_dir=str(stages[stage] / kind), cache_dir=str(tmp_path / "hf"))
        assert ds["train"].num_rows == _rows(stages, stage, kind, n), (stage, kind)


def test_datasets_loads_a_directory_with_an_empty_shard(tmp_path: Path) -> None:
    """Shard writers write every shard, even empty ones; an empty shard has no row group, which datasets needs."""
    datasets = pytest.importorskip("datasets", reason="datasets is not installed (pip install -e '.[dev]')")
    rows = [{k: r[k] for k in KEYS} | {"tgt_origin": "mt"} for r in pair_rows(3, with_bt=True)]
    write_rows(rows, tmp_path / "pairs" / "pairs-00000-of-00002.parquet", PAIR_SCHEMA)
    write_rows([], tmp_path / "pairs" / "pairs-00001-of-00002.parquet", PAIR_SCHEMA)
    assert pq.read_metadata(tmp_path / "pairs" / "pairs-00001-of-00002.parquet").num_row_groups == 0
    ds = datasets.load_dataset("parquet", data_dir=str(tmp_path / "pairs"), cache_dir=str(tmp_path / "hf"))
    assert ds["train"].num_rows == 3


def test_readers_take_stage_directories(stages: dict[str, Path], tmp_path: Path, capsys) -> None:
    from clcm.training.config import TrainConfig
    from clcm.training.data import load_pairs, load_queries

    filt = read_manifest(stages["filter"]).counts
    pairs = load_pairs(TrainConfig(shards=str(stages["filter"]), tgt_lang="cs"))  # clcm-train --shards <stage dir>
    assert pairs.counts["read"] == 120 and len(pairs) == filt["kept"]
    assert len(load_pairs(TrainConfig(shards=str(stages["import"]), tgt_lang="cs"))) == 120
    assert load_queries(str(stages["import"]), "en").caption_ids == [f"c{i}#en#0" for i in range(5)]
    assert run_app(app, ["export", "-f", "jsonl", str(stages["filter"]), "-o", str(tmp_path / "x")]) == 0
    assert len((tmp_path / "x" / "pairs.jsonl").read_text().splitlines()) == filt["kept"]
    capsys.readouterr()
    assert run_app(app, ["inspect", str(stages["filter"]), "-n", "0"]) == 0
    out = capsys.readouterr().out
    assert "kept (scored_pairs): schema_version" in out and "dropped (scored_pairs)" in out
    assert "manifest mismatch" not in out


def test_inspect_reports_shards_the_manifest_does_not_list(stages: dict[str, Path], tmp_path: Path, capsys) -> None:
    import shutil

    copy = tmp_path / "score"
    shutil.copytree(stages["score"], copy)
    shard = next((copy / "scored").glob("*.parquet"))
    shutil.copyfile(shard, copy / "scored" / "scored-00009-of-00009.parquet")
    shard.unlink()
    assert run_app(app, ["inspect", str(copy), "-n", "0"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert f"scored/{shard.name}: in the manifest, not on disk" in out
    assert "scored/scored-00009-of-00009.parquet: on disk, not in the manifest" in out
    assert "models/: combiner.json, fluency_model.npz, lexical_model.npz" in out
