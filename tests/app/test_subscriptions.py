"""Customers' subscriptions at the app level: their own list, changes, removal (never another account's),
one-click unsubscribe, and bad input that writes nothing."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from chalice.test import Client

from chalicelib.domain.access.links import LinkMaker
from chalicelib.domain.access.tokens import KeyRing, Purpose, mint
from tests.app.flows import create_release, emails_to, subscribe_and_confirm, upload
from tests.conftest import account_body, auth, unique
from tests.helpers import link, tampered

KINDS = ["patch", "critical-solution"]


def _json(resp: Any) -> Any:
    return json.loads(resp.body)


def _customer(client: Client, tier: str = "premium", products: int = 1, **dates: Any) -> tuple[str, list[str]]:
    admin = auth("support-admin")
    prods = [unique("P") for _ in range(products)]
    for p in prods:
        client.http.put(f"/products/{p}", headers=admin, body=json.dumps({"name": p}))
    account = unique(tier)
    resp = client.http.put(f"/accounts/{account}", headers=admin, body=json.dumps(account_body(tier, prods, **dates)))
    assert resp.status_code == 200, resp.body
    return account, prods


def _account_items(table: Any, account: str) -> list[str]:
    """The sort keys of everything stored under the account (contract, subscriptions, address items, ...), but
    the due items of the contract's own schedule (reviews, warnings: written with the contract, by its upsert)."""
    got = table._db.query(
        TableName=table.name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"ACCOUNT#{account}"}},
        ConsistentRead=True,
    )
    return sorted(i["SK"]["S"] for i in got["Items"] if not i["SK"]["S"].startswith("DUE#"))


def _audience(table: Any, product: str) -> list[Any]:
    return table.audience_page(product, limit=100, cursor=None)[0]


def _mine(client: Client, account: str) -> list[dict[str, Any]]:
    resp = client.http.get("/subscriptions", headers=auth("customer", account))
    assert resp.status_code == 200
    return list(_json(resp)["subscriptions"])


def _notices(moto: str, address: str) -> list[Any]:
    return [m for m in emails_to(moto, address) if "[Sev" in m["Subject"]]


def _release(client: Client, runner: Any, product: str, **extra: Any) -> None:
    data = unique("bytes").encode()
    upload(create_release(client, product, data, **extra), data)
    runner.pump()


@pytest.fixture(scope="module")
def confirmed(app_client: Client, provisioned: str) -> tuple[str, str, str]:
    """One Premium account with one confirmed subscription, shared by the tests that must change nothing."""
    account, (product,) = _customer(app_client, "premium")
    sub_id = subscribe_and_confirm(app_client, provisioned, account, f"{unique('c')}@customer.example", [product])
    return account, product, sub_id


# -- list, change, delete -------------------------------------------------------------------------
def test_a_customer_lists_changes_and_deletes_only_their_own_subscriptions(
    app_client: Client, provisioned: str, table: Any
) -> None:
    # GIVEN two accounts, each with a confirmed subscription
    account, (p1, p2) = _customer(app_client, products=2)
    other, (op,) = _customer(app_client)
    address = f"{unique('a')}@customer.example"
    sub_id = subscribe_and_confirm(app_client, provisioned, account, address, [p1])
    other_id = subscribe_and_confirm(app_client, provisioned, other, f"{unique('o')}@customer.example", [op])

    # THEN each lists its own only
    assert [s["id"] for s in _mine(app_client, account)] == [sub_id]

    # WHEN the customer moves the subscription to the other product
    resp = app_client.http.patch(
        f"/subscriptions/{sub_id}", headers=auth("customer", account), body=json.dumps({"products": [p2]})
    )
    assert resp.status_code == 200 and _json(resp)["products"] == [p2]
    # THEN the audience entries moved with it
    assert [e.subscription_id for e in _audience(table, p1)] == []
    assert [e.subscription_id for e in _audience(table, p2)] == [sub_id]

    # AND another account's subscription id answers 404 to PATCH and DELETE, and stays untouched
    mine = auth("customer", account)
    assert (
        app_client.http.patch(
            f"/subscriptions/{other_id}", headers=mine, body=json.dumps({"max_severity": 1})
        ).status_code
        == 404
    )
    assert app_client.http.delete(f"/subscriptions/{other_id}", headers=mine).status_code == 404
    assert _mine(app_client, other)[0]["max_severity"] == 4 and len(_audience(table, op)) == 1

    # WHEN the customer deletes their own; THEN it and its audience entries are gone
    assert app_client.http.delete(f"/subscriptions/{sub_id}", headers=mine).status_code == 204
    assert _mine(app_client, account) == [] and _audience(table, p2) == []
    assert app_client.http.delete(f"/subscriptions/{sub_id}", headers=mine).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{", 400, "invalid_json"),
        ("[]", 400, "invalid_json"),
        (json.dumps({}), 400, "missing_field"),
        (json.dumps({"colour": "red"}), 400, "unknown_field"),
        (json.dumps({"email": "new@customer.example"}), 400, "read_only_field"),
        (json.dumps({"max_severity": 5}), 400, "invalid_field"),
        (json.dumps({"max_severity": "2"}), 400, "invalid_field"),
        (json.dumps({"kinds": "patch"}), 400, "invalid_field"),
        (json.dumps({"products": ["NOPE"]}), 400, "unknown_product"),
        (json.dumps({"channels": ["ga", "beta"]}), 403, "channel_not_entitled"),
    ],
)
def test_a_bad_change_is_refused_and_writes_nothing(
    app_client: Client, table: Any, confirmed: tuple[str, str, str], body: str, status: int, code: str
) -> None:
    account, product, sub_id = confirmed
    before = _mine(app_client, account)
    resp = app_client.http.patch(f"/subscriptions/{sub_id}", headers=auth("customer", account), body=body)
    assert resp.status_code == status and _json(resp)["error"] == code, resp.body
    assert _mine(app_client, account) == before and len(_audience(table, product)) == 1


