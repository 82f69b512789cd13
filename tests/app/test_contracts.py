"""Contracts and entitlements: a contract change moves its subscribers' audience entries; a customer
reads what their contract entitles them to, and why not when it does not."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.store import audience as store_audience
from chalicelib.domain.accounts import contracts as accounts
from chalicelib.domain.core.errors import Conflict
from chalicelib.domain.core.messages import AccountChange
from chalicelib.domain.core.models import Account, Product, Release, Subscription, now_iso
from chalicelib.domain.fanout import plan as fanout_plan
from tests.app.flows import subscribe_and_confirm
from tests.app.test_subscriptions import _audience, _customer
from tests.conftest import account_body, auth, unique


def _put(client: Client, account: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.http.put(f"/accounts/{account}", headers=auth("support-admin"), body=json.dumps(body))
    assert resp.status_code == 200, resp.body
    return dict(json.loads(resp.body))


def test_a_tier_change_moves_the_audience_entries_in_the_delivery_order(
    app_client: Client, provisioned: str, table: Any, runner: Any
) -> None:
    # GIVEN an Elite and a Premium account subscribed to one product
    elite, (product,) = _customer(app_client, "elite")
    premium = unique("premium")
    _put(app_client, premium, account_body("premium", [product]))
    e_sub = subscribe_and_confirm(app_client, provisioned, elite, f"{unique('e')}@customer.example", [product])
    p_sub = subscribe_and_confirm(app_client, provisioned, premium, f"{unique('p')}@customer.example", [product])
    assert [e.subscription_id for e in _audience(table, product)] == [e_sub, p_sub]

    # WHEN the Elite contract becomes Xtreme (and the account-change queue is drained)
    assert _put(app_client, elite, account_body("xtreme", [product]))["changed"] is True
    runner.pump()
    # THEN its entries follow the new tier: Premium goes first now
    entries = _audience(table, product)
    assert [(e.subscription_id, e.tier) for e in entries] == [(p_sub, "premium"), (e_sub, "xtreme")]
    # AND putting the same contract again changes nothing
    assert _put(app_client, elite, account_body("xtreme", [product]))["changed"] is False
    runner.pump()
    assert _audience(table, product) == entries


def test_a_product_dropped_from_the_contract_drops_its_entries_and_comes_back_with_it(
    app_client: Client, provisioned: str, table: Any, runner: Any
) -> None:
    account, (p1, p2) = _customer(app_client, "premium", products=2)
    sub = subscribe_and_confirm(app_client, provisioned, account, f"{unique('d')}@customer.example", [p1, p2])
    _put(app_client, account, account_body("premium", [p1]))
    # until the account change is handled its p2 entry stays, but fan-out asks the contract: nobody is due
    (entry,) = _audience(table, p2)
    release = Release(unique("rel"), p2, "1.0", "patch", 2, "ga", "Fix", "Fixes", "published", now_iso(), "t")
    assert fanout_plan.eligible(entry, release, table.get_account(account), datetime.now(UTC)) is None
    runner.pump()
    assert [e.subscription_id for e in _audience(table, p1)] == [sub] and _audience(table, p2) == []
    _put(app_client, account, account_body("premium", [p1, p2]))
    runner.pump()
    assert [e.subscription_id for e in _audience(table, p2)] == [sub]


def _bulk_account(table: Any, tier: str, subscriptions: int) -> tuple[str, str, list[str]]:
    """An account with many active subscriptions to one product, loaded straight into the table."""
    account, product = unique(tier), unique("P")
    contract = Account(account, "Many", tier, (product,), date(2026, 1, 1), date(2030, 12, 31))
    subs = [
        Subscription(
            account, f"s{i:03d}", f"u{i}.{account}@example.com", (product,), ("patch",), 4, ("ga",), "active", now_iso()
        )
        for i in range(subscriptions)
    ]
    table.put_product(Product(product, product, ()))
    table.bulk_load([contract], subs)
    return account, product, [s.subscription_id for s in subs]


def test_a_tier_change_answers_at_once_and_the_queue_reranks_page_by_page(
    app_client: Client, table: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an Elite account with 7 subscriptions, and account-change pages of 4 items (2 subscriptions each)
    account, product, subs = _bulk_account(table, "elite", 7)
    monkeypatch.setattr(store_audience, "SYNC_PAGE", 4)
    pages: list[str | None] = []
    real = accounts.sync_page

    def counted(t: Any, q: Any, change: AccountChange) -> None:  # this account's pages (the queue is the session's)
        if change.account_id == account:
            pages.append(change.cursor)
        real(t, q, change)

    monkeypatch.setattr(accounts, "sync_page", counted)

    # WHEN the contract becomes Xtreme, with no transaction allowed inside the request
    def no_transactions(*_: Any, **__: Any) -> None:
        raise AssertionError("the request rewrote subscriptions itself")

    with monkeypatch.context() as inside:
        inside.setattr(table, "_transact", no_transactions)
        assert _put(app_client, account, account_body("xtreme", [product]))["changed"] is True
    # THEN the entries still carry the old rank until the queue is drained
    assert {e.tier for e in _audience(table, product)} == {"elite"}
    runner.pump()
    # AND then every entry has the new one, written a page per message, the next page re-enqueued
    entries = _audience(table, product)
    assert [e.subscription_id for e in entries] == subs and {e.tier for e in entries} == {"xtreme"}
    assert 3 <= len(pages) <= len(subs) and pages[0] is None and None not in pages[1:]
    # AND a page handled again writes nothing (idempotent)
    monkeypatch.setattr(table, "_transact", no_transactions)
    wired_queues_send(account)
    runner.pump()
    assert _audience(table, product) == entries


def test_a_sync_behind_a_newer_contract_cannot_write_the_older_rank(table: Any) -> None:
    # GIVEN an Elite account's entries, and a sync that read its Xtreme contract just before it became Premium
    account, product, _ = _bulk_account(table, "elite", 1)
    table.put_account(Account(account, "Many", "xtreme", (product,), date(2026, 1, 1), date(2030, 12, 31)))
    real_read = table._db.get_item
    stale = real_read(TableName=table.name, Key={"PK": {"S": f"ACCOUNT#{account}"}, "SK": {"S": "CONTRACT"}})

    def read_then_change(**kw: Any) -> Any:
        table.put_account(Account(account, "Many", "premium", (product,), date(2026, 1, 1), date(2030, 12, 31)))
        return stale

    table._db.get_item = read_then_change
    try:
        # WHEN it writes: THEN it fails (its message is retried, and reads the newer contract)
        with pytest.raises(Conflict):
            table.sync_audience(account)
    finally:
        del table._db.get_item
    assert {e.tier for e in _audience(table, product)} == {"elite"}
    table.sync_audience(account)
    assert {e.tier for e in _audience(table, product)} == {"premium"}


def wired_queues_send(account: str) -> None:
    from chalicelib.adapters import wiring

    wiring.get().queues.send_account_change(AccountChange(account))


def test_entitlements_say_what_the_contract_gives_and_why_it_stopped(app_client: Client) -> None:
    admin = auth("support-admin")
    product = unique("P")
    app_client.http.put(
        f"/products/{product}", headers=admin, body=json.dumps({"name": "Suite", "features": ["X10", "E7"]})
    )
    account = unique("ent")
    _put(app_client, account, account_body("premium", [product]))
    got = json.loads(app_client.http.get("/entitlements", headers=auth("customer", account)).body)
    assert got["tier"] == "premium" and got["active"] is True and got["reason"] == "ok"
    assert got["products"] == [{"product_id": product, "name": "Suite", "features": ["X10"]}]
    assert got["features"]["beta"] is False and got["period"]["end"] == "2030-12-31"

    # WHEN the support period ended yesterday
    yesterday = date.today() - timedelta(days=1)
    _put(app_client, account, account_body("premium", [product], start=date(2025, 1, 1), end=yesterday))
    got = json.loads(app_client.http.get("/entitlements", headers=auth("customer", account)).body)
    assert got["active"] is False and got["reason"] == "support_period_ended"
    assert yesterday.isoformat() in got["message"] and "renew" in got["message"]


def test_entitlements_of_an_account_without_a_contract_answer_403_no_contract(app_client: Client) -> None:
    resp = app_client.http.get("/entitlements", headers=auth("customer", unique("none")))
    assert resp.status_code == 403 and json.loads(resp.body)["error"] == "no_contract"
