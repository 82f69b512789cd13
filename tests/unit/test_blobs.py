"""The S3 adapter without a network: the client presigns Regional virtual-hosted URLs in AWS and the
override's address locally; S3's answers that moto does not give (botocore Stubber) map to domain errors."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from chalicelib.adapters import settings, wiring
from chalicelib.adapters.blobs import COPY_PART, MAX_COPY_OBJECT, Blobs, Stored
from chalicelib.domain.core.errors import BadRequest, NotFound

BUCKET = "patchcast-prod-packages"


def _urls(region: str) -> dict[str, str]:
    w = wiring.Wiring(dataclasses.replace(settings.from_env(), region=region))
    blobs = w.blobs
    blobs.bucket = BUCKET
    return {
        "get": blobs.download_url("uploads/r1/fix.zip", version_id="v1", filename="fix.zip"),
        "post": blobs.presigned_post("uploads/r1/fix.zip", size=10)["url"],
        "part": blobs.presigned_part("uploads/r1/fix.zip", "upload-1", 1),
    }


# eu-west-1: an older Region (the global host redirects for a day); us-east-1: the global host's own Region;
# ap-east-1: opened after March 2019, where the global host is refused.
@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "ap-east-1"])
def test_presigned_urls_name_the_regional_virtual_hosted_endpoint(region: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a Lambda's environment: no endpoint override
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    # WHEN the app presigns a download, a POST upload and an upload part
    urls = _urls(region)
    # THEN each goes to the bucket's Regional host, signed for that Region
    for kind, url in urls.items():
        assert urlsplit(url).netloc == f"{BUCKET}.s3.{region}.amazonaws.com", kind
        assert urlsplit(url).scheme == "https", kind
    assert f"%2F{region}%2Fs3%2Faws4_request" in urls["get"]


def test_an_endpoint_override_keeps_presigned_urls_on_the_local_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    for kind, url in _urls("eu-west-1").items():
        assert url.startswith(f"http://127.0.0.1:5999/{BUCKET}"), kind


def _stubbed() -> tuple[Blobs, Stubber]:
    client = boto3.client("s3", region_name="eu-west-1")
    return Blobs(client, BUCKET), Stubber(client)


def test_a_403_on_head_object_is_a_missing_key_and_other_errors_still_raise() -> None:
    # GIVEN S3 as it answers a role without s3:ListBucket: 403 for a key that does not exist
    blobs, stub = _stubbed()
    stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
    stub.add_client_error("head_object", service_error_code="SlowDown", http_status_code=503)
    with stub:
        assert blobs.exists("uploads/r1/fix.zip") is False
        with pytest.raises(ClientError):
            blobs.size_of("uploads/r1/fix.zip")


def test_no_such_upload_on_completion_is_not_found_and_a_refused_part_is_400() -> None:
    blobs, stub = _stubbed()
    stub.add_client_error("complete_multipart_upload", service_error_code="NoSuchUpload", http_status_code=404)
    stub.add_client_error("complete_multipart_upload", service_error_code="InvalidPart", http_status_code=400)
    with stub:
        with pytest.raises(NotFound):
            blobs.complete_multipart("uploads/r1/fix.zip", "u1", [(1, "etag")])
        with pytest.raises(BadRequest, match="InvalidPart"):
            blobs.complete_multipart("uploads/r1/fix.zip", "u1", [(1, "etag")])


def test_rejected_objects_are_copied_in_parts_well_below_the_5_gb_copy_object_limit() -> None:
    assert COPY_PART < MAX_COPY_OBJECT == 5 * 1024**3


def test_stat_names_the_version_and_only_a_full_object_checksum() -> None:
    # GIVEN S3's answers: a versioned object with a full-object SHA-256, a multipart one (composite), and an
    # object of a bucket whose versioning is suspended (S3 says "null")
    blobs, stub = _stubbed()
    digest = bytes(range(32))
    full = {"ContentLength": 3, "VersionId": "v1", "ChecksumSHA256": base64.b64encode(digest).decode()}
    composite = {"ContentLength": 3, "VersionId": "v2", "ChecksumSHA256": "abc=-2", "ChecksumType": "COMPOSITE"}
    for answer in (full, composite, {"ContentLength": 3, "VersionId": "null"}):
        stub.add_response("head_object", answer, {"Bucket": BUCKET, "Key": "k", "ChecksumMode": "ENABLED"})
    with stub:
        assert blobs.stat("k") == Stored(version_id="v1", size=3, sha256=digest.hex())
        assert blobs.stat("k") == Stored(version_id="v2", size=3, sha256=None)
        assert blobs.stat("k").version_id is None  # not pinnable: verification refuses to go on


def test_a_verified_version_is_locked_in_governance_mode() -> None:
    blobs, stub = _stubbed()
    until = datetime(2033, 1, 1, tzinfo=UTC)
    stub.add_response(
        "put_object_retention",
        {},
        {
            "Bucket": BUCKET,
            "Key": "k",
            "VersionId": "v1",
            "Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": until},
        },
    )
    with stub:
        blobs.retain("k", "v1", until=until)