def test_an_unsubscribed_subscription_cannot_be_changed_back_on(
    app_client: Client, provisioned: str, wired: Any
) -> None:
    account, (product,) = _customer(app_client)
    address = f"{unique('u')}@customer.example"
    sub_id = subscribe_and_confirm(app_client, provisioned, account, address, [product])
    assert _one_click(app_client, _unsubscribe_link(wired, account, sub_id)).status_code == 200
    resp = app_client.http.patch(
        f"/subscriptions/{sub_id}", headers=auth("customer", account), body=json.dumps({"max_severity": 1})
    )
    assert resp.status_code == 409 and "subscribe again" in _json(resp)["message"]


# -- bad input on POST /subscriptions -------------------------------------------------------------
def _new(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"email": "ok@customer.example", "products": ["PRODUCT"], "kinds": KINDS, "max_severity": 2}
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("body", "status", "code", "names"),
    [
        ('{"email": ', 400, "invalid_json", "JSON"),
        (_new(extra=1), 400, "unknown_field", "extra"),
        (_new(products="PRODUCT"), 400, "invalid_field", "products"),
        (_new(max_severity="2"), 400, "invalid_field", "max_severity"),
        (_new(max_severity=True), 400, "invalid_field", "max_severity"),
        (_new(max_severity=0), 400, "invalid_field", "max_severity"),
        (_new(max_severity=5), 400, "invalid_field", "max_severity"),
        (_new(email="ok@customer.example\r\nBcc: victim@example.com"), 400, "invalid_field", "email"),
        (_new(email="ok@customer.example\n"), 400, "invalid_field", "email"),
        (_new(email="a" * 65 + "@customer.example"), 400, "invalid_field", "email"),
        (_new(email="a@" + ("d" * 60 + ".") * 5 + "example"), 400, "invalid_field", "email"),
        (_new(email=None), 400, "missing_field", "email"),
        (_new(email="=?utf-8?b?Y2VvQGJhbmsuZXhhbXBsZQ==?=@x.example"), 400, "invalid_field", "email"),
        (_new(email="=?utf-8?q?ceo=40bank.example?=@x.example"), 400, "invalid_field", "email"),
        (_new(email="ok\u2028@customer.example"), 400, "invalid_field", "U+2028"),
        (_new(email="\u202eok@customer.example"), 400, "invalid_field", "U+202E"),
        (_new(email="ok\ud800@customer.example"), 400, "invalid_field", "U+D800"),
        (_new(email='"ok"@customer.example'), 400, "invalid_field", "email"),
        (_new(email="ok@[192.0.2.1]"), 400, "invalid_field", "email"),
        (_new(email="Ok <ok@customer.example>"), 400, "invalid_field", "email"),
        (_new(kinds=["hotfix"]), 400, "invalid_field", "kinds"),
        (_new(products=["NOPE"]), 400, "unknown_product", "NOPE"),
        (_new(channels=["ga", "beta"]), 403, "channel_not_entitled", "beta"),
    ],
)
def test_bad_subscriptions_get_a_4xx_naming_the_problem_and_write_nothing(
    app_client: Client, provisioned: str, table: Any, body: Any, status: int, code: str, names: str
) -> None:
    account, (product,) = _customer(app_client, "xtreme")
    raw = body if isinstance(body, str) else json.dumps(body).replace("PRODUCT", product)
    resp = app_client.http.post("/subscriptions", headers=auth("customer", account), body=raw)
    assert resp.status_code == status and _json(resp)["error"] == code, resp.body
    assert names in _json(resp)["message"]
    assert _mine(app_client, account) == [] and _account_items(table, account) == ["CONTRACT"]
    assert emails_to(provisioned, "ok@customer.example") == [] or all(
        account not in m.get_body(("plain",)).get_content() for m in emails_to(provisioned, "ok@customer.example")
    )


