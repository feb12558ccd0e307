"""Folders of images, or of video frames (one folder per video), as the items a feature extractor reads.

Images: every image file under the folder (sub-folders included); its media id is the file name without suffix
(``1000092795.jpg`` -> ``1000092795``, as the Multi30K and NRCCR ids are). Videos: every sub-folder is a video (its
name is the media id) whose image files, in natural name order (``frame2`` before ``frame10``), are its frames.
Every file ends in one place: an item, or a reject row (REJECT_SCHEMA, stage ``features``) with a reason: a file
without an image suffix, a duplicate media id (the first wins), an image that does not decode, a video folder
without frames. Hidden files (``.DS_Store``, unfinished copies) are not records and are skipped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clcm.errors import InputError
from clcm.schemas import reasons as R

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_WHITESPACE = re.compile(r"\s")
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Item:
    """One image to embed: the media id it belongs to and its file (a video contributes one item per frame)."""

    media_id: str
    path: Path


@dataclass
class Scan:
    """What a folder holds: the items in order, the reject rows, and how many records (files) were read."""

    items: list[Item] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    read: int = 0

    def reject(self, path: Path, reason: str, detail: str) -> None:
        self.rejects.append(reject_row(path, reason, detail))


def reject_row(path: Path, reason: str, detail: str) -> dict[str, Any]:
    return {"source": str(path), "line": None, "caption_id": None, "raw": None, "reason": reason,
            "detail": detail, "stage": "features"}  # fmt: skip


def natural_key(name: str) -> list[Any]:
    """Sort key that orders embedded numbers by value: ``f2.jpg`` before ``f10.jpg``."""
    return [int(p) if p.isdigit() else p for p in _DIGITS.split(name)]


def _visible_files(folder: Path, recursive: bool) -> list[Path]:
    if recursive:
        found = []
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [Path(root) / f for f in files if not f.startswith(".")]
    else:
        found = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return sorted(found, key=lambda p: natural_key(str(p.relative_to(folder))))


def _media_id_problem(media_id: str) -> str | None:
    return "has whitespace, which feature id lists cannot hold" if _WHITESPACE.search(media_id) else None


def _add(scan: Scan, media_id: str, path: Path) -> None:
    scan.read += 1
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        scan.reject(path, R.NOT_AN_IMAGE, f"suffix {path.suffix or '(none)'!r} is not one of {sorted(IMAGE_SUFFIXES)}")
    elif problem := _media_id_problem(media_id):
        scan.reject(path, R.INVALID_MEDIA_ID, f"media id {media_id!r} {problem}")
    else:
        scan.items.append(Item(media_id, path))


def scan_images(folder: str | os.PathLike) -> Scan:
    """The image files under ``folder`` (recursively), one media id per file."""
    root = _folder(folder)
    scan = Scan()
    first: dict[str, Path] = {}
    for path in _visible_files(root, recursive=True):
        media_id = path.stem
        if path.suffix.lower() in IMAGE_SUFFIXES:
            if media_id in first:
                scan.read += 1
                scan.reject(path, R.DUPLICATE_ID, f"media id {media_id!r} is also {first[media_id]}")
                continue
            first[media_id] = path
        _add(scan, media_id, path)
    return scan


def scan_videos(folder: str | os.PathLike) -> Scan:
    """One video per sub-folder of ``folder``, its image files as frames in natural order."""
    root = _folder(folder)
    scan = Scan()
    for path in _visible_files(root, recursive=False):
        scan.read += 1
        scan.reject(path, R.MALFORMED, "a file directly in the videos folder; each video's frames go in its folder")
    videos = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    videos.sort(key=lambda p: natural_key(p.name))
    for video in videos:
        frames = _visible_files(video, recursive=False)
        if not frames:
            scan.read += 1
            scan.reject(video, R.NO_FRAMES, "a video folder without frame files")
        for frame in frames:
            _add(scan, video.name, frame)
    return scan


def _folder(folder: str | os.PathLike) -> Path:
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder of images" if root.exists() else f"no such folder: {root}")
    return root


def load_rgb(path: Path) -> Any:
    """Decode an image file to an RGB PIL image; raises ValueError with the decoder's reason when it cannot."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # PIL's decode failures
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
