"""Multi30K raw task files: ``{split}.{lang}.gz`` (or uncompressed) aligned line by line with ``{split}.images.txt``.

- ``media_id`` is the image file name without ``.jpg``; ``caption_index`` k counts earlier lines of the same image
  in that split (0 for the official task-1 data, which has no repeats); ``caption_id = {media_id}#{lang}#{k}``.
- Lines of the source language (``--source-lang``, default en) are human source captions. Other languages become
  human captions in their language, or, with ``as_pairs``, reference translations: pair rows with
  ``src`` = the source line of the same image, ``tgt_origin = "human"`` and no ``mt_model``.
- Records are the line slots of each language file: a line beyond the end of ``images.txt``, and an image with
  no line in a language file, are ``length_mismatch`` rejects (so ``read`` is the longer of the two per file).
- Split ``test_2016_flickr`` is stored as ``test_2016`` (the name of the CCR protocol); others keep their name.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from clcm import storage
from clcm.errors import InputError, UsageError
from clcm.formats.records import ImportSink, RecordError, decode_line, iter_lines
from clcm.schemas import caption_id, is_known_lang, pair_id
from clcm.schemas import reasons as R

DATASET = "multi30k"
SPLIT_NAMES = {"test_2016_flickr": "test_2016"}
MEDIA_SUFFIXES = (".jpg", ".mp4")
_TEXT_FILE = re.compile(r"^(?P<split>[^.]+)\.(?P<lang>[^.]+)(?:\.gz)?$")


@dataclass(frozen=True)
class SplitFiles:
    split: str  # as in the file names (e.g. test_2016_flickr)
    images: str  # a local path or URL
    langs: dict[str, str]


def strip_media_suffix(name: str) -> str:
    for suffix in MEDIA_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def discover(inputs: Sequence[str | os.PathLike]) -> dict[str, SplitFiles]:
    """Find ``{split}.images.txt`` and its ``{split}.{lang}[.gz]`` files in the input directories (local or URLs)."""
    images: dict[str, str] = {}
    texts: dict[str, dict[str, str]] = {}
    for d in map(os.fspath, inputs):
        if not storage.is_dir(d):
            raise InputError(f"multi30k input must be a directory holding {{split}}.{{lang}}.gz files: {d}")
        for f in storage.match(storage.join(d, "*")):  # the directory's files (sorted)
            name = storage.basename(f)
            if name.endswith(".images.txt"):
                split = name[: -len(".images.txt")]
                if split in images:
                    raise UsageError(f"split {split!r} found twice: {images[split]} and {f}")
                images[split] = f
            elif m := _TEXT_FILE.match(name):
                split, lang = m["split"], m["lang"]
                if lang in texts.setdefault(split, {}):
                    raise UsageError(f"{split}.{lang} found twice: {texts[split][lang]} and {f}")
                texts[split][lang] = f
    for split, by_lang in texts.items():  # other files (README.md, ...) are ignored unless gzipped
        if split not in images and any(f.endswith(".gz") for f in by_lang.values()):
            raise InputError(f"{split}.*.gz caption files have no {split}.images.txt next to them")
    return {s: SplitFiles(s, images[s], dict(sorted(texts.get(s, {}).items()))) for s in sorted(images)}


def select(
    found: dict[str, SplitFiles], langs: Sequence[str] | None, splits: Sequence[str] | None, also: Sequence[str] = ()
) -> list[SplitFiles]:
    """Restrict the discovered files to the requested splits/languages (default: all present), plus ``also``."""
    if not found:
        raise InputError("no {split}.images.txt found in the multi30k input directories")
    if splits:
        missing = [s for s in splits if s not in found]
        if missing:
            raise InputError(f"split(s) {missing} not found (found: {sorted(found)})")
        chosen = [found[s] for s in splits]
    else:
        chosen = list(found.values())
    if langs:
        present = {lang for sf in chosen for lang in sf.langs}
        missing = [lang for lang in langs if lang not in present]
        if missing:
            raise InputError(f"language(s) {missing} not found in splits {[sf.split for sf in chosen]}")
        keep = set(langs) | set(also)
        chosen = [SplitFiles(sf.split, sf.images, {k: v for k, v in sf.langs.items() if k in keep}) for sf in chosen]
    return chosen


def _read_images(path: str) -> tuple[list[str | None], list[str]]:
    """Media ids per line (None for an unusable line) and a problem description per line ("" if fine)."""
    media: list[str | None] = []
    problems: list[str] = []
    for n, raw in iter_lines(path):
        try:
            name = decode_line(raw).strip()
        except RecordError:
            media.append(None)
            problems.append(f"{storage.basename(path)} line {n} is not UTF-8")
            continue
        media.append(strip_media_suffix(name) if name else None)
        problems.append("" if name else f"{storage.basename(path)} line {n} is empty")
    return media, problems


def import_multi30k(
    inputs: Sequence[str],
    sink: ImportSink,
    langs: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    source_lang: str = "en",
    as_pairs: bool = False,
) -> list[str]:
    """Import Multi30K task files into ``sink``. Returns the files read (for the manifest)."""
    chosen = select(discover(inputs), langs, splits, also=[source_lang] if as_pairs else [])
    files: list[str] = []
    for sf in chosen:
        split = SPLIT_NAMES.get(sf.split, sf.split)
        media, problems = _read_images(sf.images)
        files.append(sf.images)
        seen: Counter[str] = Counter()
        ks = []
        for m in media:
            ks.append(seen[m] if m is not None else 0)
            if m is not None:
                seen[m] += 1
        if as_pairs and source_lang not in sf.langs:
            raise InputError(f"--as-pairs needs {sf.split}.{source_lang}.gz (the source captions) next to the others")
        # Source first, so pairs can look up their source text by line.
        order = sorted(sf.langs, key=lambda lang: lang != source_lang)
        src_texts: list[str | None] = []
        n_src = 0
        for lang in order:
            path = sf.langs[lang]
            files.append(path)
            is_source = lang == source_lang
            n_lines = 0
            for n, raw in iter_lines(path):
                n_lines = n
                sink.count_read()
                i = n - 1
                try:
                    if i >= len(media):
                        images = storage.basename(sf.images)
                        raise RecordError(R.LENGTH_MISMATCH, f"line {n} is beyond the {len(media)} lines of {images}")
                    text = decode_line(raw)
                    if media[i] is None:
                        raise RecordError(R.MISSING_FIELD, f"no media id: {problems[i]}")
                    if not is_known_lang(lang):
                        raise RecordError(R.UNKNOWN_LANG, f"language {lang!r} (from the file name) is not ISO 639-1")
                except RecordError as err:
                    sink.reject_error(path, n, raw, err)
                    if is_source:
                        src_texts.append(None)
                    continue
                mid, k = media[i], ks[i]
                if is_source or not as_pairs:
                    row = dict(
                        caption_id=caption_id(mid, lang, k), media_id=mid, caption_index=k, lang=lang, text=text,
                        split=split, dataset=DATASET, origin="human",
                    )  # fmt: skip
                    kept = sink.add_caption(row, path, n, raw)
                    if is_source:
                        src_texts.append(text if kept else None)
                    continue
                src_id = caption_id(mid, source_lang, k)
                if i >= n_src or src_texts[i] is None:
                    why = f"{sf.split}.{source_lang} has only {n_src} lines" if i >= n_src else "it was rejected"
                    reason = R.LENGTH_MISMATCH if i >= n_src else R.MISSING_SOURCE
                    sink.reject(path, n, raw, reason, f"no source caption {src_id}: {why}", caption_id=src_id)
                    continue
                row = dict(
                    pair_id=pair_id(src_id, lang), caption_id=src_id, media_id=mid, caption_index=k, split=split,
                    dataset=DATASET, src_lang=source_lang, src_text=src_texts[i], tgt_lang=lang, tgt_text=text,
                    tgt_origin="human",
                )  # fmt: skip
                sink.add_pair(row, path, n, raw)
            if is_source:
                n_src = n_lines
            for i in range(n_lines, len(media)):  # images with no line in this file
                sink.count_read()
                sink.reject(
                    path, i + 1, media[i], R.LENGTH_MISMATCH,
                    f"no line for image {media[i]!r}: {storage.basename(path)} has {n_lines} lines, "
                    f"{storage.basename(sf.images)} {len(media)}",
                )  # fmt: skip
    return files