def test_beta_is_refused_with_the_reason_below_elite_and_allowed_for_elite(app_client: Client) -> None:
    for tier, expected in (("xtreme", 403), ("premium", 403), ("elite", 202)):
        account, (product,) = _customer(app_client, tier)
        body = {**_new(channels=["ga", "beta"]), "products": [product], "email": f"{unique('b')}@customer.example"}
        resp = app_client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body))
        assert resp.status_code == expected, tier
        if expected == 403:
            assert "Elite only" in _json(resp)["message"] and _json(resp)["error"] == "channel_not_entitled"


# -- one-click unsubscribe ------------------------------------------------------------------------
def _unsubscribe_url(moto: str, address: str) -> str:
    notices = _notices(moto, address)
    if notices:
        return str(notices[-1]["List-Unsubscribe"]).strip("<>")
    return ""


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _one_click(client: Client, url: str, body: str = "List-Unsubscribe=One-Click") -> Any:
    return client.http.post(
        _path(url),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        body=body,
    )


def _unsubscribe_link(wired: Any, account: str, sub_id: str) -> str:
    return LinkMaker(ring=wired.keys.ring(), base_url="https://patchcast.test").unsubscribe(account, sub_id)


def test_one_click_unsubscribe_holds_for_the_very_next_release(
    app_client: Client, runner: Any, provisioned: str, table: Any, wired: Any
) -> None:
    # GIVEN a confirmed subscriber who got a notice
    account, (product,) = _customer(app_client)
    address = f"{unique('oc')}@customer.example"
    sub_id = subscribe_and_confirm(app_client, provisioned, account, address, [product])
    _release(app_client, runner, product)
    url = _unsubscribe_url(provisioned, address)
    assert url and len(_notices(provisioned, address)) == 1

    # WHEN a link scanner GETs the link: a page with a button, nothing changes
    page = app_client.http.get(_path(url))
    assert page.status_code == 200 and b'<form method="post"' in page.body and b"One-Click" in page.body
    assert _mine(app_client, account)[0]["status"] == "active" and len(_audience(table, product)) == 1

    # WHEN the mail client POSTs the RFC 8058 body, with no auth and no cookie
    resp = _one_click(app_client, url)
    # THEN 200, the subscription is off and out of the audience at once
    assert resp.status_code == 200 and _json(resp)["status"] == "unsubscribed"
    assert _audience(table, product) == [] and table.get_subscription(account, sub_id).status == "unsubscribed"
    # AND again is harmless
    assert _one_click(app_client, url).status_code == 200
    # AND the next release does not reach the address
    _release(app_client, runner, product)
    assert len(_notices(provisioned, address)) == 1


def test_a_multipart_one_click_post_unsubscribes(app_client: Client, provisioned: str, wired: Any) -> None:
    account, (product,) = _customer(app_client)
    sub_id = subscribe_and_confirm(app_client, provisioned, account, f"{unique('mp')}@customer.example", [product])
    body = '--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--b--\r\n'
    resp = app_client.http.post(
        _path(_unsubscribe_link(wired, account, sub_id)),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        body=body,
    )
    assert resp.status_code == 200 and b"Unsubscribed" in resp.body
    assert _mine(app_client, account)[0]["status"] == "unsubscribed"


