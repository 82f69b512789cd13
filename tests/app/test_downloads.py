"""Download links at the app level: entitlement at the click, audit, refusals, fresh links, resuming.

Releases are put straight into the table and bucket (the release flow has its own tests), so each test
pays only for the click it pins.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.access.tokens import Purpose, mint
from chalicelib.domain.core.models import Account, Release, Subscription, now_iso
from tests.app.flows import emails_to
from tests.conftest import unique
from tests.helpers import link
from tests.mutations import mutations

JSON = {"Accept": "application/json"}
DATA = b"PK\x03\x04" + bytes(range(256)) * 400  # ~100 KiB: enough to interrupt midway


@dataclass
class World:
    w: Any
    account: str
    sub: str
    email: str
    release: Release

    def token(self, purpose: Purpose = Purpose.DOWNLOAD, *, release_id: str | None = None, expires: int = 0) -> str:
        return mint(
            self.w.keys.ring(),
            purpose,
            account_id=self.account,
            subject=self.sub,
            release_id=release_id or (self.release.release_id if purpose is Purpose.DOWNLOAD else "-"),
            expires=expires or int(time.time()) + 3600,
        )


def _release(w: Any, product: str, *, data: bytes = DATA, channel: str = "ga", status: str = "published") -> Release:
    rid = unique("rel")
    key = f"uploads/{rid}/fix-{rid}.zip"
    put = w.client("s3").put_object(Bucket=w.blobs.bucket, Key=key, Body=data)
    release = Release(
        release_id=rid,
        product=product,
        version=unique("v"),
        kind="patch",
        severity=2,
        channel=channel,
        title="Rounding fix",
        summary="Fixes totals",
        status=status,
        created_at=now_iso(),
        created_by="re",
        filename=f"fix-{rid}.zip",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        object_key=key,
        object_version=put["VersionId"],
        published_at=now_iso(),
    )
    w.table.create_release(release)
    return release


def _world(w: Any, *, tier: str = "premium", end: date = date(2030, 12, 31), channel: str = "ga") -> World:
    product, account, email = unique("P"), unique("acct"), f"{unique('dl')}@customer.example"
    w.table.put_account(Account(account, "Customer", tier, (product,), date(2026, 1, 1), end))
    sub = Subscription(account, unique("sub"), email, (product,), ("patch",), 4, ("ga", "beta"), "pending", now_iso())
    w.table.put_pending_subscription(sub, expires_at=int(time.time()) + 3600)
    w.table.activate_subscription(account, sub.subscription_id, tier=tier)
    return World(w, account, sub.subscription_id, email, _release(w, product, channel=channel))


@pytest.fixture
def world(wired: Any) -> World:
    return _world(wired)


def _get(client: Client, path: str, **headers: str) -> Any:
    return client.http.get(path, headers=headers)


def test_a_click_redirects_to_a_five_minute_presigned_get_of_exactly_that_file_and_is_audited(
    app_client: Client, world: World, provisioned: str
) -> None:
    resp = _get(app_client, f"/d/{world.token()}", **{"user-agent": "curl/8.5"})
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == f"/{world.w.blobs.bucket}/{world.release.object_key}"
    assert query["X-Amz-Expires"] == ["300"] and "X-Amz-Signature" in query
    assert query["versionId"] == [world.release.object_version]  # the verified version, not whatever is current
    assert query["response-content-disposition"] == [f'attachment; filename="{world.release.filename}"']
    audit = list(world.w.table.download_audit(world.release.release_id))
    assert len(audit) == 1
    rec = audit[0]
    assert (rec["account_id"], rec["subscription_id"], rec["email"]) == (world.account, world.sub, world.email)
    assert rec["ip"] == "127.0.0.1" and rec["user_agent"] == "curl/8.5" and rec["at"].endswith("Z")


@pytest.mark.parametrize("query", ["?next=https://evil.example/", "?url=https://evil.example/x.zip", "?key=other"])
def test_query_parameters_change_nothing(app_client: Client, world: World, query: str) -> None:
    token = world.token()
    plain = urlsplit(_get(app_client, f"/d/{token}").headers["Location"])
    steered = _get(app_client, f"/d/{token}{query}")
    assert steered.status_code == 302
    target = urlsplit(steered.headers["Location"])
    assert (target.netloc, target.path) == (plain.netloc, plain.path)
    assert "evil" not in steered.headers["Location"]


def test_a_token_for_release_a_never_yields_release_b(app_client: Client, world: World) -> None:
    other = _release(world.w, world.release.product)
    to_a = urlsplit(_get(app_client, f"/d/{world.token()}").headers["Location"]).path
    assert to_a.endswith(world.release.object_key) and other.release_id not in to_a
    # the same MAC over a payload naming release B does not verify
    kid, _, mac = world.token().split(".")
    _, forged, _ = world.token(release_id=other.release_id).split(".")
    assert _get(app_client, f"/d/{kid}.{forged}.{mac}").status_code == 404


@pytest.mark.parametrize("purpose", [Purpose.UNSUBSCRIBE, Purpose.CONFIRM])
def test_an_unsubscribe_or_confirm_token_is_not_a_download_token(
    app_client: Client, world: World, purpose: Purpose
) -> None:
    token = world.token(purpose)
    for path in (f"/d/{token}", f"/d/{token}/info"):
        resp = _get(app_client, path, **JSON)
        assert resp.status_code == 404 and json.loads(resp.body)["error"] == "invalid_link"


def test_an_unknown_link_gets_a_page_that_says_what_to_do(app_client: Client) -> None:
    resp = _get(app_client, "/d/k1.bm9wZQ.AAAAAAAAAAAAAAAAAAAAAA", Accept="text/html")
    assert resp.status_code == 404 and resp.headers["Content-Type"].startswith("text/html")
    page = resp.body.decode()
    assert "not valid" in page and "copy the whole address" in page


def test_an_expired_link_answers_410_with_a_button_that_emails_a_fresh_link(
    app_client: Client, world: World, provisioned: str
) -> None:
    # GIVEN a link that expired a minute ago
    token = world.token(expires=int(time.time()) - 60)
    # WHEN a browser opens it
    page = _get(app_client, f"/d/{token}", Accept="text/html")
    # THEN it explains and offers a button posting to the renew route
    assert page.status_code == 410
    assert "expired" in page.body.decode() and f"action='https://patchcast.test/d/{token}/renew'" in page.body.decode()
    body = json.loads(_get(app_client, f"/d/{token}", **JSON).body)
    assert body["error"] == "link_expired" and body["action"]["href"] == f"https://patchcast.test/d/{token}/renew"

    # WHEN the button is pressed
    resp = app_client.http.post(f"/d/{token}/renew", headers={"Content-Type": "application/x-www-form-urlencoded"})
    # THEN the page says a link was emailed, without showing it, and the subscriber got a working link
    assert resp.status_code == 202 and "/d/" not in resp.body.decode()
    mails = emails_to(provisioned, world.email)
    assert len(mails) == 1 and "fresh download link" in mails[0].get_body(("plain",)).get_content()
    fresh = urlsplit(link(mails[0], "/d/")).path
    assert fresh != f"/d/{token}" and _get(app_client, fresh).status_code == 302

    # AND pressing it again right away is refused without another email
    again = app_client.http.post(f"/d/{token}/renew", headers={"Content-Type": "application/json", **JSON})
    assert again.status_code == 429 and json.loads(again.body)["error"] == "fresh_link_recently_sent"
    assert len(emails_to(provisioned, world.email)) == 1


def test_no_fresh_link_for_someone_who_unsubscribed_or_a_forged_link(
    app_client: Client, world: World, provisioned: str
) -> None:
    db = world.w.table._db  # test set-up only: mark the subscription unsubscribed
    db.update_item(
        TableName=world.w.table.name,
        Key={"PK": {"S": f"ACCOUNT#{world.account}"}, "SK": {"S": f"SUB#{world.sub}"}},
        UpdateExpression="SET #s = :u",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":u": {"S": "unsubscribed"}},
    )
    expired = world.token(expires=int(time.time()) - 60)
    resp = app_client.http.post(f"/d/{expired}/renew", headers={"Content-Type": "application/json", **JSON})
    assert resp.status_code == 403 and json.loads(resp.body)["error"] == "not_subscribed"
    kid, payload, mac = expired.split(".")
    forged = f"{kid}.{payload}.{mac[::-1]}"
    assert app_client.http.post(f"/d/{forged}/renew", headers=JSON).status_code == 404
    assert emails_to(provisioned, world.email) == []


def test_a_yanked_release_answers_410_with_its_reason(app_client: Client, world: World) -> None:
    world.w.table.transition_release(
        world.release.release_id, from_status=["published"], to_status="yanked", reason="corrupts the ledger"
    )
    for path in (f"/d/{world.token()}", f"/d/{world.token()}/info"):
        resp = _get(app_client, path, **JSON)
        assert resp.status_code == 410
        body = json.loads(resp.body)
        assert body["error"] == "release_yanked" and "corrupts the ledger" in body["message"]
    assert "corrupts the ledger" in _get(app_client, f"/d/{world.token()}", Accept="text/html").body.decode()


def test_links_stop_when_the_support_period_ends(app_client: Client, wired: Any) -> None:
    world = _world(wired, end=date(2026, 1, 31))
    resp = _get(app_client, f"/d/{world.token()}", **JSON)
    assert resp.status_code == 403
    body = json.loads(resp.body)
    assert body["error"] == "support_period_ended" and "2026-01-31" in body["message"] and "renew" in body["message"]


def test_beta_builds_are_refused_to_a_tier_without_beta(app_client: Client, wired: Any) -> None:
    world = _world(wired, tier="premium", channel="beta")
    resp = _get(app_client, f"/d/{world.token()}", Accept="text/html")
    assert resp.status_code == 403 and "Xtreme Elite only" in resp.body.decode()


def test_a_product_dropped_from_the_contract_stops_its_links(app_client: Client, world: World) -> None:
    account = world.w.table.get_account(world.account)
    world.w.table.put_account(replace(account, products=("OTHER",)))
    resp = _get(app_client, f"/d/{world.token()}", **JSON)
    assert resp.status_code == 403 and json.loads(resp.body)["error"] == "product_not_in_contract"


def test_info_tells_a_script_what_it_will_download(app_client: Client, world: World) -> None:
    resp = _get(app_client, f"/d/{world.token()}/info")
    assert resp.status_code == 200
    body = json.loads(resp.body)
    r = world.release
    assert body == {
        "filename": r.filename,
        "size": len(DATA),
        "sha256": hashlib.sha256(DATA).hexdigest(),
        "release": {"id": r.release_id, "product": r.product, "kind": "patch", "version": r.version, "title": r.title},
    }
    assert list(world.w.table.download_audit(r.release_id)) == []  # looking is not downloading


def test_an_interrupted_download_resumes_with_a_range_request_and_matches_the_sha256(
    app_client: Client, world: World
) -> None:
    # GIVEN a download cut off after 40,000 bytes
    first = _get(app_client, f"/d/{world.token()}").headers["Location"]
    with urllib.request.urlopen(first, timeout=10) as resp:  # noqa: S310 - the moto server of this session
        part = resp.read(40_000)
    assert len(part) == 40_000
    # WHEN the person clicks the emailed link again (a fresh presigned URL) and asks for the rest
    second = _get(app_client, f"/d/{world.token()}").headers["Location"]
    ranged = urllib.request.Request(second, headers={"Range": f"bytes={len(part)}-"})
    with urllib.request.urlopen(ranged, timeout=10) as resp:  # noqa: S310
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes {len(part)}-{len(DATA) - 1}/{len(DATA)}"
        rest = resp.read()
    # THEN the pieces make the file the release declared
    assert hashlib.sha256(part + rest).hexdigest() == world.release.sha256


def test_a_token_too_long_for_a_path_is_refused_cleanly(app_client: Client) -> None:
    resp = _get(app_client, "/d/" + quote("k1." + "A" * 100_000 + ".x", safe=""), **JSON)
    assert resp.status_code == 404


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mutated_link_is_refused_with_a_4xx_and_never_redirects(
    app_client: Client, world: World, data: st.DataObject
) -> None:
    mutated = quote(data.draw(mutations(world.token())), safe="")
    for method, path, headers in (
        ("GET", f"/d/{mutated}", {"Accept": "text/html"}),
        ("GET", f"/d/{mutated}/info", {}),
        ("POST", f"/d/{mutated}/renew", {"Accept": "application/json", "Content-Type": "application/json"}),
    ):
        resp: Any = app_client.http.request(method, path, headers=headers)
        assert resp.status_code == 404, (method, path[:80], resp.status_code, resp.body[:200])
        assert "Location" not in resp.headers
        if method != "GET" or path.endswith("/info"):
            assert json.loads(resp.body)["error"] == "invalid_link"


def test_a_click_costs_at_most_three_aws_requests_before_the_redirect(world: World) -> None:
    from bench.downloads import MAX_REQUESTS, click_counts

    # a new container (cold key cache) and then warm clicks, through the route, counted at the wire
    got = click_counts(world.token(), world.w.settings, warm_clicks=2)
    assert got["cold_requests"] <= MAX_REQUESTS and got["warm_requests"] <= 2
    # the audit record and the report's counters are one transaction
    assert set(got["warm_operations"]) == {"DynamoDB_20120810.BatchGetItem", "DynamoDB_20120810.TransactWriteItems"}
