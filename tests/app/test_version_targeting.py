"""Version-aware targeting: a release's ``applies_to`` meets a subscription's ``installed`` lines per product
(either absent: every line); fan-out tells only those, the audience preview counts the rest as
``version_lines``; bad lines are a 400 naming the field and write nothing."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from chalice.test import Client

from tests.app.flows import create_release, emails_to, upload
from tests.app.test_subscriptions import _account_items, _customer, _new, _notices
from tests.conftest import auth, unique
from tests.helpers import link

BAD_LINES = {
    "empty string": [""],
    "non-dotted text": ["thirteen.four"],
    "over 20 lines": [f"13.{n}" for n in range(21)],
    "not a list": "13.4",
}
RE = auth("release-engineer")


def _subscriber(client: Client, moto: str, product: str, installed: dict[str, list[str]] | None) -> str:
    """A confirmed subscriber of ``product`` in an account of its own, running ``installed``; its address."""
    account, _ = _customer(client)
    client.http.put(
        f"/accounts/{account}",
        headers=auth("support-admin"),
        body=json.dumps(
            {
                "name": "V",
                "tier": "premium",
                "products": [product],
                "support_start": "2026-01-01",
                "support_end": "2030-12-31",
            }
        ),
    )
    address = f"{unique('v')}@customer.example"
    body = {**_new(), "products": [product], "email": address, **({"installed": installed} if installed else {})}
    resp = client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body))
    assert resp.status_code == 202, resp.body
    url = urlsplit(link(emails_to(moto, address)[-1], "/subscriptions/confirm"))
    assert client.http.post(f"{url.path}?{url.query}", headers={"Accept": "application/json"}).status_code == 200
    return address


def _product(client: Client) -> str:
    product = unique("P")
    client.http.put(f"/products/{product}", headers=auth("support-admin"), body=json.dumps({"name": product}))
    return product


def test_a_release_for_13_4_reaches_the_13_4_contacts_and_those_who_did_not_say_only(
    app_client: Client, runner: Any, provisioned: str
) -> None:
    # GIVEN contacts on 13.4, 13.4.2, 13.5 and 13.40 of the product, and one who did not say
    product = _product(app_client)
    runs = {"13.4": ["13.4"], "13.4.2": ["13.4.2"], "13.5": ["13.5"], "13.40": ["13.40"]}
    addresses = {name: _subscriber(app_client, provisioned, product, {product: lines}) for name, lines in runs.items()}
    addresses["silent"] = _subscriber(app_client, provisioned, product, None)
    # WHEN a release for the 13.4 line is created
    data = unique("bytes").encode()
    release = create_release(app_client, product, data, draft=True, applies_to=["13.4"])
    assert release["applies_to"] == ["13.4"]
    # THEN the audience preview counts the 13.5 and 13.40 contacts as left out for their version lines
    preview = json.loads(app_client.http.get(f"/releases/{release['id']}/audience", headers=RE).body)
    assert preview["totals"]["subscribers"] == 3 and preview["totals"]["excluded"]["version_lines"] == 2, preview
    # AND once published only the 13.4, 13.4.2 and silent contacts are told
    upload(release, data)
    runner.pump()
    app_client.http.post(f"/releases/{release['id']}/publish", headers=RE)
    runner.pump()
    told = {name for name, address in addresses.items() if _notices(provisioned, address)}
    assert told == {"13.4", "13.4.2", "silent"}


def test_lines_change_with_patch_on_releases_and_subscriptions(app_client: Client, provisioned: str) -> None:
    product = _product(app_client)
    release = create_release(app_client, product, b"x", draft=True)
    path = f"/releases/{release['id']}"
    got = app_client.http.patch(path, headers=RE, body=json.dumps({"applies_to": ["13.5", "13.4"]}))
    assert got.status_code == 200 and json.loads(got.body)["applies_to"] == ["13.4", "13.5"], got.body
    got = app_client.http.patch(path, headers=RE, body=json.dumps({"applies_to": None}))
    assert got.status_code == 200 and json.loads(got.body)["applies_to"] is None
    # a subscription's lines, and its audience entry with them
    account, (own,) = _customer(app_client)
    body = {**_new(), "products": [own], "email": f"{unique('p')}@customer.example"}
    sub_id = json.loads(
        app_client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body)).body
    )["id"]
    resp = app_client.http.patch(
        f"/subscriptions/{sub_id}", headers=auth("customer", account), body=json.dumps({"installed": {own: ["13.4"]}})
    )
    assert resp.status_code == 200 and json.loads(resp.body)["installed"] == {own: ["13.4"]}, resp.body


@pytest.mark.parametrize("bad", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_bad_applies_to_is_a_400_naming_it_and_writes_nothing(app_client: Client, bad: Any) -> None:
    product = _product(app_client)
    body = {
        "product": product,
        "version": "13.4.7",
        "kind": "patch",
        "severity": 2,
        "title": "t",
        "filename": "f.zip",
        "size": 1,
    }
    resp = app_client.http.post("/releases", headers=RE, body=json.dumps({**body, "applies_to": bad}))
    assert resp.status_code == 400 and "'applies_to'" in json.loads(resp.body)["message"], resp.body
    # nothing written: the same product, kind and version are still free
    created = app_client.http.post("/releases", headers=RE, body=json.dumps(body))
    assert created.status_code == 201, created.body
    path = f"/releases/{json.loads(created.body)['id']}"
    resp = app_client.http.patch(path, headers=RE, body=json.dumps({"applies_to": bad, "title": "changed"}))
    assert resp.status_code == 400 and "'applies_to'" in json.loads(resp.body)["message"], resp.body
    after = json.loads(app_client.http.get(path, headers=RE).body)
    assert after["title"] == "t" and after["applies_to"] is None


@pytest.mark.parametrize("case", [*BAD_LINES, "unknown product", "not an object"])
def test_bad_installed_is_a_400_naming_it_and_writes_nothing(
    app_client: Client, provisioned: str, table: Any, case: str
) -> None:
    account, (product,) = _customer(app_client)
    other = _product(app_client)  # in the catalog, not in this contract
    installed = {"unknown product": {other: ["13.4"]}, "not an object": ["13.4"]}.get(case) or {
        product: BAD_LINES[case]
    }
    address = f"{unique('bad')}@customer.example"
    body = {**_new(), "products": [product], "email": address, "installed": installed}
    resp = app_client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body))
    assert resp.status_code == 400 and "'installed" in json.loads(resp.body)["message"], resp.body
    assert _account_items(table, account) == ["CONTRACT"] and emails_to(provisioned, address) == []
    # and as a change of an existing subscription: refused, the subscription as it was
    body.pop("installed")
    sub_id = json.loads(
        app_client.http.post("/subscriptions", headers=auth("customer", account), body=json.dumps(body)).body
    )["id"]
    resp = app_client.http.patch(
        f"/subscriptions/{sub_id}",
        headers=auth("customer", account),
        body=json.dumps({"installed": installed, "max_severity": 1}),
    )
    assert resp.status_code == 400 and "'installed" in json.loads(resp.body)["message"], resp.body
    mine = json.loads(app_client.http.get("/subscriptions", headers=auth("customer", account)).body)["subscriptions"]
    assert mine[0]["installed"] is None and mine[0]["max_severity"] == _new()["max_severity"]