def _ring(wired: Any) -> KeyRing:
    ring: KeyRing = wired.keys.ring()
    return ring


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda r, a, s: mint(r, Purpose.CONFIRM, account_id=a, subject=s, expires=int(time.time()) + 60), 404),
        (
            lambda r, a, s: mint(
                r, Purpose.DOWNLOAD, account_id=a, subject=s, release_id="x", expires=int(time.time()) + 60
            ),
            404,
        ),
        (lambda r, a, s: mint(r, Purpose.UNSUBSCRIBE, account_id=a, subject=s, expires=int(time.time()) - 60), 410),
        (
            lambda r, a, s: mint(
                KeyRing(r.current, {r.current: b"another key"}),
                Purpose.UNSUBSCRIBE,
                account_id=a,
                subject=s,
                expires=int(time.time()) + 60,
            ),
            404,
        ),
        (
            lambda r, a, s: tampered(
                mint(r, Purpose.UNSUBSCRIBE, account_id=a, subject=s, expires=int(time.time()) + 60)
            ),
            404,
        ),
        (lambda r, a, s: "not-a-token", 404),
        (lambda r, a, s: "", 404),
    ],
    ids=["confirm-token", "download-token", "expired", "another-key", "tampered", "garbage", "missing"],
)
def test_a_bad_unsubscribe_token_is_refused_and_unsubscribes_nobody(
    app_client: Client, wired: Any, confirmed: tuple[str, str, str], make: Any, status: int
) -> None:
    account, _, sub_id = confirmed
    token = make(_ring(wired), account, sub_id)
    for method in ("get", "post"):
        resp = getattr(app_client.http, method)(
            f"/unsubscribe?token={quote(token)}",
            **(
                {"body": "List-Unsubscribe=One-Click", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
                if method == "post"
                else {}
            ),
        )
        assert resp.status_code == status, method
    assert _mine(app_client, account)[0]["status"] == "active"


def test_a_post_without_the_one_click_body_is_refused(app_client: Client, provisioned: str, wired: Any) -> None:
    account, (product,) = _customer(app_client)
    sub_id = subscribe_and_confirm(app_client, provisioned, account, f"{unique('nb')}@customer.example", [product])
    resp = _one_click(app_client, _unsubscribe_link(wired, account, sub_id), body="unsubscribe=yes")
    assert resp.status_code == 400 and "List-Unsubscribe=One-Click" in _json(resp)["message"]
    assert _mine(app_client, account)[0]["status"] == "active"


def test_resubscribing_after_unsubscribe_needs_a_new_confirmation(
    app_client: Client, runner: Any, provisioned: str, wired: Any, later: Any
) -> None:
    account, (product,) = _customer(app_client)
    address = f"{unique('rs')}@customer.example"
    sub_id = subscribe_and_confirm(app_client, provisioned, account, address, [product])
    _one_click(app_client, _unsubscribe_link(wired, account, sub_id))
    later(601)
    # WHEN the address subscribes again: pending, and a confirmation email is on its way
    body = {**_new(), "products": [product], "email": address}
    resp = app_client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body))
    assert resp.status_code == 202 and _json(resp)["status"] == "pending"
    assert sum("Confirm" in m["Subject"] for m in emails_to(provisioned, address)) == 2
    # THEN a release before the confirmation does not reach it
    _release(app_client, runner, product)
    assert _notices(provisioned, address) == []


def test_a_pending_subscription_expires_through_ttl(app_client: Client, table: Any) -> None:
    account, (product,) = _customer(app_client)
    body = {**_new(), "products": [product], "email": f"{unique('ttl')}@customer.example"}
    sub_id = _json(app_client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body)))[
        "id"
    ]
    item = table._db.get_item(
        TableName=table.name, Key={"PK": {"S": f"ACCOUNT#{account}"}, "SK": {"S": f"SUB#{sub_id}"}}
    )
    expires = int(item["Item"]["expires_at"]["N"])
    assert 72 * 3600 - 60 < expires - time.time() <= 72 * 3600
    ttl = table._db.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"


