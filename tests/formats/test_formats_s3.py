"""import, export and inspect with every path an ``s3://`` URL (a moto server on loopback, tests/s3_support.py):
the outputs equal a local run's, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from formats_util import cli, write_gz, write_jsonl

from clcm import storage
from clcm.schemas import read_manifest, read_table

pytestmark = pytest.mark.timeout(120)


def _upload(local: Path, url: str) -> None:
    for f in sorted(local.rglob("*")):
        if f.is_file():
            storage.write_bytes(storage.join(url, f.relative_to(local).as_posix()), f.read_bytes())


def _tree(root: str) -> dict[str, bytes]:
    return {storage.relpath(f, root): storage.read_bytes(f) for f in storage.list_tree(root)}


def _inputs(root: Path) -> Path:
    """Small inputs of every import format: two JSONL files (one reject), a Multi30K directory, NRCCR TextData."""
    caps = [{"media_id": f"m{i}", "lang": "en", "text": f"A dog number {i}.", "split": "train"} for i in range(6)]
    (root / "jsonl").mkdir(parents=True)
    write_jsonl(root / "jsonl" / "a.jsonl", caps[:4])
    (root / "jsonl" / "b.jsonl").write_text(json.dumps(caps[4]) + "\nnot json\n" + json.dumps(caps[5]) + "\n")
    m30k = root / "m30k"
    m30k.mkdir()
    (m30k / "val.images.txt").write_text("1.jpg\n2.jpg\n")
    write_gz(m30k / "val.en.gz", b"A man.\nA woman.\n")
    write_gz(m30k / "val.de.gz", b"Ein Mann.\nEine Frau.\n")
    td = root / "TextData"
    td.mkdir()
    (td / "toytrain_enc.caption.txt").write_text("1#enc#0 A man.\n2#enc#0 A woman.\n")
    (td / "toytrain_google_enc2de.caption.txt").write_text("1#enc#0 Ein Mann.\n2#enc#0 Eine Frau.\n")
    return root


IMPORTS = [  # (format, inputs relative to the input root, extra flags)
    ("jsonl", ["jsonl/*.jsonl"], []),
    ("multi30k", ["m30k"], ["--as-pairs"]),
    ("nrccr", ["TextData"], []),
]


@pytest.mark.slow  # ~6 s: some 400 S3 operations
def test_import_export_and_inspect_on_s3_equal_a_local_run(s3, tmp_path: Path, capsys) -> None:
    local_in = _inputs(tmp_path / "in")
    bucket = s3()
    _upload(local_in, f"{bucket}/in")
    for fmt, inputs, extra in IMPORTS:
        lo, re = str(tmp_path / "out" / fmt), f"{bucket}/out/{fmt}"
        local_inputs = [str(p) for i in inputs for p in sorted(local_in.glob(i))]
        assert cli("import", "-f", fmt, *local_inputs, "-o", lo, *extra) == 0
        assert cli("import", "-f", fmt, *[f"{bucket}/in/{i}" for i in inputs], "-o", re, *extra) == 0
        local_files, remote_files = _tree(lo), _tree(re)
        assert sorted(local_files) == sorted(remote_files)
        for name in local_files:
            if not name.startswith(("rejects/", "_manifest")):  # rejects and manifest name their (other) sources
                assert local_files[name] == remote_files[name], name
        m_lo, m_re = read_manifest(lo), read_manifest(re)
        assert m_lo.counts == m_re.counts and m_re.counts["read"] > 0
        assert [i["sha256"] for i in m_lo.inputs] == [i["sha256"] for i in m_re.inputs]
        assert all(i["path"].startswith(f"{bucket}/in/") for i in m_re.inputs)
        rejects = read_table(re, prefix="rejects-").to_pylist()
        assert [r["source"] for r in rejects] == [f"{bucket}/in/jsonl/b.jsonl"] * (fmt == "jsonl")

        for export_fmt in ("nrccr", "jsonl"):  # export reads the S3 stage directory and writes to S3
            ex_lo, ex_re = f"{lo}-{export_fmt}", f"{re}-{export_fmt}"
            assert cli("export", "-f", export_fmt, lo, "-o", ex_lo, "--collection", "toy") == 0
            assert cli("export", "-f", export_fmt, re, "-o", ex_re, "--collection", "toy") == 0
            exported = {k: v for k, v in _tree(ex_re).items() if k != "_manifest.json"}
            assert exported and exported == {k: v for k, v in _tree(ex_lo).items() if k != "_manifest.json"}
            assert read_manifest(ex_re).shards == read_manifest(ex_lo).shards

    capsys.readouterr()
    assert cli("inspect", f"{bucket}/out/jsonl", "-n", "1") == 0
    shown = capsys.readouterr().out
    assert "captions: schema_version 1, 6 rows in 1 file(s)" in shown and "1 rows in 1 file(s)" in shown
    assert "mismatch" not in shown


def test_import_reports_a_missing_url_and_an_empty_glob(s3, capsys) -> None:
    bucket = s3()
    assert cli("import", "-f", "jsonl", f"{bucket}/none.jsonl", "-o", f"{bucket}/o") == 3
    assert f"input file not found: {bucket}/none.jsonl" in capsys.readouterr().err
    assert cli("import", "-f", "jsonl", f"{bucket}/in/*.jsonl", "-o", f"{bucket}/o") == 3
    assert f"no input files match {bucket}/in/*.jsonl" in capsys.readouterr().err
    assert storage.list_tree(f"{bucket}/o") == []
