"""``GET /releases/{id}/audience``: who a release would notify now, per tier, with the copies, who is left out
and why, and the time to send it all at the SES rate; computed with fan-out's own planning."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.domain.core.models import Account, Release, Subscription, now_iso
from chalicelib.domain.fanout import plan as fanout_plan
from chalicelib.domain.mail.pacing import QuotaCache, SendQuota
from chalicelib.domain.releases import audience
from tests.conftest import auth


def _sub(account: str, n: int, product: str, *, email: str | None = None, kinds: tuple[str, ...] = ("patch",)) -> Any:
    return Subscription(
        account, f"s{n}", email or f"u{n}.{account}@example.com", (product,), kinds, 4, ("ga",), "active", now_iso()
    )


@pytest.fixture
def population(wired: Any) -> dict[str, Any]:
    """One product's audience with a reason for each way to be left out."""
    tag = uuid.uuid4().hex[:8]
    product = f"P{tag}"
    open_period = (date(2026, 1, 1), date(2030, 12, 31))
    accounts = [
        Account(f"elite-{tag}", "Elite", "elite", (product,), *open_period, csm_email=f"csm-{tag}@vendor.example"),
        Account(f"premium-{tag}", "Premium", "premium", (product,), *open_period),
        Account(f"ended-{tag}", "Ended", "premium", (product,), date(2024, 1, 1), date(2025, 1, 1)),
        Account(f"other-{tag}", "Other product", "xtreme", ("ELSEWHERE",), *open_period),
        Account(f"xtreme-{tag}", "Xtreme", "xtreme", (product,), *open_period),
    ]
    e, p, ended, other, x = (a.account_id for a in accounts)
    subs = [
        _sub(e, 1, product),
        _sub(e, 2, product),
        _sub(e, 3, product, email=f"u1.{e}@example.com"),  # the same address again in the account
        _sub(e, 4, product, kinds=("service-pack",)),  # does not want patches
        _sub(p, 1, product),
        _sub(ended, 1, product),
        _sub(other, 1, product),
        _sub(x, 1, product),
        _sub(x, 2, product),
    ]
    wired.table.bulk_load(accounts, subs)
    # An address suppressed after fan-out's index listed it (delivery would skip it)
    wired.table._db.put_item(
        TableName=wired.table.name, Item={"PK": {"S": f"SUPPRESSED#u2.{x}@example.com"}, "SK": {"S": "SUPPRESSION"}}
    )
    release = Release(f"rel-{tag}", product, "1.0", "patch", 2, "ga", "Fix", "Fixes", "available", now_iso(), "t")
    wired.table.create_release(release)
    return {"release": release, "product": product}


def _preview(client: Client, release_id: str) -> dict[str, Any]:
    resp = client.http.get(f"/releases/{release_id}/audience", headers=auth("release-engineer"))
    assert resp.status_code == 200, resp.body
    return dict(json.loads(resp.body))


def test_the_preview_counts_who_would_be_notified_and_why_others_are_left_out(
    app_client: Client, wired: Any, population: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN SES lets the account send 2 emails a second
    monkeypatch.setitem(wired.__dict__, "quota", QuotaCache(lambda: SendQuota(2.0)))
    got = _preview(app_client, population["release"].release_id)
    elite, premium, xtreme = (got["tiers"][t] for t in ("elite", "premium", "xtreme"))
    # THEN Elite: two subscribers and the CSM copy; one repeat address and one preference left out
    assert (elite["subscribers"], elite["csm_copies"], elite["emails"]) == (2, 1, 3)
    assert elite["excluded"]["same_address"] == 1 and elite["excluded"]["preferences"] == 1
    # AND Premium: one subscriber; one whose support period ended
    assert (premium["subscribers"], premium["excluded"]["period_ended"]) == (1, 1)
    # AND Xtreme: one subscriber, one suppressed, one whose contract lacks the product
    assert (xtreme["subscribers"], xtreme["excluded"]["suppressed"], xtreme["excluded"]["not_entitled"]) == (1, 1, 1)
    assert got["totals"]["emails"] == 5 and got["totals"]["subscribers"] == 4
    # AND the time to send at 2 per second, Elite done first
    assert got["send_rate_per_s"] == 2.0 and got["estimated_send_s"] == 2.5
    assert (elite["done_after_s"], premium["done_after_s"], xtreme["done_after_s"]) == (1.5, 2.0, 2.5)
    assert got["complete"] is True


def test_the_preview_plans_with_fanout_itself(
    app_client: Client, population: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN fan-out's decision changed (here: nobody is eligible)
    monkeypatch.setattr(fanout_plan, "eligible", lambda *_a, **_k: None)
    got = _preview(app_client, population["release"].release_id)
    # THEN the preview follows it: nobody would be notified
    assert got["totals"]["emails"] == 0


def test_the_preview_reads_the_index_across_pages_and_the_real_quota(
    app_client: Client, wired: Any, population: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN pages of two entries (accounts span pages: the carry keeps one notice per address)
    monkeypatch.setattr(audience, "PREVIEW_PAGE", 2)
    # AND a quota cache that has not asked SES yet (the route asks: GetAccount from the API function)
    monkeypatch.setitem(wired.__dict__, "quota", QuotaCache(wired.mailer.send_quota))
    got = _preview(app_client, population["release"].release_id)
    assert got["pages"] >= 5
    assert got["totals"]["emails"] == 5 and got["tiers"]["elite"]["excluded"]["same_address"] == 1
    assert "send_rate_per_s" in got and got["rate_source"]


def test_a_preview_of_an_unknown_release_is_404_and_customers_get_403(app_client: Client) -> None:
    assert app_client.http.get("/releases/nope/audience", headers=auth("release-engineer")).status_code == 404
    assert app_client.http.get("/releases/nope/audience", headers=auth("customer", "acct")).status_code == 403
