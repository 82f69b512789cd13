from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client


@pytest.fixture(scope="session")
def app_client(wired: object) -> Iterator[Client]:
    import app as app_module

    with Client(app_module.app, stage_name="local") as client:
        yield client


@pytest.fixture(scope="session")
def runner(wired: object) -> Any:
    """The local event runner, driven synchronously (``pump``) instead of by threads."""
    import app as app_module
    from patchcast_tools.local.runner import Runner

    return Runner(app_module.app, boto3.session.Session(region_name="us-east-1"))


@pytest.fixture(autouse=True)
def uploads_left_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test owns the multipart uploads it starts (a release awaiting a large file starts one): they are
    aborted when it ends, so a test that counts the bucket's pending uploads sees only its own, in any order."""
    if "wired" not in request.fixturenames:
        yield
        return
    bucket = request.getfixturevalue("wired").settings.names.bucket
    s3 = boto3.client("s3", region_name="us-east-1")

    def pending() -> set[tuple[str, str]]:
        return {(u["Key"], u["UploadId"]) for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}

    before = pending()
    yield
    for key, upload_id in pending() - before:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Moves the confirmation rate limits' clock on (``later(601)``: past the 10 minutes between two
    confirmations of one address), for tests that confirm an address more than once."""
    from chalicelib.domain.subscriptions import confirmations

    offset = [0.0]
    monkeypatch.setattr(confirmations, "clock", lambda: time.time() + offset[0])

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance
