"""Files anywhere: local paths natively, URLs (``s3://``, ``gs://``, ``hdfs://``, ...) through Beam's FileSystems.

The one place clcm reads, writes, lists, hashes or deletes a file, so every stage (and the trainer) takes an
object-store URL wherever it takes a path. Object stores are configured the Beam way, once for the driver and its
workers: ``--s3_endpoint_url`` / ``--s3_region_name`` / ... pipeline flags (:func:`configure`), or the usual
environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``GOOGLE_APPLICATION_CREDENTIALS``), which boto3 and
the GCS client read when no flag is given.

Local writes are atomic (temp file + rename, umask mode); an object store publishes an object atomically when its
upload closes. Beam is imported only when a URL is used, so local-only commands pay nothing for it.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from stat import S_ISREG
from types import SimpleNamespace
from typing import IO, Any

from clcm.errors import InputError, OutputError

_configured = False


def is_url(path: str | os.PathLike) -> bool:
    return "://" in os.fspath(path)


def _fs(path: str = "") -> Any:
    """Beam's FileSystems, given (empty) pipeline options if nobody configured them, so clients fall back to the
    environment (Beam's S3 client refuses to start without an options object). For ``s3://`` paths, missing
    credentials fail at once with a clear message, not after Beam's minutes of retries."""
    global _configured
    from apache_beam.io.filesystems import FileSystems

    if not _configured and FileSystems._pipeline_options is None:  # noqa: SLF001 - Beam exposes no getter
        from apache_beam.options.pipeline_options import PipelineOptions

        FileSystems.set_options(PipelineOptions([]))
    _configured = True
    if path.startswith("s3://"):
        _share_botocore_loader()
        _check_s3_credentials(FileSystems._pipeline_options, path)  # noqa: SLF001
    return FileSystems


_shared_loader = False


def _share_botocore_loader() -> None:
    """Beam's S3 filesystem builds a new boto3 session for every file operation (exists, open, create, match), and
    each session re-parses botocore's JSON service models: ~0.1 CPU-s per operation, four times the rest of making
    its client (measured: 0.096 vs 0.024 CPU-s per client). Give those sessions one shared, caching loader; each
    operation still gets its own client (Beam's clients hold per-download state)."""
    global _shared_loader
    if _shared_loader:
        return
    _shared_loader = True
    try:
        import boto3
        import botocore.loaders
        import botocore.session
        from apache_beam.io.aws.clients.s3 import boto3_client
    except ImportError:  # no boto3: _check_s3_credentials has said so
        return
    loader = botocore.loaders.create_loader()

    def session() -> Any:
        core = botocore.session.Session()
        core.register_component("data_loader", loader)
        return boto3.session.Session(botocore_session=core)

    boto3_client.boto3 = SimpleNamespace(session=SimpleNamespace(Session=session))  # all Beam's module uses
    for name in ("botocore.credentials", "botocore.configprovider"):  # two INFO lines per operation otherwise
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)


_credentials_found = False  # once found in this process, not looked up again for every file operation


def _check_s3_credentials(options: Any, path: str) -> None:
    global _credentials_found
    from apache_beam.options.pipeline_options import S3Options

    if _credentials_found or (options is not None and options.view_as(S3Options).s3_access_key_id):
        return
    try:
        import boto3
    except ImportError:
        raise InputError(f"{path}: s3:// paths need boto3 (pip install 'apache-beam[aws]')") from None
    if boto3.session.Session().get_credentials() is None:
        raise InputError(f"{path}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
                         "AWS_PROFILE), or pass --s3_access_key_id/--s3_secret_access_key")  # fmt: skip
    _credentials_found = True


def configure(beam_args: Sequence[str] = ()) -> None:
    """Apply Beam pipeline flags (``--s3_endpoint_url=...``) to the driver's own file operations; pipelines pass
    the same flags to their workers."""
    global _configured
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    FileSystems.set_options(PipelineOptions(list(beam_args)))
    _configured = True


def join(base: str | os.PathLike, *parts: str) -> str:
    """``os.path.join`` for local paths, ``/`` for URLs."""
    base = os.fspath(base)
    if is_url(base):
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(base, *parts)