def test_the_confirmation_link_is_single_purpose(app_client: Client, provisioned: str, wired: Any) -> None:
    account, (product,) = _customer(app_client)
    address = f"{unique('cf')}@customer.example"
    body = {**_new(), "products": [product], "email": address}
    app_client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body))
    confirm = link(emails_to(provisioned, address)[-1], "/subscriptions/confirm")
    # a confirmation token does not unsubscribe, and a tampered one does not confirm
    token = urlsplit(confirm).query.removeprefix("token=")
    assert _one_click(app_client, f"https://x/unsubscribe?token={token}").status_code == 404
    before, _, confirm_token = _path(confirm).partition("token=")
    bad = app_client.http.get(f"{before}token={tampered(confirm_token)}", headers={"Accept": "application/json"})
    assert bad.status_code == 404 and _mine(app_client, account)[0]["status"] == "pending"
    # nor does an unsubscribe token for the same subscription confirm it
    sub_id = _mine(app_client, account)[0]["id"]
    wrong = urlsplit(_unsubscribe_link(wired, account, sub_id)).query
    assert app_client.http.get(f"/subscriptions/confirm?{wrong}").status_code == 404
    assert _mine(app_client, account)[0]["status"] == "pending"


# -- one subscription per address per account -----------------------------------------------------
def _fresh(client: Client, prefix: str) -> tuple[str, str, str]:
    """A new Premium account with one product, and an address it has not subscribed."""
    account, (product,) = _customer(client)
    return account, product, f"{unique(prefix)}@customer.example"


def _subscribe(client: Client, account: str, address: str, product: str) -> Any:
    body = {**_new(), "products": [product], "email": address}
    return client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body))


@pytest.mark.parametrize("confirm_first", [False, True])
def test_subscribing_an_address_the_account_has_answers_409_with_its_id_and_sends_nothing(
    app_client: Client, provisioned: str, table: Any, confirm_first: bool
) -> None:
    # GIVEN an address the account subscribed (pending, or confirmed)
    account, (product,) = _customer(app_client)
    local = unique("dup")
    address = f"{local}@customer.example"
    if confirm_first:
        first = subscribe_and_confirm(app_client, provisioned, account, address, [product])
    else:
        first = _json(_subscribe(app_client, account, address, product))["id"]
    before, mails = _account_items(table, account), len(emails_to(provisioned, address))
    # WHEN it is subscribed again, its domain written in other case
    resp = _subscribe(app_client, account, f"{local}@Customer.Example", product)
    # THEN 409 already_subscribed naming the subscription to PATCH instead; nothing written or sent
    body = _json(resp)
    assert resp.status_code == 409 and body["error"] == "already_subscribed" and body["id"] == first, body
    assert f"PATCH /subscriptions/{first}" in body["message"]
    assert _account_items(table, account) == before and len(emails_to(provisioned, address)) == mails
    assert f"ADDRESS#{address}" in before


def test_another_account_may_subscribe_the_same_address(app_client: Client, later: Any) -> None:
    address = f"{unique('both')}@customer.example"
    for _ in range(2):
        account, (product,) = _customer(app_client)
        assert _subscribe(app_client, account, address, product).status_code == 202
        later(601)


def test_a_deleted_or_unsubscribed_subscription_frees_its_address(
    app_client: Client, provisioned: str, table: Any, wired: Any, later: Any
) -> None:
    account, product, address = _fresh(app_client, "free")
    # deleted: the address item goes with the subscription, and the address may subscribe again
    first = _json(_subscribe(app_client, account, address, product))["id"]
    assert app_client.http.delete(f"/subscriptions/{first}", headers=auth("customer", account)).status_code == 204
    assert _account_items(table, account) == ["CONTRACT"]
    later(601)
    second = subscribe_and_confirm(app_client, provisioned, account, address, [product])
    # unsubscribed: the same
    assert _one_click(app_client, _unsubscribe_link(wired, account, second)).status_code == 200
    assert f"ADDRESS#{address}" not in _account_items(table, account)
    later(601)
    assert _subscribe(app_client, account, address, product).status_code == 202


def test_a_request_that_passed_the_early_check_is_still_refused_by_the_address_item(
    app_client: Client, table: Any, monkeypatch: pytest.MonkeyPatch, later: Any
) -> None:
    # GIVEN two requests for one address that both read the account before either wrote (no early refusal)
    from chalicelib.domain.subscriptions import preregistration as subscriptions

    monkeypatch.setattr(subscriptions, "_refuse_duplicate", lambda *_: None)
    account, product, address = _fresh(app_client, "late")
    first = _subscribe(app_client, account, address, product)
    later(601)
    # WHEN the second writes  THEN the transaction refuses it, naming the first
    second = _subscribe(app_client, account, address, product)
    assert first.status_code == 202 and second.status_code == 409, second.body
    assert _json(second)["error"] == "already_subscribed" and _json(second)["id"] == _json(first)["id"]
    assert len(_mine(app_client, account)) == 1


