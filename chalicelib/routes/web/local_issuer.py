"""The local stage's stand-in for Cognito's managed login: an authorization code (a MAC'd, one-minute
statement of who signed in and the PKCE challenge, used once) and its exchange for an ID token signed by the
local issuer's key, the same key and claims ``patchctl token`` uses, and a refresh token the server renews the
session's ID token with. Never used outside the local stage."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from chalicelib.adapters import wiring
from chalicelib.domain.core.errors import BadRequest

CODE_SECONDS = 60
REFRESH_SECONDS = 30 * 86400  # the user pool's RefreshTokenValidity (infra/template.py)
CODE, REFRESH = b"patchcast-local-code", b"patchcast-local-refresh"
KID = "local-1"
ROLE_GROUPS = {"customer": [], "release-engineer": ["release-engineers"], "support-admin": ["support-admins"]}


def id_token_claims(
    *, issuer: str, audience: str, role: str, account: str | None, email: str | None, seconds: int
) -> dict[str, object]:
    """The claims of a local ID token, as Cognito's carry them: the same as ``patchctl token`` mints
    (patchcast_tools/local/issuer.py, which ships without chalicelib; a unit test holds the two equal)."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": audience,
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{role}/{account}/{email}")),
        "iat": now,
        "nbf": now,
        "exp": now + seconds,
        "token_use": "id",
        "cognito:groups": ROLE_GROUPS[role],
    }
    if email:
        claims["email"] = email
        claims["email_verified"] = True  # as Cognito's, for an address the user pool verified
    if account:
        claims["custom:account_id"] = account
    return claims


def sign(private_pem: bytes, claims: dict[str, object]) -> str:
    import jwt

    return jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": KID})


def _code_key(label: bytes = b"patchcast-local-code") -> bytes:
    ring = wiring.get().keys.ring()
    return hmac.new(ring.keys[ring.current], label, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pack(data: Mapping[str, object], label: bytes) -> str:
    body = _b64(json.dumps(data).encode())
    return f"{body}.{hmac.new(_code_key(label), body.encode(), hashlib.sha256).hexdigest()}"


def _unpack(value: str, label: bytes) -> dict[str, Any]:
    """What a MAC'd, unexpired code (or refresh token) says; {} when altered, expired or not one."""
    body, _, mac = value.partition(".")
    expected = hmac.new(_code_key(label), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return {}
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return data if int(data.get("x", 0)) >= time.time() else {}


def issue_code(*, account: str | None, email: str, challenge: str, role: str = "customer") -> str:
    data = {"i": uuid.uuid4().hex, "a": account, "e": email, "r": role, "c": challenge,
            "x": int(time.time()) + CODE_SECONDS}  # fmt: skip
    return _pack(data, CODE)


def _refused() -> BadRequest:
    return BadRequest("The sign-in code is not valid (expired, used, altered or not this sign-in's).",
                      code="invalid_grant")  # fmt: skip


def exchange(code: str, verifier: str) -> tuple[str, str]:
    """The token endpoint: a genuine, unexpired, unused code whose challenge is SHA-256 of ``verifier`` (S256),
    used up by this exchange as Cognito's are; answers the ID token and a refresh token."""
    data = _unpack(code, CODE)
    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
    if not data or not hmac.compare_digest(str(data.get("c")).encode(), challenge.encode()):
        raise _refused()
    if not wiring.get().table.use_code(str(data["i"]), expires_at=int(data["x"])):
        raise _refused()
    who = {"a": data["a"], "e": data["e"], "r": data.get("r", "customer")}
    return _id_token(who), _pack({**who, "x": int(time.time()) + REFRESH_SECONDS}, REFRESH)


def refresh(refresh_token: str) -> str:
    """The token endpoint's refresh grant: a new ID token for the same user."""
    data = _unpack(refresh_token, REFRESH)
    if not data:
        raise BadRequest("The session can no longer be refreshed; please sign in again.", code="invalid_grant")
    return _id_token(data)


def _id_token(who: dict[str, Any]) -> str:
    """The ID token of the user a code or refresh token names: ``a`` account (or None), ``e`` email, ``r`` role."""
    s = wiring.get().settings
    claims = id_token_claims(
        issuer=s.jwt_issuer, audience=s.jwt_audience, role=str(who.get("r") or "customer"), account=who["a"],
        email=str(who["e"]), seconds=token_seconds(),
    )  # fmt: skip
    return sign(_private_key(s.jwks_url), claims)


def token_seconds() -> int:
    """As long as ``patchctl token``'s (patchcast_tools/local/issuer.py ``lifetime_seconds``): tests shorten it."""
    return int(os.environ.get("PATCHCAST_LOCAL_TOKEN_SECONDS") or 3600)


def _private_key(jwks_url: str) -> bytes:
    """The issuer's private key lies beside the public JWKS the API reads (``make run`` writes both)."""
    return (Path(unquote(urlparse(jwks_url).path)).parent / "private.pem").read_bytes()
