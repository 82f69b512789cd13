"""Confirmation emails cannot flood: one address gets at most one per 10 minutes and 3 per 24 hours, one
account may ask for at most 50 per hour; beyond that a 429 with Retry-After, no email, nothing written.
Concurrent requests cannot pass a limit together. A suppressed address gets none (409); support lifts it."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalice.test import Client

from chalicelib.domain.access.auth import Identity
from chalicelib.domain.core.errors import PatchcastError
from tests.app.flows import emails_to
from tests.app.test_subscriptions import _account_items, _customer, _new
from tests.conftest import auth, unique


def _subscribe(client: Client, account: str, address: str, product: str) -> Any:
    body = {**_new(), "products": [product], "email": address}
    return client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body))


def _confirmations(moto: str, address: str) -> int:
    return sum("Confirm" in str(m["Subject"]) for m in emails_to(moto, address))


def _drop(client: Client, account: str, sub_id: str) -> None:
    resp = client.http.delete(f"/subscriptions/{sub_id}", headers=auth("customer", account))
    assert resp.status_code == 204


def _refused(resp: Any, low: int, high: int) -> dict[str, Any]:
    body = json.loads(resp.body)
    assert resp.status_code == 429 and body["error"] == "too_many_confirmations" and body["message"], resp.body
    assert low <= int(resp.headers["Retry-After"]) <= high and body["retry_after"] == int(resp.headers["Retry-After"])
    return dict(body)


def test_a_second_confirmation_to_an_address_within_10_minutes_is_429_and_sends_nothing(
    app_client: Client, provisioned: str, table: Any, later: Any
) -> None:
    # GIVEN an address sent a confirmation, whose subscription was then removed (the address is free again)
    account, (product,) = _customer(app_client)
    address = f"{unique('gap')}@customer.example"
    first = _subscribe(app_client, account, address, product)
    _drop(app_client, account, json.loads(first.body)["id"])
    later(120)
    # WHEN it is subscribed again two minutes later, in capitals (most hosts deliver that to the same inbox)
    resp = _subscribe(app_client, account, address.upper(), product)
    # THEN 429 with the seconds left of the 10 minutes, no email, and no pending subscription written
    _refused(resp, 470, 480)
    assert _confirmations(provisioned, address) == 1 and _account_items(table, account) == ["CONTRACT"]
    # AND once the 10 minutes are over it is sent
    later(481)
    assert _subscribe(app_client, account, address, product).status_code == 202
    assert _confirmations(provisioned, address) == 2


def test_the_fourth_confirmation_to_an_address_in_a_day_is_429_even_from_another_account(
    app_client: Client, provisioned: str, table: Any, later: Any
) -> None:
    # GIVEN three confirmations to one address within half an hour, from three accounts
    address = f"{unique('day')}@customer.example"
    for _ in range(3):
        account, (product,) = _customer(app_client)
        assert _subscribe(app_client, account, address, product).status_code == 202
        later(601)
    # WHEN a fourth account subscribes it
    account, (product,) = _customer(app_client)
    resp = _subscribe(app_client, account, address, product)
    # THEN 429 until the first of the three is 24 hours old; no email; nothing written
    _refused(resp, 86_400 - 3 * 601 - 5, 86_400 - 3 * 601)
    assert _confirmations(provisioned, address) == 3 and _account_items(table, account) == ["CONTRACT"]


def test_the_51st_confirmation_an_account_asks_for_in_an_hour_is_429(
    app_client: Client, provisioned: str, table: Any
) -> None:
    # GIVEN an account that had 50 confirmations sent to 50 addresses
    account, (product,) = _customer(app_client)
    for n in range(50):
        assert _subscribe(app_client, account, f"{unique(f'acct{n}-')}@customer.example", product).status_code == 202
    before = _account_items(table, account)
    # WHEN it asks for a 51st
    address = f"{unique('51st')}@customer.example"
    resp = _subscribe(app_client, account, address, product)
    # THEN 429 (until the first of the 50 is an hour old), no email, nothing written
    body = _refused(resp, 3_500, 3_600)
    assert "account" in body["message"]
    assert _confirmations(provisioned, address) == 0 and _account_items(table, account) == before


def _create_at_once(wired: Any, asks: list[tuple[str, str, str]]) -> list[str]:
    """``POST /subscriptions``'s domain call for each (account, product, address), all at once (as concurrent
    API requests would), on the session's moto server: "sent", or the error code."""
    from chalicelib.domain.subscriptions import preregistration as subscriptions
    from chalicelib.routes import link_maker

    maker = link_maker()

    def create(ask: tuple[str, str, str]) -> str:
        account, product, address = ask
        who = Identity(subject="c", email=None, account_id=account, groups=frozenset())
        body = {**_new(), "products": [product], "email": address}
        try:
            subscriptions.create(wired.table, wired.mailer, maker, who, body, confirm_hours=72)
        except PatchcastError as err:
            return err.code
        return "sent"

    with ThreadPoolExecutor(len(asks)) as pool:
        return list(pool.map(create, asks))


