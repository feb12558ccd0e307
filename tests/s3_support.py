"""A local S3-protocol server for the object-store tests: ``moto_server`` started on loopback by the test session.

Use the ``s3`` fixture (registered in ``tests/conftest.py``): it yields a function that makes a fresh bucket and
returns its ``s3://`` URL. The server is started once per session on a free port; the environment that boto3 (and
so Beam's S3 filesystem and :mod:`clcm.storage`) reads points at it for the test: no flags, no network.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MOTO_SERVER = Path(sys.executable).with_name("moto_server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a moto S3 server running for the whole session (skipped if moto is absent)."""
    if not MOTO_SERVER.is_file():
        pytest.skip(f"moto_server not found beside {sys.executable} (pip install 'moto[s3]' flask flask-cors)")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"  # a file, not a pipe: moto logs every request, and a
    with open(log, "wb") as out:  # full pipe nobody reads would stall the server
        proc = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait_listening(port, proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


S3_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], str]]:
    """A function making a fresh, empty bucket on the session's moto server and returning its ``s3://`` URL.

    The test's environment points boto3 at the server (``AWS_ENDPOINT_URL``, dummy credentials), so
    :mod:`clcm.storage`, Beam's S3 filesystem and any worker process the test starts all reach it.
    """
    import boto3

    values = (moto_endpoint, "testing", "testing", "us-east-1")
    for name, value in zip(S3_ENV, values, strict=True):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")

    def bucket() -> str:
        name = f"clcm-test-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=name)
        return f"s3://{name}"

    reset_storage()
    yield bucket
    reset_storage()


def reset_storage() -> None:
    """Beam caches its filesystem options and clcm.storage its credential check per process: reset both so a
    test starts from its environment."""
    from apache_beam.io.filesystems import FileSystems

    import clcm.storage

    FileSystems._pipeline_options = None  # noqa: SLF001 - Beam exposes no reset
    clcm.storage._configured = False  # noqa: SLF001
    clcm.storage._credentials_found = False  # noqa: SLF001
