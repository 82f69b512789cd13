"""``patchctl``'s multipart upload into a bucket that encrypts with a customer KMS key (a stage deployed with
``KmsKeyArn``), against the session's moto server made as strict as S3 (``patchcast_tools/local/strict_s3.py``):
a part's ETag is then not its MD5, and S3 (not the ETag) vouches for the bytes through the part's Content-MD5.
Issue 27, item 2: every such upload used to fail as "arrived altered"."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from chalicelib.adapters.blobs import Blobs
from patchcast_tools.cli import upload as uploader
from patchcast_tools.cli.common import CliError
from tests.conftest import unique

MiB = 1024**2


class PartsApi:
    """What ``patchctl`` asks the API for during a multipart upload: a presigned URL per part (the app's own
    ``Blobs.presigned_part``), for an upload started as the app starts it (no encryption named: the bucket's)."""

    def __init__(self, blobs: Blobs, key: str) -> None:
        self.blobs, self.key = blobs, key
        self.upload_id = blobs.start_multipart(key)

    def call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert (method, path.rsplit("/", 2)[-2:]) == ("POST", ["upload", "parts"])
        return {"parts": [{"url": self.blobs.presigned_part(self.key, self.upload_id, n)} for n in body["parts"]]}


class Altering(requests.Session):
    """Changes one byte of the first ``times`` PUTs of part 1 on the way, headers untouched (a faulty network)."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.puts: list[tuple[int, int]] = []  # (part, status)

    def put(self, url: str, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        part = int(url.split("partNumber=")[1].split("&")[0])
        if part == 1 and self.times > 0:
            self.times -= 1
            data = bytes([data[0] ^ 1]) + data[1:]
        resp = super().put(url, data=data, **kwargs)
        self.puts.append((part, resp.status_code))
        return resp


def _s3() -> Any:
    return boto3.client("s3", region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))


@pytest.fixture
def bucket(moto_server: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A versioned bucket whose default encryption is SSE-KMS with a customer key (what ``KmsKeyArn`` makes)."""
    from patchcast_tools.local import strict_s3

    strict_s3.install()
    monkeypatch.setattr(uploader, "RETRY_BASE_SECONDS", 0.0)
    monkeypatch.setenv("PATCHCAST_STATE_DIR", str(tmp_path / "state"))
    name, s3 = unique("kms-packages").lower(), _s3()
    s3.create_bucket(Bucket=name)
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    rule = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key} if request.param == "kms" else {"SSEAlgorithm": "AES256"}
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": rule}]},
    )
    return name


def _upload(bucket: str, tmp_path: Path, http: requests.Session) -> tuple[PartsApi, bytes, list[dict[str, Any]]]:
    data = os.urandom(6 * MiB)
    path = tmp_path / "sp.zip"
    path.write_bytes(data)
    api = PartsApi(Blobs(_s3(), bucket), f"uploads/{unique('r')}/sp.zip")
    progress = uploader.Progress(len(data), "sp.zip", enabled=False)
    release = {"id": unique("r"), "part_size": 5 * MiB}
    sha256, parts = uploader.multipart_file(api, release, path, len(data), progress, http)  # type: ignore[arg-type]
    assert sha256 == hashlib.sha256(data).hexdigest()
    return api, data, parts


@pytest.mark.parametrize("bucket", ["kms"], indirect=True)
def test_a_multipart_upload_under_sse_kms_completes_though_no_etag_is_an_md5(bucket: str, tmp_path: Path) -> None:
    # WHEN patchctl uploads a file of two parts into the KMS-encrypted bucket
    api, data, parts = _upload(bucket, tmp_path, requests.Session())
    # THEN no part's ETag is its MD5 (as on S3 under SSE-KMS), and none was taken for an altered part
    md5s = [hashlib.md5(data[i : i + 5 * MiB], usedforsecurity=False).hexdigest() for i in (0, 5 * MiB)]
    assert [len(p["etag"]) for p in parts] == [32, 32] and [p["etag"] for p in parts] != md5s
    # AND S3 assembles the parts from those ETags into the very file, encrypted with the key
    api.blobs.complete_multipart(api.key, api.upload_id, [(p["part_number"], p["etag"]) for p in parts])
    got = _s3().get_object(Bucket=bucket, Key=api.key)
    assert got["Body"].read() == data and got["ServerSideEncryption"] == "aws:kms"


@pytest.mark.parametrize("bucket", ["kms", "s3"], indirect=True)
def test_a_part_altered_on_the_way_is_refused_by_s3_and_sent_again(bucket: str, tmp_path: Path) -> None:
    # GIVEN a network that flips a bit of part 1 once
    http = Altering(times=1)
    # WHEN patchctl uploads the file
    api, data, parts = _upload(bucket, tmp_path, http)
    # THEN S3 refused the altered part by its Content-MD5, patchctl sent it again, and the file assembled intact
    assert http.puts == [(1, 400), (1, 200), (2, 200)]
    api.blobs.complete_multipart(api.key, api.upload_id, [(p["part_number"], p["etag"]) for p in parts])
    assert _s3().get_object(Bucket=bucket, Key=api.key)["Body"].read() == data


@pytest.mark.parametrize("bucket", ["kms"], indirect=True)
def test_a_part_altered_every_time_fails_the_upload_naming_it(bucket: str, tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"part 1 failed 4 times \(HTTP 400 \(BadDigest"):
        _upload(bucket, tmp_path, Altering(times=99))
