"""The local stage's stand-in for Cognito's managed login: an authorization code (a MAC'd, one-minute
statement of who signed in and the PKCE challenge) and its exchange for an ID token signed by the local
issuer's key, the same key and claims ``patchctl token`` uses. Never used outside the local stage."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

from chalicelib.adapters import wiring
from chalicelib.domain.core.errors import BadRequest

CODE_SECONDS = 60
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
    if account:
        claims["custom:account_id"] = account
    return claims


def sign(private_pem: bytes, claims: dict[str, object]) -> str:
    import jwt

    return jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": KID})


def _code_key() -> bytes:
    ring = wiring.get().keys.ring()
    return hmac.new(ring.keys[ring.current], b"patchcast-local-code", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def issue_code(*, account: str, email: str, challenge: str) -> str:
    body = _b64(json.dumps({"a": account, "e": email, "c": challenge, "x": int(time.time()) + CODE_SECONDS}).encode())
    return f"{body}.{hmac.new(_code_key(), body.encode(), hashlib.sha256).hexdigest()}"


def exchange(code: str, verifier: str) -> str:
    """The token endpoint: a genuine, unexpired code whose challenge is SHA-256 of ``verifier`` (S256)."""
    body, _, mac = code.partition(".")
    good = hmac.compare_digest(mac, hmac.new(_code_key(), body.encode(), hashlib.sha256).hexdigest())
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) if good else {}
    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
    if not good or int(data.get("x", 0)) < time.time() or not hmac.compare_digest(str(data.get("c")), challenge):
        raise BadRequest(
            "The sign-in code is not valid (expired, altered or not this sign-in's).", code="invalid_grant"
        )
    s = wiring.get().settings
    claims = id_token_claims(
        issuer=s.jwt_issuer, audience=s.jwt_audience, role="customer", account=data["a"], email=data["e"], seconds=3600
    )
    return sign(_private_key(s.jwks_url), claims)


def _private_key(jwks_url: str) -> bytes:
    """The issuer's private key lies beside the public JWKS the API reads (``make run`` writes both)."""
    return (Path(unquote(urlparse(jwks_url).path)).parent / "private.pem").read_bytes()
