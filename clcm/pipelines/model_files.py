"""Model directories on shared storage: upload a local directory to an object-store URL, and a worker's local copy.

CTranslate2 and transformers load from local directories only; a model converted by the driver into an
object-store output directory (``s3://…/models/ct2/NAME``) is copied once per worker machine into a local
directory keyed by its URL, and reused by every process there.
"""

from __future__ import annotations

from clcm import storage

_MARKER = "model.bin"  # written last on upload, checked first on download: a directory without it is incomplete


def upload_dir(local_dir: str, url: str) -> None:
    """Copy a local directory's files (flat) to ``url``, the marker file last."""
    storage.upload_dir(local_dir, url, last=_MARKER)


def local_copy(url: str) -> str:
    """A local directory holding the files of the model directory ``url`` (downloaded once per machine)."""
    return storage.local_copy(url, _MARKER)
