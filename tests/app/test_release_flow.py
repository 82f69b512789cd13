"""One release end to end at the app level: the HTTP API (chalice.test.Client), the event handlers fed
by the local runner, S3/SQS/SES/DynamoDB on the session's moto server."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests
from chalice.test import Client

from tests.conftest import SENDER, account_body, auth, sent_messages, unique
from tests.helpers import link, parse, sha256


def _emails_to(moto: str, address: str) -> list[Any]:
    return [parse(m["raw"]) for m in sent_messages(moto) if any(address in d for d in m["to"])]


def _subscribe_and_confirm(
    client: Client, moto: str, account: str, address: str, products: list[str], channels: list[str] | None = None
) -> str:
    body: dict[str, Any] = {
        "email": address,
        "products": products,
        "kinds": ["patch", "critical-solution"],
        "max_severity": 4,
    }
    if channels:
        body["channels"] = channels
    resp = client.http.post("/subscriptions", headers=auth("customer", account, address), body=json.dumps(body))
    assert resp.status_code == 202, resp.body
    sub_id = json.loads(resp.body)["id"]
    confirm = link(_emails_to(moto, address)[-1], "/subscriptions/confirm")
    path = urlsplit(confirm)
    page = client.http.get(f"{path.path}?{path.query}", headers={"Accept": "application/json"})
    assert page.status_code == 200 and json.loads(page.body)["status"] == "active"
    return sub_id


def _create_release(client: Client, product: str, data: bytes, **extra: Any) -> dict[str, Any]:
    body = {
        "product": product, "version": unique("v"), "kind": "patch", "severity": 2, "title": "Rounding fix",
        "summary": "Fixes totals", "filename": "fix.zip", "size": len(data), "sha256": sha256(data), **extra,
    }  # fmt: skip
    resp = client.http.post("/releases", headers=auth("release-engineer"), body=json.dumps(body))
    assert resp.status_code == 201, resp.body
    return json.loads(resp.body)


def _upload(release: dict[str, Any], data: bytes) -> None:
    up = release["upload"]
    resp = requests.post(up["url"], data=up["fields"], files={"file": ("fix.zip", data)}, timeout=10)
    assert resp.status_code in (200, 204), resp.text


def test_a_release_reaches_its_subscriber_and_the_link_downloads_the_bytes(
    app_client: Client, runner: Any, provisioned: str
) -> None:
    # GIVEN a product, a contract and a confirmed subscriber
    admin = auth("support-admin")
    product, account, address = unique("P"), unique("acct"), f"{unique('ops')}@customer.example"
    app_client.http.put(f"/products/{product}", headers=admin, body=json.dumps({"name": "Product"}))
    app_client.http.put(f"/accounts/{account}", headers=admin, body=json.dumps(account_body("premium", [product])))
    _subscribe_and_confirm(app_client, provisioned, account, address, [product])

    # WHEN a release engineer creates a release and uploads its file
    data = b"PK\x03\x04 patch bytes " * 100
    release = _create_release(app_client, product, data)
    assert release["status"] == "awaiting-upload"
    _upload(release, data)
    runner.pump()

    # THEN the release is published and one notice reached the subscriber
    got = json.loads(app_client.http.get(f"/releases/{release['id']}", headers=auth("release-engineer")).body)
    assert got["status"] == "published"
    notices = [m for m in _emails_to(provisioned, address) if "[Sev 2]" in m["Subject"]]
    assert len(notices) == 1
    notice = notices[0]
    assert notice["From"] == SENDER
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert notice["List-Unsubscribe"].startswith("<https://patchcast.test/unsubscribe?token=")

    # AND the download link redirects to the object, whose bytes match the declared SHA-256
    url = urlsplit(link(notice, "/d/"))
    resp = app_client.http.get(url.path)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(provisioned) and "X-Amz-Signature" in location and "X-Amz-Expires=300" in location
    body = requests.get(location, timeout=10).content
    assert sha256(body) == release["sha256"]


def test_an_upload_whose_bytes_differ_is_rejected_and_notifies_nobody(
    app_client: Client, runner: Any, provisioned: str
) -> None:
    admin = auth("support-admin")
    product, account, address = unique("P"), unique("acct"), f"{unique('ops')}@customer.example"
    app_client.http.put(f"/products/{product}", headers=admin, body=json.dumps({"name": "Product"}))
    app_client.http.put(f"/accounts/{account}", headers=admin, body=json.dumps(account_body("elite", [product])))
    _subscribe_and_confirm(app_client, provisioned, account, address, [product])
    release = _create_release(app_client, product, b"the declared bytes!")
    _upload(release, b"the declared bytez!")  # same size, other bytes
    runner.pump()
    got = json.loads(app_client.http.get(f"/releases/{release['id']}", headers=auth("release-engineer")).body)
    assert got["status"] == "rejected" and "SHA-256" in got["reason"]
    assert [m for m in _emails_to(provisioned, address) if "[Sev" in m["Subject"]] == []


def test_beta_releases_reach_elite_only(app_client: Client, runner: Any, provisioned: str) -> None:
    admin = auth("support-admin")
    product = unique("P")
    app_client.http.put(f"/products/{product}", headers=admin, body=json.dumps({"name": "Product"}))
    addresses = {}
    for tier in ("elite", "premium"):
        account = unique(tier)
        app_client.http.put(f"/accounts/{account}", headers=admin, body=json.dumps(account_body(tier, [product])))
        addresses[tier] = f"{unique(tier)}@customer.example"
        _subscribe_and_confirm(
            app_client, provisioned, account, addresses[tier], [product], ["ga", "beta"] if tier == "elite" else None
        )
    data = b"beta build"
    release = _create_release(app_client, product, data, channel="beta")
    _upload(release, data)
    runner.pump()
    assert len([m for m in _emails_to(provisioned, addresses["elite"]) if "[Sev" in m["Subject"]]) == 1
    assert [m for m in _emails_to(provisioned, addresses["premium"]) if "[Sev" in m["Subject"]] == []
