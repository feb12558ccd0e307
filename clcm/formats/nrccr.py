"""NRCCR ``TextData/*.caption.txt`` files (methods.md §5): ``<visual_id>#<tag>#<k> <text>``, split on the first space.

Tags and what they import as (``xx`` is a two-letter target language):

=============  =====================================================================================
``enc``        caption, lang en, origin human; id ``{media}#en#{k}``
``xx``         caption, lang xx, origin human; id ``{media}#xx#{k}``
``xx2enc``     caption, lang en, origin mt (MT of the human target); id ``{media}#xx2en#{k}``
``enc2xx``     pair: src = the ``enc`` line with the same (visual_id, k), tgt = this line, tgt_origin mt
``enc2xx2enc`` folded into that pair as ``bt_text``
=============  =====================================================================================

Line tags decide, except that NRCCR's MT files often reuse the ids of the captions they translate
(``1000092795#enc#0`` in ``…_google_enc2de.caption.txt``): in a file whose name has an MT tag (``enc2xx``,
``enc2xx2enc``, ``xx2enc``) a line with a plain tag (``enc`` / ``xx``) takes the file's tag.
An ``enc2xx`` line without its ``enc`` line, or an ``enc2xx2enc`` line without its ``enc2xx`` line, is a
``missing_source`` reject. ``.jpg``/``.mp4`` is stripped from visual ids. The split and dataset come from the file
name (``multi30ktrain_google_enc2de.caption.txt`` -> dataset multi30k, split train; ``…test_cs_2016…`` -> test_2016).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from clcm import storage
from clcm.errors import InputError
from clcm.formats.multi30k import strip_media_suffix
from clcm.formats.records import ImportSink, RecordError, check_text, decode_line, iter_lines, unique_paths
from clcm.schemas import caption_id, is_known_lang, pair_id
from clcm.schemas import reasons as R

SUFFIX = ".caption.txt"
SOURCE_LANG = "en"
_TAG = re.compile(
    r"^(?:(?P<enc>enc)|enc2(?P<bt>[a-z]{2})2enc|enc2(?P<mt>[a-z]{2})|(?P<back>[a-z]{2})2enc|(?P<xx>[a-z]{2}))$"
)
_SPLIT = re.compile(r"^(?P<coll>.*?)(?P<split>train|val|test)(?P<rest>(?:_.*)?)$")


@dataclass(frozen=True)
class CapLine:
    """One parsed caption line."""

    media_id: str
    kind: str  # enc | mt | bt | xx | back  (back = xx2enc)
    lang: str  # the xx of the tag; "en" for enc
    k: int
    text: str


def parse_tag(tag: str) -> tuple[str, str]:
    """Kind and language of a tag: ``enc`` -> (enc, en), ``enc2de`` -> (mt, de), ``enc2de2enc`` -> (bt, de),
    ``de`` -> (xx, de), ``de2enc`` -> (back, de)."""
    m = _TAG.match(tag)
    if not m:
        raise RecordError(R.MALFORMED, f"unknown NRCCR tag {tag!r} (expected enc, enc2xx, enc2xx2enc, xx, xx2enc)")
    kind = next(k for k, v in m.groupdict().items() if v is not None)
    lang = SOURCE_LANG if kind == "enc" else m[kind]
    if not is_known_lang(lang):
        raise RecordError(R.UNKNOWN_LANG, f"language {lang!r} of tag {tag!r} is not ISO 639-1")
    return kind, lang


def parse_line(line: str) -> CapLine:
    """Parse ``<visual_id>#<tag>#<k> <text>``; raise RecordError (malformed, unknown_lang, empty_text, nul_byte)."""
    cap_id, sep, text = line.partition(" ")
    if not sep:
        raise RecordError(R.MALFORMED, "no space between caption id and text")
    parts = cap_id.rsplit("#", 2)
    if len(parts) != 3 or not parts[0]:
        raise RecordError(R.MALFORMED, f"caption id {cap_id!r} is not <visual_id>#<tag>#<k>")
    visual, tag, k = parts
    if not (k.isascii() and k.isdigit()):
        raise RecordError(R.MALFORMED, f"caption id {cap_id!r}: index {k!r} is not a number")
    kind, lang = parse_tag(tag)
    return CapLine(strip_media_suffix(visual), kind, lang, int(k), check_text(text))


def describe_file(name: str) -> tuple[str | None, str | None, str | None]:
    """(collection, split, tag) from a TextData file name; None for what it does not say (see the module docstring)."""
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    stem = stem.removesuffix("_task1")
    m = _SPLIT.match(stem)
    if not m or not m["coll"]:
        return None, None, None
    rest = [p for p in m["rest"].split("_") if p and p != "google"]
    tag = None
    if rest and _TAG.match(rest[0]):
        tag, rest = rest[0], rest[1:]
    return m["coll"], "_".join([m["split"], *rest]), tag


def split_of_file(name: str) -> tuple[str | None, str | None]:
    """(collection, split) from a TextData file name, or (None, None) when it does not follow the convention."""
    return describe_file(name)[:2]


