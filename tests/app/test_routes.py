"""The HTTP API through chalice.test.Client: identity, roles, validation, error format."""

from __future__ import annotations

import json

import jwt
import pytest
from chalice.test import Client

from tests.conftest import account_body, auth, token, unique


def _json(resp: object) -> dict:
    return json.loads(resp.body)  # type: ignore[attr-defined]


def test_health_answers_ok(app_client: Client) -> None:
    resp = app_client.http.get("/health")
    assert resp.status_code == 200 and _json(resp) == {"status": "ok"}


def test_tiers_lists_the_matrix_without_auth(app_client: Client) -> None:
    assert {t["tier"] for t in _json(app_client.http.get("/tiers"))["tiers"]} == {"xtreme", "premium", "elite"}


@pytest.mark.parametrize(
    "bearer",
    [
        "Bearer not-a-jwt",
        "Bearer "
        + jwt.encode(
            {"sub": "x", "iss": "patchcast-local", "aud": "patchcast", "exp": 9999999999}, None, algorithm="none"
        ),
        "Bearer "
        + jwt.encode(
            {"sub": "x", "iss": "patchcast-local", "aud": "patchcast", "exp": 9999999999}, "k" * 32, algorithm="HS256"
        ),
        "Basic abc",
    ],
)
def test_bad_tokens_get_401_in_our_error_format(app_client: Client, bearer: str) -> None:
    resp = app_client.http.get("/products", headers={"Authorization": bearer})
    assert resp.status_code == 401
    assert _json(resp)["error"] == "unauthorized"


def test_an_expired_token_gets_401(app_client: Client) -> None:
    expired = token("support-admin", hours=-1)
    resp = app_client.http.get("/products", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401 and "expired" in _json(resp)["message"].lower()


def test_a_customer_cannot_put_accounts(app_client: Client) -> None:
    resp = app_client.http.put(
        "/accounts/acme", headers=auth("customer", "acme"), body=json.dumps(account_body("elite", ["M3"]))
    )
    assert resp.status_code == 403 and _json(resp)["error"] == "forbidden"


def test_support_admin_puts_a_product_and_an_account(app_client: Client) -> None:
    product = unique("P")
    admin = auth("support-admin")
    assert (
        app_client.http.put(f"/products/{product}", headers=admin, body=json.dumps({"name": "Prod"})).status_code == 200
    )
    account = unique("a")
    resp = app_client.http.put(
        f"/accounts/{account}", headers=admin, body=json.dumps(account_body("premium", [product]))
    )
    assert resp.status_code == 200 and _json(resp)["changed"] is True
    again = app_client.http.put(
        f"/accounts/{account}", headers=admin, body=json.dumps(account_body("premium", [product]))
    )
    assert _json(again)["changed"] is False
    mine = app_client.http.get(f"/accounts/{account}", headers=auth("customer", account))
    assert _json(mine)["tier"] == "premium"
    other = app_client.http.get(f"/accounts/{account}", headers=auth("customer", "someone-else"))
    assert other.status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{", "invalid_json"),
        (json.dumps({**account_body("elite", ["M3"]), "color": "red"}), "unknown_field"),
        (json.dumps({**account_body("gold", ["M3"])}), "invalid_field"),
        (json.dumps({**account_body("elite", ["NOPE"])}), "unknown_product"),
        (json.dumps({**account_body("elite", ["M3"]), "support_end": "2025-13-40"}), "invalid_field"),
    ],
)
def test_bad_accounts_get_400_and_write_nothing(app_client: Client, body: str, code: str) -> None:
    admin = auth("support-admin")
    app_client.http.put("/products/M3", headers=admin, body=json.dumps({"name": "M3"}))
    account = unique("bad")
    resp = app_client.http.put(f"/accounts/{account}", headers=admin, body=body)
    assert resp.status_code == 400 and _json(resp)["error"] == code
    assert app_client.http.get(f"/accounts/{account}", headers=admin).status_code == 404
