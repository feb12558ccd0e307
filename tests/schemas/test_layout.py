"""clcm.schemas.layout: where each kind is written and which files of a path a reader takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from clcm.errors import InputError
from clcm.schemas import CAPTION_SCHEMA, PAIR_SCHEMA, REJECT_SCHEMA, io, layout, read_table, write_rows

CAPTION = {"caption_id": "1#en#0", "media_id": "1", "caption_index": 0, "lang": "en", "text": "A dog.",
           "origin": "human", "split": "train", "dataset": "toy"}  # fmt: skip
PAIR = {"pair_id": "1#en#0>cs", "caption_id": "1#en#0", "media_id": "1", "caption_index": 0, "split": "train",
        "dataset": "toy", "src_lang": "en", "src_text": "A dog.", "tgt_lang": "cs", "tgt_text": "Pes.",
        "tgt_origin": "mt"}  # fmt: skip
REJECT = {"source": "x", "line": 1, "raw": "{}", "reason": "malformed", "detail": "?", "stage": "import"}


def _stage(root: Path, kinds: dict[str, int]) -> Path:
    for kind, n in kinds.items():
        row, schema = {"captions": (CAPTION, CAPTION_SCHEMA), "rejects": (REJECT, REJECT_SCHEMA)}.get(
            kind, (PAIR, PAIR_SCHEMA)
        )
        for i in range(n):
            write_rows([row], layout.shard_path(root, kind, i, n), schema)
    return root


def _names(files: list[str]) -> list[str]:
    return [Path(f).relative_to(Path(f).parents[1]).as_posix() for f in files]


def test_writers_paths_follow_the_layout(tmp_path: Path) -> None:
    assert layout.shard_path("out", "pairs", 3, 8) == "out/pairs/pairs-00003-of-00008.parquet"
    assert layout.shard_path("s3://b/run/", "rejects", 0, 1) == "s3://b/run/rejects/rejects-00000-of-00001.parquet"
    assert layout.model_path("out", "combiner.json") == "out/models/combiner.json"
    assert layout.shard_pattern("s3://b/run", "pairs") == "s3://b/run/pairs/pairs-*.parquet"
    assert layout.shard_record_name("kept", "kept-00000-of-00001.parquet") == "kept/kept-00000-of-00001.parquet"
    with pytest.raises(ValueError, match="unknown shard kind"):
        layout.kind_dir("out", "pair")


def test_a_stage_directory_gives_the_preferred_kind_only(tmp_path: Path) -> None:
    run = _stage(tmp_path / "translate", {"pairs": 2, "rejects": 1})
    files = layout.input_files(str(run), layout.PAIR_INPUTS)
    assert _names(files) == ["pairs/pairs-00000-of-00002.parquet", "pairs/pairs-00001-of-00002.parquet"]
    filt = _stage(tmp_path / "filter", {"kept": 1, "dropped": 1})
    assert _names(layout.input_files(filt, layout.PAIR_INPUTS)) == ["kept/kept-00000-of-00001.parquet"]
    assert _names(layout.input_files(filt, layout.TRAIN_INPUTS)) == [  # the trainer reads both; keep decides
        "dropped/dropped-00000-of-00001.parquet",
        "kept/kept-00000-of-00001.parquet",
    ]
    with pytest.raises(InputError, match=r"no caption shards in .*translate .*it holds pairs/, rejects/"):
        layout.input_files(run, layout.CAPTION_INPUTS, what="caption shards")


def test_shard_dirs_globs_files_and_lists(tmp_path: Path) -> None:
    run = _stage(tmp_path / "imp", {"captions": 2, "pairs": 1, "rejects": 1})
    assert layout.input_files(run / "pairs", layout.PAIR_INPUTS) == [layout.shard_path(run, "pairs", 0, 1)]
    with pytest.raises(InputError, match="it holds pairs-"):  # shards named as one kind are never read as another
        layout.input_files(run / "pairs", layout.CAPTION_INPUTS)
    one = layout.shard_path(run, "captions", 1, 2)
    assert layout.input_files(one, layout.PAIR_INPUTS) == [one]
    assert len(layout.input_files(f"{run}/*/*.parquet", layout.PAIR_INPUTS)) == 4
    both = layout.input_files([run / "captions", one], layout.CAPTION_INPUTS)
    assert both == sorted({layout.shard_path(run, "captions", i, 2) for i in range(2)})  # no duplicates
    with pytest.raises(InputError, match="no such file or directory"):
        layout.input_files(tmp_path / "nope", layout.PAIR_INPUTS)
    with pytest.raises(InputError, match="no files match"):
        layout.input_files(f"{run}/*.csv", layout.PAIR_INPUTS)


def test_flat_directories_of_earlier_versions_and_unfinished_files(tmp_path: Path) -> None:
    old = tmp_path / "old"
    write_rows([PAIR], old / "pairs-00000-of-00001.parquet", PAIR_SCHEMA)
    write_rows([REJECT], old / "rejects-00000-of-00001.parquet", REJECT_SCHEMA)
    (old / ".pairs-00001-of-00002.parquet.x.tmp").write_bytes(b"half")
    (old / "_other.parquet").write_bytes(b"not a shard")
    assert layout.input_files(old, layout.PAIR_INPUTS) == [str(old / "pairs-00000-of-00001.parquet")]
    with pytest.raises(InputError):  # the rejects of a flat directory are never read as captions
        layout.input_files(old, layout.CAPTION_INPUTS)
    mine = tmp_path / "mine"  # users' own folder of one table, any file names
    write_rows([PAIR], mine / "a.parquet", PAIR_SCHEMA)
    assert layout.input_files(mine, layout.PAIR_INPUTS) == [str(mine / "a.parquet")]
    # io's prefix readers follow the stage layout too
    run = _stage(tmp_path / "new", {"pairs": 1, "rejects": 1})
    assert read_table(run, REJECT_SCHEMA, prefix="rejects-").num_rows == 1


def test_io_readers_take_a_directory_s_files_from_the_layout(tmp_path: Path) -> None:
    run = _stage(tmp_path / "stage", {"pairs": 2, "rejects": 1})
    assert io.parquet_files(run) == layout.input_files(run, layout.PAIR_INPUTS)  # the first kind it holds
    assert _names(io.parquet_files(run, "rejects-")) == ["rejects/rejects-00000-of-00001.parquet"]
    assert read_table(run, PAIR_SCHEMA).num_rows == 2  # never the rejects beside them
    assert io.parquet_files(run, "kept") == [] and read_table(run, PAIR_SCHEMA, prefix="kept").num_rows == 0
    with pytest.raises(FileNotFoundError):
        io.parquet_files(tmp_path / "nope")


def test_stage_shards_lists_every_table_and_urls_use_the_given_lister(tmp_path: Path) -> None:
    run = _stage(tmp_path / "s", {"pairs": 1, "rejects": 1})
    assert sorted(layout.stage_shards(run)) == ["pairs", "rejects"]
    listed = {"s3://b/run/pairs/*.parquet": ["s3://b/run/pairs/pairs-00000-of-00001.parquet"]}
    files = layout.input_files("s3://b/run", layout.PAIR_INPUTS, match=lambda p: listed.get(p, []))
    assert files == ["s3://b/run/pairs/pairs-00000-of-00001.parquet"]