def basename(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    return path.rstrip("/").rsplit("/", 1)[-1] if is_url(path) else os.path.basename(path)


def parent(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    return path.rstrip("/").rsplit("/", 1)[0] if is_url(path) else os.path.dirname(path)


def match(pattern: str | os.PathLike) -> list[str]:
    """The files a glob pattern matches, sorted (nothing for a missing directory). ``*`` stays within one
    directory level everywhere; on object stores ``**`` crosses levels."""
    if not is_url(pattern):
        return sorted(p for p in glob.glob(os.fspath(pattern)) if os.path.isfile(p))
    return sorted(match_sizes(pattern))


def match_sizes(pattern: str | os.PathLike) -> dict[str, int]:
    """:func:`match` with each file's size in bytes, from the same listing (no request per file)."""
    pattern = os.fspath(pattern)
    if not is_url(pattern):
        return _local_sizes(glob.glob(pattern))
    fs = _fs(pattern)
    try:
        found = fs.match([pattern])[0].metadata_list
    except Exception as exc:  # noqa: BLE001 - Beam raises BeamIOError and friends per filesystem
        if _missing(exc):
            return {}
        raise InputError(f"cannot list {pattern}: {exc}") from exc
    return {m.path: int(m.size_in_bytes) for m in sorted(found, key=lambda m: m.path)}


def _missing(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("nosuchkey", "not found", "404", "no such file", "does not exist"))


def exists(path: str | os.PathLike) -> bool:
    path = os.fspath(path)
    return os.path.exists(path) if not is_url(path) else bool(_fs(path).exists(path))


def is_file(path: str | os.PathLike) -> bool:
    path = os.fspath(path)
    return os.path.isfile(path) if not is_url(path) else bool(_fs(path).exists(path)) and not path.endswith("/")


def is_dir(path: str | os.PathLike) -> bool:
    """A local directory, or a URL prefix with at least one object under it (object stores have no empty
    directories)."""
    path = os.fspath(path)
    return os.path.isdir(path) if not is_url(path) else bool(match(join(path, "**")))


def makedirs(path: str | os.PathLike) -> None:
    """Create a local directory (and parents); nothing to do on an object store."""
    if not is_url(path):
        os.makedirs(path, exist_ok=True)


def open_read(path: str | os.PathLike) -> IO[bytes]:
    """A seekable binary reader (Parquet readers seek to the footer)."""
    path = os.fspath(path)
    if not is_url(path):
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes

    fs = _fs(path)
    try:
        return fs.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    except Exception as exc:  # noqa: BLE001 - Beam wraps each store's client errors its own way
        if _missing(exc):
            raise FileNotFoundError(f"no such file: {path}") from exc
        raise InputError(f"cannot read {path}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """The store's own words (e.g. ``NoSuchBucket ... does not exist``), without Beam's wrapper."""
    text = str(exc.args[0] if exc.args and isinstance(exc.args[0], str) else exc)
    return text.split("operation: ", 1)[-1]


def read_bytes(path: str | os.PathLike) -> bytes:
    with open_read(path) as fh:
        return fh.read()


def read_text(path: str | os.PathLike) -> str:
    return read_bytes(path).decode("utf-8")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; finished outputs get the usual umask-based mode so other users can read them.
FILE_MODE = 0o666 & ~_current_umask()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` atomically: a local temp file in the same directory renamed into place (umask mode), or one
    object upload. The one writer of every output (shards, manifests, models, reports, cache parts)."""
    _write(path, lambda fh: fh.write(data))


def put_file(local: str, path: str | os.PathLike, chunk: int = 1 << 20) -> tuple[str, int]:
    """Copy local file ``local`` to ``path`` like :func:`write_bytes`, streamed in chunks (never whole in memory);
    returns ``(sha256, size)`` of the bytes copied (as :func:`digest` would, without a second read)."""
    h, size = hashlib.sha256(), 0

    def copy(fh: IO[bytes]) -> None:
        nonlocal size
        with open(local, "rb") as src:
            while block := src.read(chunk):
                h.update(block)
                size += len(block)
                fh.write(block)

    _write(path, copy)
    return h.hexdigest(), size


def _write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    path = os.fspath(path)
    if is_url(path):
        from apache_beam.io.filesystem import CompressionTypes

        fs = _fs(path)
        try:
            with fs.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                write(fh)
        except Exception as exc:  # noqa: BLE001 - a missing bucket, no permission: the user's to fix (exit 4)
            raise OutputError(f"cannot write {path}: {_reason(exc)}") from exc
        return
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def delete(paths: Iterable[str | os.PathLike]) -> None:
    """Remove files (missing ones are fine)."""
    paths = [os.fspath(p) for p in paths]
    remote = [p for p in paths if is_url(p)]
    for p in paths:
        if not is_url(p) and os.path.lexists(p):
            os.unlink(p)
    if remote:
        _fs(remote[0]).delete(remote)


def size(path: str | os.PathLike) -> int:
    path = os.fspath(path)
    if not is_url(path):
        return os.path.getsize(path)
    return int(_fs(path).match([path])[0].metadata_list[0].size_in_bytes)


def stat(path: str | os.PathLike) -> tuple[int, float]:
    """(size in bytes, last-modified time in seconds) of a file: what tells two versions of one path apart."""
    path = os.fspath(path)
    if not is_url(path):
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns / 1e9
    meta = _fs(path).match([path])[0].metadata_list[0]
    return int(meta.size_in_bytes), float(meta.last_updated_in_seconds)


def list_tree(path: str | os.PathLike) -> list[str]:
    """Every file under directory ``path``, at any depth, sorted (nothing for a missing directory)."""
    return sorted(tree_sizes(path))


def tree_sizes(path: str | os.PathLike) -> dict[str, int]:
    """:func:`list_tree` with each file's size in bytes, from the same listing."""
    path = os.fspath(path)
    if is_url(path):
        return match_sizes(join(path, "**"))
    return _local_sizes(os.path.join(d, f) for d, _, names in os.walk(path) for f in names)


def _local_sizes(paths: Iterable[str]) -> dict[str, int]:
    """Sizes of the regular files among ``paths``, sorted (one removed meanwhile, e.g. a temp file, is left out)."""
    out = {}
    for p in sorted(paths):
        try:
            st = os.stat(p)
        except OSError:
            continue
        if S_ISREG(st.st_mode):
            out[p] = st.st_size
    return out


def relpath(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """``path`` (a file under directory ``root``, as :func:`list_tree` lists it) relative to ``root``, with ``/``."""
    path, root = os.fspath(path), os.fspath(root)
    if is_url(root):
        return path[len(root.rstrip("/")) + 1 :]
    return os.path.relpath(path, root).replace(os.sep, "/")


def delete_tree(path: str | os.PathLike) -> None:
    """Remove directory ``path`` and everything under it (a missing one is fine)."""
    path = os.fspath(path)
    if is_url(path):
        delete(list_tree(path))
    elif os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def digest(path: str | os.PathLike, chunk: int = 1 << 20) -> tuple[str, int]:
    """``(sha256, size)`` of a file, from one streamed read."""
    h, size = hashlib.sha256(), 0
    with open_read(path) as fh:
        while block := fh.read(chunk):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    return digest(path, chunk)[0]


def upload_dir(local_dir: str, url: str, last: str | None = None) -> None:
    """Copy a local directory's files (flat) to ``url``; ``last`` (a marker file) is written after the rest."""
    names = sorted(os.listdir(local_dir), key=lambda n: n == last)
    for name in names:
        path = os.path.join(local_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as src:
                write_bytes(join(url, name), src.read())


def local_copy(url: str, marker: str) -> str:
    """A local directory holding the files of directory ``url`` (a local path is returned as is), downloaded once
    per machine into a directory keyed by the URL and reused by every process there. ``marker``: the file whose
    presence proves a copy complete (written last by :func:`upload_dir`)."""
    if not is_url(url):
        return url
    root = os.path.join(tempfile.gettempdir(), "clcm-models")
    local = os.path.join(root, hashlib.sha256(url.encode()).hexdigest()[:24])
    if os.path.isfile(os.path.join(local, marker)):
        return local
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=root)
    try:
        for path in match(join(url, "*")):
            with open_read(path) as src, open(os.path.join(tmp, basename(path)), "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        try:
            os.rename(tmp, local)  # atomic; another process may have won the race, which is as good
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return local
