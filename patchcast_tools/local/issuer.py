"""The local JWT issuer: an RSA key pair under the state directory, and tokens minted with it.

Stands in for Cognito in the ``local`` stage; the API reads the public half as a JWKS through a
``file://`` URL, so verification runs the same code as in AWS.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "patchcast-local"
AUDIENCE = "patchcast"
KID = "local-1"
TOKEN_MINUTES = 60  # Cognito's IdTokenValidity for the app client (a test holds the two together)
ROLES = {"customer": [], "release-engineer": ["release-engineers"], "support-admin": ["support-admins"]}


def ensure_keys(state_dir: Path) -> Path:
    """Create the key pair once (the local stack does, on start; patchctl only reads it); returns the JWKS path."""
    folder = state_dir / "issuer"
    private, jwks = folder / "private.pem", folder / "jwks.json"
    if private.exists() and jwks.exists():
        return jwks
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    private.chmod(0o600)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public_jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
    jwks.write_text(json.dumps({"keys": [public_jwk]}))
    return jwks


def lifetime_seconds(env: Mapping[str, str] = os.environ) -> int:
    """As long as the user pool's ID tokens live (``IdTokenValidity`` in infra/template.py), so that a long
    upload meets an expired token locally as it would in AWS; tests shorten it with ``PATCHCAST_LOCAL_TOKEN_SECONDS``."""
    return int(env.get("PATCHCAST_LOCAL_TOKEN_SECONDS") or TOKEN_MINUTES * 60)


def mint(
    state_dir: Path,
    *,
    role: str,
    account: str | None = None,
    email: str | None = None,
    hours: float | None = None,
) -> str:
    """A signed ID token; ``hours`` overrides the lifetime (tests mint expired ones), else ``lifetime_seconds()``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "customer" and not account:
        raise ValueError("a customer token needs --account")
    # Only the stack creates the key (ensure_keys): a token from a key the API does not know is refused later,
    # far from the cause.
    try:
        key = (state_dir / "issuer" / "private.pem").read_bytes()
    except FileNotFoundError as exc:
        raise ValueError(
            f"no local issuer key at {state_dir / 'issuer' / 'private.pem'}: start the stack with make run"
        ) from exc
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{role}/{account}/{email}")),
        "iat": now,
        "nbf": now,
        "exp": now + (int(hours * 3600) if hours is not None else lifetime_seconds()),
        "token_use": "id",
        "cognito:groups": ROLES[role],
    }
    if email:
        claims["email"] = email
        claims["email_verified"] = True  # as Cognito's, for an address the user pool verified
    if account:
        claims["custom:account_id"] = account
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})
