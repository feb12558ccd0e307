"""Property test of every importer (jsonl, tsv, parquet, nrccr, multi30k) over arbitrary bytes and JSON values:
an import either ends in a documented clean error (InputError, EmptyResultError) or writes outputs, and whatever it
writes adds up: ``read == kept + Σ rejected``, with as many reject rows as rejected records."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from clcm.errors import EmptyResultError, InputError  # noqa: E402
from clcm.formats.importer import ImportConfig, run_import  # noqa: E402
from clcm.schemas import MANIFEST_NAME, read_manifest, read_table  # noqa: E402

pytestmark = pytest.mark.timeout(300)
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

KEYS = ["media_id", "lang", "text", "caption_id", "caption_index", "split", "dataset", "origin", "src_text",
        "src_lang", "tgt_text", "tgt_lang", "bt_text", "pair_id", "tgt_origin", "mt_logprob"]  # fmt: skip
LANGS = ["en", "de", "fr", "xx", "", "EN"]
# any text, lone surrogates included (hypothesis leaves them out by default; json.dumps escapes them as \udxxx)
SURROGATE = st.characters(categories=["Cs"])
TEXT = st.text(max_size=12) | st.builds("{}{}{}".format, st.text(max_size=5), SURROGATE, st.text(max_size=5))
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | TEXT | st.sampled_from(LANGS)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner,
                           max_size=3), max_leaves=6)  # fmt: skip
# well-formed records with arbitrary text and extra fields (so the checks behind the parser run), records with
# arbitrary values for the known keys, and arbitrary objects
OPTIONAL = {k: JSON_VALUES for k in KEYS[3:]}
WELL_FORMED = st.fixed_dictionaries(
    {"media_id": st.sampled_from(["m1", "m2"]), "lang": st.sampled_from(["en", "de"]), "text": TEXT}, optional=OPTIONAL
)
RECORDS = (
    WELL_FORMED
    | st.fixed_dictionaries(
        {}, optional={"media_id": JSON_VALUES, "lang": JSON_VALUES, "text": JSON_VALUES, **OPTIONAL}
    )
    | st.dictionaries(TEXT, JSON_VALUES, max_size=4)
)
LINE_BYTES = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" "))
FIELD = st.text(max_size=10) | st.sampled_from(["en", "de", "train", '"q"', '"un\tclosed', "1", "-1"])


def _import(fmt: str, inputs: list[Path], out: Path) -> None:
    """Run the import; assert the accounting of whatever it wrote."""
    try:
        run_import(ImportConfig(format=fmt, inputs=tuple(map(str, inputs)), out=str(out)))
    except (InputError, EmptyResultError):
        pass
    if not (out / MANIFEST_NAME).exists():
        return
    c = read_manifest(out).counts
    rejected = sum(c["rejected"].values())
    assert c["read"] == c["kept"] + rejected
    assert c["kept"] == c["rows"]["captions"] + c["rows"]["pairs"] + c["folded"]
    assert read_table(out, prefix="rejects-").num_rows == rejected == c["rows"]["rejects"]
    for table in ("captions", "pairs"):
        if c["rows"][table]:
            assert read_table(out, prefix=f"{table}-").num_rows == c["rows"][table]


def _run(fmt: str, files: dict[str, bytes], given_inputs: list[str] | None = None) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "in").mkdir()
        for name, data in files.items():
            (root / "in" / name).write_bytes(data)
        inputs = [root / "in" / n for n in (given_inputs if given_inputs is not None else list(files))]
        _import(fmt, inputs, root / "out")


@FAST
@given(st.lists(RECORDS.map(lambda r: json.dumps(r).encode()) | LINE_BYTES, max_size=6))
def test_jsonl_records_and_bytes(lines: list[bytes]) -> None:
    _run("jsonl", {"in.jsonl": b"\n".join(lines)})


@FAST
@given(
    st.lists(st.lists(FIELD, min_size=2, max_size=4).map(lambda f: "\t".join(f).encode()) | LINE_BYTES, max_size=6),
    st.sampled_from([b"media_id\tlang\ttext", b"media_id\tlang\tsrc_text\ttgt_lang\ttgt_text", b"a\ta", b""]),
)
def test_tsv_fields_and_bytes(lines: list[bytes], header: bytes) -> None:  # fmt: skip
    _run("tsv", {"in.tsv": b"\n".join([header, *lines])})


@FAST
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                k: st.none()
                | st.text(st.characters(exclude_categories=("Cs",)), max_size=8)  # Arrow strings hold no surrogates
                | st.sampled_from(LANGS)
                for k in ["media_id", "lang", "text", "split", "caption_id", "tgt_text", "tgt_lang", "origin"]
            },
        ),
        max_size=6,
    ),
    st.binary(max_size=64),
)
def test_parquet_rows_and_bytes(rows: list[dict], junk: bytes) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        names = sorted({k for r in rows for k in r})
        table = pa.table({k: pa.array([r.get(k) for r in rows], pa.string()) for k in names}) if names else pa.table(
            {"x": pa.array([None] * len(rows), pa.string())})  # fmt: skip
        pq.write_table(table, root / "rows.parquet")
        (root / "junk.parquet").write_bytes(junk)
        _import("parquet", [root / "rows.parquet"], root / "out")
        _import("parquet", [root / "junk.parquet"], root / "out2")


NRCCR_NAMES = ["ctrain_enc.caption.txt", "ctrain_google_enc2de.caption.txt", "ctrain_google_enc2de2enc.caption.txt",
               "cval_de.caption.txt", "cval_google_de2enc.caption.txt", "odd.caption.txt"]  # fmt: skip
NRCCR_LINE = st.tuples(st.sampled_from(["1", "2", "x.jpg", ""]), st.sampled_from(["enc", "enc2de", "enc2de2enc",
    "de", "de2enc", "qq", "enc2qq"]), st.sampled_from(["0", "1", "a"]), st.text(max_size=8)).map(
    lambda t: f"{t[0]}#{t[1]}#{t[2]} {t[3]}".encode("utf-8", "surrogatepass"))  # fmt: skip


@FAST
@given(st.dictionaries(st.sampled_from(NRCCR_NAMES), st.lists(NRCCR_LINE | LINE_BYTES, max_size=5), max_size=4))
def test_nrccr_lines_and_bytes(files: dict[str, list[bytes]]) -> None:
    _run("nrccr", {name: b"\n".join(lines) for name, lines in files.items()}, given_inputs=list(files) or ["x"])


@FAST
@given(
    st.lists(st.sampled_from(["1.jpg", "2.jpg", "", "1.jpg "]), max_size=4),
    st.dictionaries(st.sampled_from(["en", "de", "zz"]), st.lists(LINE_BYTES, max_size=5), max_size=3),
)
def test_multi30k_files_and_bytes(images: list[str], langs: dict[str, list[bytes]]) -> None:  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "m").mkdir()
        (root / "m" / "train.images.txt").write_text("\n".join(images))
        for lang, lines in langs.items():
            (root / "m" / f"train.{lang}").write_bytes(b"\n".join(lines))
        _import("multi30k", [root / "m"], root / "out")