def test_concurrent_requests_for_one_address_send_one_confirmation(
    app_client: Client, provisioned: str, wired: Any
) -> None:
    # GIVEN eight accounts that subscribe one address at the same moment
    address = f"{unique('burst')}@customer.example"
    asks = [(account, products[0], address) for account, products in (_customer(app_client) for _ in range(8))]
    outcomes = _create_at_once(wired, asks)
    # THEN exactly one confirmation went out; the others were refused with 429
    assert outcomes.count("sent") == 1 and set(outcomes) == {"sent", "too_many_confirmations"}, outcomes
    assert _confirmations(provisioned, address) == 1


def test_concurrent_requests_cannot_take_an_account_past_50_an_hour(
    app_client: Client, provisioned: str, wired: Any
) -> None:
    # GIVEN an account with 46 confirmations counted this hour
    account, (product,) = _customer(app_client)
    table = wired.table
    for n in range(46):
        address = f"{unique(f'seed{n}-')}@customer.example"
        now = int(time.time())
        table.take_confirmation(
            table.confirmation_guards(table.confirmation_history(account, address), account, address, now)
        )
    # WHEN eight more are asked for at the same moment, to eight addresses
    addresses = [f"{unique(f'race{n}-')}@customer.example" for n in range(8)]
    outcomes = _create_at_once(wired, [(account, product, a) for a in addresses])
    # THEN exactly four went out
    assert outcomes.count("sent") == 4 and set(outcomes) == {"sent", "too_many_confirmations"}, outcomes
    assert sum(_confirmations(provisioned, a) for a in addresses) == 4


def test_plus_tags_and_gmail_dots_count_as_the_mailbox_they_reach_and_the_address_is_kept_as_given(
    app_client: Client, provisioned: str, table: Any, later: Any
) -> None:
    # GIVEN a confirmation sent to a Gmail address
    account, (product,) = _customer(app_client)
    name = unique("victim").replace("-", "")
    assert _subscribe(app_client, account, f"{name}@gmail.com", product).status_code == 202
    before = _account_items(table, account)
    # WHEN the same inbox is subscribed again at once, behind a +tag, dots and Gmail's other domain
    for alias in (f"{name}+1@gmail.com", f"{name[0]}.{name[1:]}@gmail.com", f"{name[:2]}.{name[2:]}+x@googlemail.com"):
        resp = _subscribe(app_client, account, alias, product)
        # THEN each is 429 by the address gap, and nothing is written for it
        _refused(resp, 590, 600)
    assert _account_items(table, account) == before
    assert _confirmations(provisioned, f"{name}+1@gmail.com") == 0
    # AND once the 10 minutes are over a tagged address is sent to, and stored, as given
    later(601)
    resp = _subscribe(app_client, account, f"{name}+Patches@gmail.com", product)
    assert resp.status_code == 202, resp.body
    mine = json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)["subscriptions"]
    assert f"{name}+Patches@gmail.com" in [s["email"] for s in mine]
    assert _confirmations(provisioned, f"{name}+Patches@gmail.com") == 1
