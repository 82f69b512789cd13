"""A released build cannot change: verification pins and locks one S3 version, every download names it,
a write or delete under the key afterwards changes nothing customers get, and a yank keeps the evidence."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice.test import Client

from chalicelib.adapters.blobs import Stored
from chalicelib.domain.releases import publishing
from tests.app.flows import create_release, emails_to, subscribed_world, upload
from tests.conftest import auth
from tests.helpers import link, sha256

RE = "release-engineer"


def _s3() -> Any:
    return boto3.client("s3", region_name="us-east-1")


def _published(app_client: Client, runner: Any, provisioned: str, data: bytes) -> tuple[Any, str]:
    """A release verified from a presigned POST and published, and its subscriber's download path."""
    product, _account, address = subscribed_world(app_client, provisioned, "premium", prefix="imm")
    created = create_release(app_client, product, data)
    upload(created, data)
    runner.pump()
    from chalicelib.adapters import wiring

    release = wiring.get().table.get_release(created["id"], consistent=True)
    assert release is not None and release.status == "published"
    notice = [m for m in emails_to(provisioned, address) if "[Sev" in m["Subject"]][0]
    return release, urlsplit(link(notice, "/d/")).path


def _fetch(app_client: Client, path: str) -> tuple[bytes, dict[str, list[str]]]:
    resp = app_client.http.get(path)
    assert resp.status_code == 302, resp.body
    location = resp.headers["Location"]
    with urllib.request.urlopen(location, timeout=10) as got:  # noqa: S310 - the moto server of this session
        return got.read(), parse_qs(urlsplit(location).query)


def test_a_write_over_a_verified_build_is_never_what_customers_download(
    app_client: Client, runner: Any, provisioned: str, wired: Any
) -> None:
    # GIVEN a published release whose POST upload verification pinned to the version it hashed
    data = b"the verified build" * 100
    release, download = _published(app_client, runner, provisioned, data)
    head = _s3().head_object(Bucket=wired.blobs.bucket, Key=release.object_key)
    assert release.object_version == head["VersionId"]
    # WHEN other bytes are PUT under its key straight to S3 (and their ObjectCreated is processed)
    _s3().put_object(Bucket=wired.blobs.bucket, Key=release.object_key, Body=b"something else entirely")
    runner.pump()
    # THEN the emailed link still serves exactly the verified bytes, by their version
    body, query = _fetch(app_client, download)
    assert sha256(body) == release.sha256 == sha256(data)
    assert query["versionId"] == [release.object_version]
    # AND the release is untouched by the stray write
    after = wired.table.get_release(release.release_id, consistent=True)
    assert after.status == "published" and after.object_version == release.object_version


def test_a_verified_build_is_locked_in_governance_mode_and_deleting_its_version_is_refused(
    app_client: Client, runner: Any, provisioned: str, wired: Any
) -> None:
    # GIVEN a verified build
    data = b"locked build" * 50
    release, download = _published(app_client, runner, provisioned, data)
    s3, bucket = _s3(), wired.blobs.bucket
    # THEN its version carries a governance retention of the retention period
    head = s3.head_object(Bucket=bucket, Key=release.object_key, VersionId=release.object_version)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until = head["ObjectLockRetainUntilDate"]
    expected = datetime.now(UTC) + timedelta(days=7 * 365)  # the 7 years docs/deploy.md promises, not the constant
    assert abs((until - expected).total_seconds()) < 3600
    # AND deleting that version without a governance bypass is refused
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=release.object_key, VersionId=release.object_version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    # AND a plain delete only hides the key behind a delete marker: the link still names the verified version,
    # which is still there. (Read with the SDK: moto 5.1 refuses a presigned URL carrying
    # response-content-disposition once the key's current version is a delete marker; S3 serves it.)
    assert s3.delete_object(Bucket=bucket, Key=release.object_key)["DeleteMarker"] is True
    resp = app_client.http.get(download)
    assert resp.status_code == 302
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["versionId"] == [release.object_version]
    kept = s3.get_object(Bucket=bucket, Key=release.object_key, VersionId=release.object_version)["Body"].read()
    assert sha256(kept) == release.sha256


def test_a_yank_stops_downloads_and_keeps_the_locked_build(
    app_client: Client, runner: Any, provisioned: str, wired: Any
) -> None:
    # GIVEN a published release
    release, download = _published(app_client, runner, provisioned, b"yanked build" * 40)
    # WHEN it is yanked
    resp = app_client.http.post(
        f"/releases/{release.release_id}/yank", headers=auth(RE), body=json.dumps({"reason": "breaks totals"})
    )
    assert resp.status_code == 200, resp.body
    runner.pump()
    # THEN its link answers 410, and the verified version is still there, still locked (the evidence stays)
    assert app_client.http.get(download).status_code == 410
    s3 = _s3()
    kept = s3.get_object(Bucket=wired.blobs.bucket, Key=release.object_key, VersionId=release.object_version)
    assert sha256(kept["Body"].read()) == release.sha256 and kept["ObjectLockMode"] == "GOVERNANCE"


def test_an_upload_to_a_bucket_without_versions_is_not_verified_and_is_retried(
    app_client: Client, provisioned: str, wired: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an uploaded file, and a bucket that (misconfigured) answers no version id
    product, _account, _address = subscribed_world(app_client, provisioned, "premium", prefix="nov")
    data = b"unpinnable"
    created = create_release(app_client, product, data)
    upload(created, data)
    monkeypatch.setattr(wired.blobs, "stat", lambda key: Stored(version_id=None, size=len(data), sha256=None))
    # WHEN verification runs, THEN it fails loudly (the event is retried, then dead-lettered) and nobody hears
    with pytest.raises(RuntimeError, match="keeps no versions"):
        publishing.verify_upload(wired.table, wired.blobs, wired.queues, f"uploads/{created['id']}/fix.zip")
    assert wired.table.get_release(created["id"], consistent=True).status == "awaiting-upload"