def _with_file_role(cap: CapLine, role: tuple[str, str] | None) -> CapLine:
    """A plain-tagged (enc/xx) line of an MT file (``role``: its tag's kind and language) takes the file's role."""
    if role is not None and role[0] in ("mt", "bt", "back") and cap.kind in ("enc", "xx"):
        return replace(cap, kind=role[0], lang=role[1])
    return cap


def file_name(collection: str, split: str, tag: str, mt: bool) -> str:
    """Inverse of :func:`split_of_file`: (multi30k, test_2016, cs, False) -> ``multi30ktest_cs_2016.caption.txt``.

    The reference code reads Multi30K German val/test files with a ``_task1`` suffix (methods.md §5), so those get it.
    """
    base, _, rest = split.partition("_")
    role = f"google_{tag}" if mt else tag
    task1 = collection == "multi30k" and base in ("val", "test") and tag in ("de", "de2enc")
    return f"{collection}{base}_{role}{'_' + rest if rest else ''}{'_task1' if task1 else ''}{SUFFIX}"


def input_files(inputs: Sequence[str]) -> list[str]:
    """The caption files of the inputs (local or URLs): files as given, directories' ``*.caption.txt`` files
    (sorted)."""
    files: list[str] = []
    for p in inputs:
        if storage.is_file(p):
            files.append(p)
        elif storage.is_dir(p):
            found = storage.match(storage.join(p, f"*{SUFFIX}"))
            if not found:
                raise InputError(f"no *{SUFFIX} files in {p}")
            files.extend(found)
        else:
            raise InputError(f"input not found: {p}")
    return files


@dataclass
class _Line:
    cap: CapLine
    source: str
    n: int
    raw: bytes
    split: str | None
    dataset: str | None


def import_nrccr(inputs: Sequence[str], sink: ImportSink, dataset: str | None = None) -> list[str]:
    """Import NRCCR caption files into ``sink`` (captions, and pairs from enc2xx/enc2xx2enc); return the files read."""
    files = unique_paths(input_files(inputs))
    src: dict[tuple[str, int], str] = {}  # (media, k) -> kept enc text
    mt_lines: list[_Line] = []
    bt_lines: dict[tuple[str, str, int], _Line] = {}
    for path in files:
        coll, split, file_tag = describe_file(storage.basename(path))
        try:
            role = parse_tag(file_tag) if file_tag else None
        except RecordError:  # e.g. an unknown language in the name: go by the line tags
            role = None
        ds = dataset or coll
        for n, raw in iter_lines(path):
            sink.count_read()
            try:
                cap = _with_file_role(parse_line(decode_line(raw)), role)
                if cap.kind in ("mt", "bt"):
                    sink.claim("nrccr line", f"{cap.media_id}#{cap.kind}#{cap.lang}#{cap.k}", path, n)
            except RecordError as err:
                sink.reject_error(path, n, raw, err)
                continue
            line = _Line(cap, path, n, raw, split, ds)
            if cap.kind == "mt":
                mt_lines.append(line)
            elif cap.kind == "bt":
                bt_lines[(cap.media_id, cap.lang, cap.k)] = line
            else:
                lang, origin = (SOURCE_LANG, "mt") if cap.kind == "back" else (cap.lang, "human")
                tag = f"{cap.lang}2{SOURCE_LANG}" if cap.kind == "back" else lang
                row = dict(
                    caption_id=caption_id(cap.media_id, tag, cap.k), media_id=cap.media_id, caption_index=cap.k,
                    lang=lang, text=cap.text, split=split, dataset=ds, origin=origin,
                )  # fmt: skip
                if sink.add_caption(row, path, n, raw) and cap.kind == "enc":
                    src[(cap.media_id, cap.k)] = cap.text
    paired: set[tuple[str, str, int]] = set()
    for line in mt_lines:
        cap = line.cap
        cid = caption_id(cap.media_id, SOURCE_LANG, cap.k)
        src_text = src.get((cap.media_id, cap.k))
        if src_text is None:
            detail = f"no kept enc line {cap.media_id}#enc#{cap.k} for this enc2{cap.lang} line"
            sink.reject(line.source, line.n, line.raw, R.MISSING_SOURCE, detail, caption_id=cid)
            continue
        bt = bt_lines.get((cap.media_id, cap.lang, cap.k))
        row = dict(
            pair_id=pair_id(cid, cap.lang), caption_id=cid, media_id=cap.media_id, caption_index=cap.k,
            split=line.split, dataset=line.dataset, src_lang=SOURCE_LANG, src_text=src_text, tgt_lang=cap.lang,
            tgt_text=cap.text, bt_text=bt.cap.text if bt else None, tgt_origin="mt",
        )  # fmt: skip
        if sink.add_pair(row, line.source, line.n, line.raw) and bt is not None:
            paired.add((cap.media_id, cap.lang, cap.k))
    for key, line in bt_lines.items():
        if key in paired:
            sink.fold()
        else:
            cap = line.cap
            detail = f"no kept enc2{cap.lang} line {cap.media_id}#enc2{cap.lang}#{cap.k} for this back-translation"
            sink.reject(line.source, line.n, line.raw, R.MISSING_SOURCE, detail)
    return files
