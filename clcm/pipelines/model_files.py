"""Model directories on shared storage: upload a local directory to a FileSystems URL, and a worker's local copy.

CTranslate2 and transformers load from local directories only; a model converted by the driver into an
object-store output directory (``s3://…/models/ct2/NAME``) is copied once per worker machine into a local
directory keyed by its URL, and reused by every process there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile

from apache_beam.io.filesystems import FileSystems

_MARKER = "model.bin"  # written last on upload, checked first on download: a directory without it is incomplete


def upload_dir(local_dir: str, url: str) -> None:
    """Copy a local directory's files (flat) to ``url``, the marker file last."""
    names = sorted(os.listdir(local_dir), key=lambda n: n == _MARKER)
    for name in names:
        path = os.path.join(local_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as src, FileSystems.create(FileSystems.join(url, name)) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def local_copy(url: str) -> str:
    """A local directory holding the files of the model directory ``url`` (downloaded once per machine)."""
    root = os.path.join(tempfile.gettempdir(), "clcm-models")
    local = os.path.join(root, hashlib.sha256(url.encode()).hexdigest()[:24])
    if os.path.isfile(os.path.join(local, _MARKER)):
        return local
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=root)
    try:
        for meta in FileSystems.match([FileSystems.join(url, "*")])[0].metadata_list:
            target = os.path.join(tmp, meta.path.rsplit("/", 1)[-1])
            with FileSystems.open(meta.path) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        try:
            os.rename(tmp, local)  # atomic; another process may have won the race, which is as good
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return local
