"""Bearer JWTs: only RS256 tokens of the local issuer for our audience, within their lifetime, pass."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from chalice.test import Client
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from patchcast_tools.local import issuer
from tests.conftest import STATE, account_body, auth, unique


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": issuer.ISSUER,
        "aud": issuer.AUDIENCE,
        "sub": "someone",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "cognito:groups": ["support-admins"],
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _signed(claims: dict[str, Any], key: Any = None, algorithm: str = "RS256", kid: str = issuer.KID) -> str:
    key = key if key is not None else (STATE / "issuer" / "private.pem").read_bytes()
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


_OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem() -> bytes:
    """The local issuer's public key as PEM: the secret an algorithm-confusion attacker would use."""
    key = jwt.PyJWKSet.from_json((STATE / "issuer" / "jwks.json").read_text()).keys[0].key
    return bytes(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def _hs256_by_hand(claims: dict[str, Any], secret: bytes) -> str:
    """The algorithm-confusion attack: PyJWT refuses to sign it, so sign it by hand."""
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=")  # noqa: E731
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": issuer.KID}).encode())
    signed = head + b"." + b64(json.dumps(claims).encode())
    return (signed + b"." + b64(hmac.new(secret, signed, hashlib.sha256).digest())).decode()


_KID = "attacker-kid-<script>"


@pytest.mark.parametrize(
    ("make", "why", "says"),
    [
        (lambda: jwt.encode(_claims(), None, algorithm="none"), "alg none", "algorithm that is not allowed"),
        (lambda: _signed(_claims(), "k" * 32, "HS256"), "HS256 with a guessed secret", "algorithm that is not allowed"),
        (lambda: _hs256_by_hand(_claims(), _public_pem()), "HS256 keyed with our public key", "algorithm"),
        (lambda: _signed(_claims(), _OTHER_KEY), "another RSA key, our kid", "signature that does not verify"),
        (lambda: _signed(_claims(iss="https://evil.example")), "wrong issuer", "wrong issuer"),
        (lambda: _signed(_claims(aud="someone-else")), "wrong audience", "wrong audience"),
        (lambda: _signed(_claims(exp=int(time.time()) - 120)), "expired beyond the leeway", "has expired"),
        (lambda: _signed(_claims(nbf=int(time.time()) + 600)), "not valid yet", "not valid yet"),
        (lambda: _signed(_claims(exp=None)), "no exp", "lacks a required claim"),
        (lambda: _signed(_claims(), kid=_KID), "unknown key id", "unknown signing key"),
        (lambda: "not.a.jwt", "garbage", "is malformed"),
        (lambda: _signed(_claims())[:-20] + "." + _KID, "mangled", "malformed"),
    ],
)
def test_a_bad_bearer_token_gets_401_and_changes_nothing(app_client: Client, make: Any, why: str, says: str) -> None:
    # GIVEN a token an admin would use, but bad in one way; WHEN it tries to write a contract
    account = unique("jwt")
    resp = app_client.http.put(
        f"/accounts/{account}",
        headers={"Authorization": f"Bearer {make()}", "Content-Type": "application/json"},
        body=json.dumps(account_body("elite", ["M3"])),
    )
    # THEN 401 in our format, saying what is wrong in our words and echoing nothing of the token
    assert resp.status_code == 401, why
    body = json.loads(resp.body)
    assert body["error"] == "unauthorized" and says in body["message"], (why, body)
    assert set(body) == {"error", "message"}
    for echoed in (_KID, "evil.example", "someone-else", "kid", "Signature", "alg value"):
        assert echoed not in body["message"], (why, body)
    assert app_client.http.get(f"/accounts/{account}", headers=auth("support-admin")).status_code == 404


def test_a_token_a_few_seconds_past_exp_is_within_the_leeway(app_client: Client) -> None:
    token = _signed(_claims(exp=int(time.time()) - 5))
    assert app_client.http.get("/products", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_customer_token_without_an_account_gets_403(app_client: Client) -> None:
    token = _signed(_claims(**{"cognito:groups": [], "email": "x@customer.example"}))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = {"email": "x@customer.example", "products": ["M3"], "kinds": ["patch"], "max_severity": 2}
    for method, path in (("post", "/subscriptions"), ("get", "/subscriptions"), ("get", "/entitlements")):
        kwargs = {"body": json.dumps(body)} if method == "post" else {}
        resp = getattr(app_client.http, method)(path, headers=headers, **kwargs)
        assert resp.status_code == 403, path
        assert "custom:account_id" in json.loads(resp.body)["message"]