def test_two_concurrent_subscriptions_of_one_address_cannot_both_be_written(app_client: Client, table: Any) -> None:
    # GIVEN an account, and 8 pending subscriptions of one address written at once (past the early check)
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.domain.core.errors import AlreadySubscribed, Conflict
    from chalicelib.domain.core.models import Subscription, now_iso

    account, product, address = _fresh(app_client, "race")
    subs = [
        Subscription(account, unique("s"), address, (product,), ("patch",), 4, ("ga",), "pending", now_iso())
        for _ in range(8)
    ]

    def put(sub: Any) -> str:
        try:
            table.put_pending_subscription(sub, expires_at=int(time.time()) + 3600)
        except (AlreadySubscribed, Conflict) as err:
            return err.code
        return "written"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(put, subs))
    # THEN exactly one was written; the others were told it exists
    assert outcomes.count("written") == 1 and set(outcomes) <= {"written", "already_subscribed", "conflict"}
    assert len([s for s in _mine(app_client, account) if s["email"] == address]) == 1


def test_an_expired_pending_subscription_does_not_hold_its_address(app_client: Client, table: Any) -> None:
    from chalicelib.domain.core.models import Subscription, now_iso

    account, product, address = _fresh(app_client, "old")
    stale = Subscription(account, unique("s"), address, (product,), ("patch",), 4, ("ga",), "pending", now_iso())
    table.put_pending_subscription(stale, expires_at=int(time.time()) - 1)  # past its window, TTL not run yet
    assert _subscribe(app_client, account, address, product).status_code == 202


def test_twenty_concurrent_clicks_of_one_confirm_link_all_succeed(
    app_client: Client, provisioned: str, table: Any, wired: Any
) -> None:
    # GIVEN a pending subscription and its confirmation token
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.domain.subscriptions import preregistration as subscriptions

    account, product, address = _fresh(app_client, "cc")
    sub_id = _json(_subscribe(app_client, account, address, product))["id"]
    token = urlsplit(link(emails_to(provisioned, address)[-1], "/subscriptions/confirm")).query.removeprefix("token=")
    ring = wired.keys.ring()

    def click(_: int) -> str:
        try:
            return subscriptions.confirm(table, ring, token).status
        except Exception as err:  # a 409 here is the bug: the subscription ends up active anyway
            return type(err).__name__

    # WHEN 20 clicks confirm it at once (the domain call each request makes, on the session's moto server)
    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(click, range(20)))
    # THEN every one succeeds, and it is active with one audience entry and an address item that stays
    assert outcomes == ["active"] * 20
    assert _mine(app_client, account)[0]["status"] == "active" and len(_audience(table, product)) == 1
    item = table._db.get_item(
        TableName=table.name, Key={"PK": {"S": f"ACCOUNT#{account}"}, "SK": {"S": f"ADDRESS#{address}"}}
    )["Item"]
    assert item["subscription_id"]["S"] == sub_id and "expires_at" not in item


def test_a_confirmation_that_cannot_be_built_writes_nothing(
    app_client: Client, table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.domain.mail import notices as mail

    def broken(**_: Any) -> bytes:
        raise ValueError("this message cannot be built")

    monkeypatch.setattr(mail, "confirmation", broken)
    account, (product,) = _customer(app_client)
    resp = _subscribe(app_client, account, f"{unique('nb')}@customer.example", product)
    assert resp.status_code == 500 and _json(resp)["error"] == "internal_error"
    assert _account_items(table, account) == ["CONTRACT"]


def test_a_confirmation_that_cannot_be_sent_takes_the_subscription_back(
    app_client: Client, table: Any, wired: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.domain.core.errors import Throttled

    def throttled(*_: Any, **__: Any) -> None:
        raise Throttled("SES is throttling")

    account, product, address = _fresh(app_client, "ns")
    with monkeypatch.context() as patched:
        patched.setattr(wired.mailer, "send_raw", throttled)
        assert _subscribe(app_client, account, address, product).status_code == 500
    # THEN nothing holds the address, and trying again works
    assert _account_items(table, account) == ["CONTRACT"]
    assert _subscribe(app_client, account, address, product).status_code == 202
