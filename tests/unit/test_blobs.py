"""The S3 client the app presigns with: Regional virtual-hosted URLs in AWS, the override's address locally
(no network: presigning is local computation)."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import pytest

from chalicelib import settings, wiring

BUCKET = "patchcast-prod-packages"


def _urls(region: str) -> dict[str, str]:
    w = wiring.Wiring(dataclasses.replace(settings.from_env(), region=region))
    blobs = w.blobs
    blobs.bucket = BUCKET
    return {
        "get": blobs.download_url("uploads/r1/fix.zip", filename="fix.zip"),
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
