"""One release end to end at the app level: the HTTP API (chalice.test.Client), the event handlers fed
by the local runner, S3/SQS/SES/DynamoDB on the session's moto server."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import requests
from chalice.test import Client

from chalicelib.domain.core.models import Account, Subscription, now_iso
from tests.app.flows import create_release, emails_to, subscribe_and_confirm, subscribed_world, upload
from tests.conftest import SENDER, account_body, auth, unique
from tests.helpers import link, sha256


def test_a_release_reaches_its_subscriber_and_the_link_downloads_the_bytes(
    app_client: Client, runner: Any, provisioned: str
) -> None:
    # GIVEN a product, a contract and a confirmed subscriber
    product, _account, address = subscribed_world(app_client, provisioned, "premium")

    # WHEN a release engineer creates a release and uploads its file
    data = b"PK\x03\x04 patch bytes " * 100
    release = create_release(app_client, product, data)
    assert release["status"] == "awaiting-upload"
    upload(release, data)
    runner.pump()

    # THEN the release is published and one notice reached the subscriber
    got = json.loads(app_client.http.get(f"/releases/{release['id']}", headers=auth("release-engineer")).body)
    assert got["status"] == "published"
    notices = [m for m in emails_to(provisioned, address) if "[Sev 2]" in m["Subject"]]
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
    product, _account, address = subscribed_world(app_client, provisioned, "elite")
    release = create_release(app_client, product, b"the declared bytes!")
    upload(release, b"the declared bytez!")  # same size, other bytes
    runner.pump()
    got = json.loads(app_client.http.get(f"/releases/{release['id']}", headers=auth("release-engineer")).body)
    assert got["status"] == "rejected" and "SHA-256" in got["reason"]
    assert [m for m in emails_to(provisioned, address) if "[Sev" in m["Subject"]] == []


def test_beta_releases_reach_elite_only(app_client: Client, runner: Any, provisioned: str, table: Any) -> None:
    # GIVEN a product, an Elite subscriber who wants beta builds, and a Premium subscriber who wants them too:
    # the API refuses beta to Premium, so that subscription is written straight through the store (as a
    # contract downgraded after subscribing would leave it) and only the entitlement can keep it out
    admin = auth("support-admin")
    product = unique("P")
    app_client.http.put(f"/products/{product}", headers=admin, body=json.dumps({"name": "Product"}))
    elite, premium = unique("elite"), unique("premium")
    addresses = {tier: f"{unique(tier)}@customer.example" for tier in ("elite", "premium")}
    app_client.http.put(f"/accounts/{elite}", headers=admin, body=json.dumps(account_body("elite", [product])))
    subscribe_and_confirm(app_client, provisioned, elite, addresses["elite"], [product], ["ga", "beta"])
    table.bulk_load(
        [Account(premium, "Premium Customer", "premium", (product,), date(2026, 1, 1), date(2030, 12, 31))],
        [
            Subscription(
                premium, "s1", addresses["premium"], (product,), ("patch",), 4, ("ga", "beta"), "active", now_iso()
            )
        ],
    )

    # WHEN a beta release is uploaded and published
    data = b"beta build"
    release = create_release(app_client, product, data, channel="beta")
    upload(release, data)
    runner.pump()

    # THEN the Elite subscriber got it, the Premium one (who asked for it) did not
    assert len([m for m in emails_to(provisioned, addresses["elite"]) if "[Sev" in m["Subject"]]) == 1
    assert [m for m in emails_to(provisioned, addresses["premium"]) if "[Sev" in m["Subject"]] == []
