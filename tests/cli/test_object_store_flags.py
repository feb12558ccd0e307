"""Object-store flags given to a Beam command (``--s3_endpoint_url`` ...) configure the driver's own file operations,
not only the workers': a user can point clcm at a store with flags instead of the environment."""

from __future__ import annotations

import pytest
import typer

from clcm import storage
from clcm.cli.common import beam_args, run_app

pytestmark = pytest.mark.timeout(60)


def _app(seen: list[str]) -> typer.Typer:
    app = typer.Typer()

    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def write(ctx: typer.Context, url: str) -> None:
        beam_args(ctx)  # what translate / score / run call first
        storage.write_text(url, "hello")
        seen.append(storage.read_text(url))

    return app


def test_s3_endpoint_flag_reaches_the_drivers_storage(s3, moto_endpoint, monkeypatch) -> None:
    bucket = s3()
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # only the flag says where the store is
    seen: list[str] = []
    flags = [f"--s3_endpoint_url={moto_endpoint}", "--s3_region_name=us-east-1"]
    assert run_app(_app(seen), [f"{bucket}/x.txt", *flags]) == 0
    assert seen == ["hello"]
    assert storage.read_text(f"{bucket}/x.txt") == "hello"
