"""Steps the app-level tests share: emails a moto server accepted, a confirmed subscriber, a release and
its upload, driven through the HTTP API (chalice.test.Client) as users would."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests
from chalice.test import Client

from tests.conftest import account_body, auth, sent_messages, unique
from tests.helpers import link, parse, sha256


def emails_to(moto: str, address: str) -> list[Any]:
    return [parse(m["raw"]) for m in sent_messages(moto) if any(address in d for d in m["to"])]


def subscribe_and_confirm(
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
    confirm = link(emails_to(moto, address)[-1], "/subscriptions/confirm")
    path = urlsplit(confirm)
    page = client.http.post(f"{path.path}?{path.query}", headers={"Accept": "application/json"})
    assert page.status_code == 200 and json.loads(page.body)["status"] == "active"
    return sub_id


def create_release(client: Client, product: str, data: bytes, **extra: Any) -> dict[str, Any]:
    body = {
        "product": product,
        "version": unique("v"),
        "kind": "patch",
        "severity": 2,
        "title": "Rounding fix",
        "summary": "Fixes totals",
        "filename": "fix.zip",
        "size": len(data),
        "sha256": sha256(data),
        **extra,
    }
    resp = client.http.post("/releases", headers=auth("release-engineer"), body=json.dumps(body))
    assert resp.status_code == 201, resp.body
    return json.loads(resp.body)


def upload(release: dict[str, Any], data: bytes) -> None:
    up = release["upload"]
    resp = requests.post(up["url"], data=up["fields"], files={"file": ("fix.zip", data)}, timeout=10)
    assert resp.status_code in (200, 204), resp.text


def subscribed_world(
    client: Client, moto: str, tier: str, *, prefix: str = "ops", channels: list[str] | None = None
) -> tuple[str, str, str]:
    """A new product, a contract of ``tier`` for it and one confirmed subscriber: (product, account, address)."""
    admin = auth("support-admin")
    product, account, address = unique("P"), unique("acct"), f"{unique(prefix)}@customer.example"
    client.http.put(f"/products/{product}", headers=admin, body=json.dumps({"name": "Product"}))
    client.http.put(f"/accounts/{account}", headers=admin, body=json.dumps(account_body(tier, [product])))
    subscribe_and_confirm(client, moto, account, address, [product], channels)
    return product, account, address
