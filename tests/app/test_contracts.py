"""Contracts and entitlements: a contract change moves its subscribers' audience entries; a customer
reads what their contract entitles them to, and why not when it does not."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from chalice.test import Client

from tests.app.flows import subscribe_and_confirm
from tests.app.test_subscriptions import _audience, _customer
from tests.conftest import account_body, auth, unique


def _put(client: Client, account: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.http.put(f"/accounts/{account}", headers=auth("support-admin"), body=json.dumps(body))
    assert resp.status_code == 200, resp.body
    return dict(json.loads(resp.body))


def test_a_tier_change_moves_the_audience_entries_in_the_delivery_order(
    app_client: Client, provisioned: str, table: Any
) -> None:
    # GIVEN an Elite and a Premium account subscribed to one product
    elite, (product,) = _customer(app_client, "elite")
    premium = unique("premium")
    _put(app_client, premium, account_body("premium", [product]))
    e_sub = subscribe_and_confirm(app_client, provisioned, elite, f"{unique('e')}@customer.example", [product])
    p_sub = subscribe_and_confirm(app_client, provisioned, premium, f"{unique('p')}@customer.example", [product])
    assert [e["subscription_id"] for e in _audience(table, product)] == [e_sub, p_sub]

    # WHEN the Elite contract becomes Xtreme
    assert _put(app_client, elite, account_body("xtreme", [product]))["changed"] is True
    # THEN its entries follow the new tier: Premium goes first now
    entries = _audience(table, product)
    assert [(e["subscription_id"], e["tier"]) for e in entries] == [(p_sub, "premium"), (e_sub, "xtreme")]
    # AND putting the same contract again changes nothing
    assert _put(app_client, elite, account_body("xtreme", [product]))["changed"] is False
    assert _audience(table, product) == entries


def test_a_product_dropped_from_the_contract_drops_its_entries_and_comes_back_with_it(
    app_client: Client, provisioned: str, table: Any
) -> None:
    account, (p1, p2) = _customer(app_client, "premium", products=2)
    sub = subscribe_and_confirm(app_client, provisioned, account, f"{unique('d')}@customer.example", [p1, p2])
    _put(app_client, account, account_body("premium", [p1]))
    assert [e["subscription_id"] for e in _audience(table, p1)] == [sub] and _audience(table, p2) == []
    _put(app_client, account, account_body("premium", [p1, p2]))
    assert [e["subscription_id"] for e in _audience(table, p2)] == [sub]


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


def test_entitlements_of_an_account_without_a_contract_answer_404(app_client: Client) -> None:
    resp = app_client.http.get("/entitlements", headers=auth("customer", unique("none")))
    assert resp.status_code == 404 and json.loads(resp.body)["error"] == "no_contract"
