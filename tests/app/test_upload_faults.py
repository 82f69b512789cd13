"""Uploads where AWS is less kind than moto: HeadObject's 403 without s3:ListBucket, a completion retried after
a gateway timeout (S3 answers NoSuchUpload), an ID token that expires mid-upload, files too large to verify,
rejected objects too large for one CopyObject. ``tests/s3_double.py`` gives the app's S3 client AWS's answers."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from chalice.test import Client

from chalicelib.domain.access import auth as auth_module
from chalicelib.domain.releases.body import MAX_FILE_SIZE
from patchcast_tools.cli import upload as uploader
from tests.app import test_release_publishing as publishing
from tests.app.cli_api import adapter, cli_api
from tests.app.flows import create_release, emails_to, upload
from tests.app.test_release_publishing import FlakySession, MiB, _get, _new
from tests.conftest import STATE, auth
from tests.helpers import sha256

RE = "release-engineer"
world, small_multipart = publishing.world, publishing.small_multipart  # the same fixtures


def _complete(client: Client, release_id: str, body: dict[str, Any]) -> Any:
    return client.http.post(f"/releases/{release_id}/upload/complete", headers=auth(RE), body=json.dumps(body))


def _parts_up(client: Client, release: dict[str, Any], data: bytes) -> list[dict[str, Any]]:
    """PUT every part of ``data`` to its presigned URL; the {part_number, etag} list completion wants."""
    count = release["upload"]["part_count"]
    size = release["upload"]["part_size"]
    resp = client.http.post(
        f"/releases/{release['id']}/upload/parts",
        headers=auth(RE),
        body=json.dumps({"parts": list(range(1, count + 1))}),
    )
    urls = json.loads(resp.body)["parts"]
    return [
        {
            "part_number": u["part_number"],
            "etag": requests.put(u["url"], data=data[i * size : (i + 1) * size], timeout=30).headers["ETag"],
        }
        for i, u in enumerate(urls)
    ]


def _notices(moto: str, address: str, version: str) -> list[Any]:
    return [m for m in emails_to(moto, address) if version in str(m["Subject"]) and "RECALL" not in m["Subject"]]


# -- HeadObject answers 403 for a missing key (no s3:ListBucket) ------------------------------------------------
def test_completing_before_the_file_arrived_is_400_upload_incomplete_and_changes_nothing(
    app_client: Client, world: dict[str, str]
) -> None:
    data = b"not posted yet"
    release = _new(app_client, world["product"], filename="u.zip", size=len(data))
    resp = _complete(app_client, release["id"], {"sha256": sha256(data)})
    assert resp.status_code == 400, resp.body
    assert json.loads(resp.body)["error"] == "upload_incomplete"
    got = _get(app_client, release["id"])
    assert got["status"] == "awaiting-upload" and got["sha256"] is None


def test_an_upload_deleted_before_its_verification_is_dropped_without_an_error(
    app_client: Client, wired: Any, world: dict[str, str]
) -> None:
    # GIVEN an ObjectCreated for an object that is gone by the time the uploads function reads it
    data = b"here and gone"
    release = create_release(app_client, world["product"], data)
    upload(release, data)
    key = f"uploads/{release['id']}/fix.zip"
    boto3.client("s3", region_name="us-east-1").delete_object(Bucket=wired.settings.names.bucket, Key=key)
    event = app_client.events.generate_sqs_event(
        message_bodies=[json.dumps({"Records": [{"s3": {"object": {"key": key}}}]})], queue_name="uploads"
    )
    # WHEN the function runs, THEN it ends without raising (no retries into the DLQ and its alarm)
    app_client.lambda_.invoke("on_upload", event)
    assert _get(app_client, release["id"])["status"] == "awaiting-upload"


# -- completion is idempotent -----------------------------------------------------------------------------------
@pytest.mark.parametrize("verified_first", [False, True])
def test_a_multipart_completion_retried_after_a_gateway_timeout_answers_202_and_notifies_once(
    app_client: Client,
    runner: Any,
    provisioned: str,
    world: dict[str, str],
    small_multipart: None,
    verified_first: bool,
) -> None:
    # GIVEN a multipart upload completed once, whose answer the client never saw (API Gateway's 504 at 29 s)
    data = os.urandom(6 * MiB)
    release = _new(app_client, world["product"], filename="sp.zip", size=len(data))
    body = {"sha256": sha256(data), "parts": _parts_up(app_client, release, data)}
    assert _complete(app_client, release["id"], body).status_code == 202
    if verified_first:
        runner.pump()
    # WHEN the client retries: S3 knows the upload no more (NoSuchUpload) and the release may have moved on
    again = _complete(app_client, release["id"], body)
    # THEN the retry answers as the first call did, and the release goes out once
    assert again.status_code == 202, again.body
    runner.pump()
    assert _get(app_client, release["id"])["status"] == "published"
    assert len(_notices(provisioned, world["address"], release["version"])) == 1


def test_a_multipart_upload_s3_no_longer_has_is_400_upload_incomplete(
    app_client: Client, wired: Any, world: dict[str, str], small_multipart: None
) -> None:
    data = os.urandom(6 * MiB)
    release = _new(app_client, world["product"], filename="sp.zip", size=len(data))
    parts = _parts_up(app_client, release, data)
    pending = wired.blobs._s3.list_multipart_uploads(Bucket=wired.blobs.bucket, Prefix=f"uploads/{release['id']}/")
    for u in pending["Uploads"]:  # as the 7-day lifecycle rule does
        wired.blobs.abort_multipart(u["Key"], u["UploadId"])
    resp = _complete(app_client, release["id"], {"sha256": sha256(data), "parts": parts})
    assert resp.status_code == 400 and json.loads(resp.body)["error"] == "upload_incomplete", resp.body


def test_a_post_upload_completed_again_after_verification_answers_202_and_a_different_sha256_409(
    app_client: Client, runner: Any, world: dict[str, str]
) -> None:
    data = b"posted once"
    release = _new(app_client, world["product"], filename="u.zip", size=len(data))
    upload(release, data)
    assert _complete(app_client, release["id"], {"sha256": sha256(data)}).status_code == 202
    runner.pump()
    again = _complete(app_client, release["id"], {"sha256": sha256(data)})
    assert again.status_code == 202 and json.loads(again.body)["status"] == "published"
    other = _complete(app_client, release["id"], {"sha256": sha256(b"other")})
    assert other.status_code == 409 and json.loads(other.body)["error"] == "not_awaiting_upload"


# -- an ID token that expires mid-upload --------------------------------------------------------------------------
@pytest.fixture
def local_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    """patchctl mints its tokens from the session's issuer, as against the local stack."""
    monkeypatch.setenv("PATCHCAST_STATE_DIR", str(STATE))
    monkeypatch.delenv("PATCHCAST_TOKEN", raising=False)


@pytest.fixture
def short_tokens(local_issuer: None, monkeypatch: pytest.MonkeyPatch) -> float:
    """Local tokens of 2 s and a verifier without leeway: an upload outlives its token in seconds, not an hour."""
    monkeypatch.setenv("PATCHCAST_LOCAL_TOKEN_SECONDS", "2")
    monkeypatch.setattr(auth_module, "LEEWAY_SECONDS", 0)
    return 2.5


class SlowSession(FlakySession):
    """Part 1 takes longer than the token minted at the start lives."""

    def __init__(self, pause: float) -> None:
        super().__init__({})
        self.pause = pause

    def put(self, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        resp = super().put(url, *args, **kwargs)
        if len(self.puts) == 1:
            time.sleep(self.pause)
        return resp


def test_a_multipart_upload_outliving_its_token_renews_it_and_completes(
    app_client: Client,
    runner: Any,
    world: dict[str, str],
    small_multipart: None,
    short_tokens: float,
    tmp_path: Path,
) -> None:
    # GIVEN patchctl's client with a token that expires while part 1 is being sent
    path = tmp_path / "sp.zip"
    path.write_bytes(os.urandom(6 * MiB))
    api = cli_api(app_client)
    release = api.call(
        "POST",
        "/releases",
        {
            "product": world["product"],
            "version": f"v{time.time_ns()}",
            "kind": "patch",
            "severity": 2,
            "title": "Fix",
            "filename": "sp.zip",
            "size": 6 * MiB,
        },
    )
    # WHEN it uploads both parts and completes
    uploader.upload(api, release, path, show_progress=False, http=SlowSession(short_tokens))
    runner.pump()
    # THEN the part URL after the expiry was refused once, asked again with a fresh token, and the upload verified
    statuses = adapter(api).statuses
    assert (f"/releases/{release['id']}/upload/parts", 401) in statuses
    assert statuses[-1] == (f"/releases/{release['id']}/upload/complete", 202)
    assert _get(app_client, release["id"])["status"] == "published"


def test_a_post_upload_outliving_its_token_still_completes(
    app_client: Client,
    runner: Any,
    world: dict[str, str],
    short_tokens: float,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "u.zip"
    path.write_bytes(b"a slow post" * 100)
    api = cli_api(app_client)
    release = api.call(
        "POST",
        "/releases",
        {
            "product": world["product"],
            "version": f"v{time.time_ns()}",
            "kind": "patch",
            "severity": 2,
            "title": "Fix",
            "filename": "u.zip",
            "size": path.stat().st_size,
        },
    )
    post = uploader.post_file

    def slow_post(*args: Any) -> str:
        digest = post(*args)
        time.sleep(short_tokens)  # the POST of a large file takes longer than the token lives
        return digest

    monkeypatch.setattr(uploader, "post_file", slow_post)
    uploader.upload(api, release, path, show_progress=False)
    runner.pump()
    assert (f"/releases/{release['id']}/upload/complete", 401) in adapter(api).statuses
    assert _get(app_client, release["id"])["status"] == "published"


# -- sizes ---------------------------------------------------------------------------------------------------------
def test_a_file_larger_than_verification_can_read_in_time_is_400_naming_size_and_the_limit(
    app_client: Client, world: dict[str, str]
) -> None:
    body = {
        "product": world["product"],
        "version": f"v{time.time_ns()}",
        "kind": "patch",
        "severity": 2,
        "title": "Fix",
        "filename": "big.zip",
        "size": MAX_FILE_SIZE + 1,
    }
    resp = app_client.http.post("/releases", headers=auth(RE), body=json.dumps(body))
    assert resp.status_code == 400, resp.body
    message = json.loads(resp.body)["message"]
    assert "'size'" in message and str(MAX_FILE_SIZE) in message
    assert _new(app_client, world["product"], version=body["version"], filename="big.zip", size=MAX_FILE_SIZE)


def test_a_rejected_upload_above_the_copy_part_is_set_aside_in_parts_not_one_copy_object(
    app_client: Client,
    runner: Any,
    wired: Any,
    world: dict[str, str],
    small_multipart: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an uploaded object larger than the managed copy's part (S3 refuses one CopyObject above 5 GB)
    monkeypatch.setattr(wired.blobs, "_copy_part", 5 * MiB)
    operations: list[str] = []
    record = lambda model, **_: operations.append(model.name)  # noqa: E731
    wired.blobs._s3.meta.events.register("before-call.s3.*", record)
    try:
        data = os.urandom(6 * MiB)
        release = _new(app_client, world["product"], filename="sp.zip", size=len(data), sha256=sha256(b"other"))
        assert _complete(app_client, release["id"], {"parts": _parts_up(app_client, release, data)}).status_code == 202
        # WHEN verification rejects it
        runner.pump()
    finally:
        wired.blobs._s3.meta.events.unregister("before-call.s3.*", record)
    # THEN it moved to rejected/ in parts, byte for byte
    got = _get(app_client, release["id"])
    assert got["status"] == "rejected"
    assert "UploadPartCopy" in operations and "CopyObject" not in operations
    s3 = boto3.client("s3", region_name="us-east-1")
    moved = s3.get_object(Bucket=wired.settings.names.bucket, Key=f"rejected/{release['id']}/sp.zip")["Body"].read()
    assert moved == data
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=wired.settings.names.bucket, Key=f"uploads/{release['id']}/sp.zip")
    # AND in the versioned bucket the delete is a delete marker over the rejected (never locked) version
    versions = s3.list_object_versions(Bucket=wired.settings.names.bucket, Prefix=f"uploads/{release['id']}/")
    assert [m["IsLatest"] for m in versions["DeleteMarkers"]] == [True]
    assert [(v["IsLatest"], v["Size"]) for v in versions["Versions"]] == [(False, len(data))]


def test_a_post_upload_whose_completion_was_lost_is_completed_from_the_file_without_sending_it_again(
    app_client: Client, runner: Any, world: dict[str, str], tmp_path: Path, local_issuer: None
) -> None:
    # GIVEN a file posted to S3 whose completion never reached the API
    path = tmp_path / "u.zip"
    path.write_bytes(b"posted, never completed" * 10)
    release = _new(app_client, world["product"], filename="u.zip", size=path.stat().st_size)
    upload(release, path.read_bytes())
    # WHEN `patchctl release upload ID --file PATH` runs for it
    done = uploader.complete_again(cli_api(app_client), _get(app_client, release["id"]), path, show_progress=False)
    runner.pump()
    # THEN it is completed with the file's SHA-256 and goes out
    assert done["sha256"] == sha256(path.read_bytes())
    assert _get(app_client, release["id"])["status"] == "published"
