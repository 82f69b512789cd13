"""The certified OpenID provider the browser suite signs in through (``oidc/cognito_like.mjs``): installed
once with npm into ``.local/oidc-provider/`` (ignored; ``make test`` installs it first, a targeted run here),
started per test module on a port chosen at import, signing with the local stack's own issuer key so that
the API's JWT checks (RS256, issuer, audience, JWKS fetched over HTTP as from Cognito) run unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from patchcast_tools.local.stack import ROOT, LocalStack
from patchcast_tools.local.stack import _wait as wait_until_up

PACKAGE = "oidc-provider@9.13.3"  # OpenID Certified; pinned, as requirements*.txt pin the Python side
INSTALL = ROOT / ".local" / "oidc-provider"
ENTRY = INSTALL / "node_modules" / "oidc-provider" / "lib" / "index.js"
SCRIPT = Path(__file__).resolve().parent / "oidc" / "cognito_like.mjs"
CLIENT_ID = "patchcast"  # the stack's audience (patchcast_tools/local/issuer.py AUDIENCE)


def installed() -> Path:
    """The package's entry point, installed with npm when missing (the first run needs the npm registry)."""
    if not ENTRY.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the sign-in tests against oidc-provider (Node.js 20 or later)"
        subprocess.run([npm, "install", "--prefix", str(INSTALL), "--no-audit", "--no-fund", "--no-save", PACKAGE],
                       check=True, capture_output=True, timeout=300)  # fmt: skip
    return ENTRY


def signing_jwk(stack: LocalStack) -> dict[str, Any]:
    key = serialization.load_pem_private_key((stack.state_dir / "issuer" / "private.pem").read_bytes(), None)
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))  # type: ignore[arg-type]
    return {**jwk, "kid": "local-1", "alg": "RS256", "use": "sig"}


@contextmanager
def running(stack: LocalStack, port: int, users: dict[str, dict[str, Any]]) -> Iterator[str]:
    """The provider at http://127.0.0.1:<port>, for the stack's portal, with these users."""
    config = stack.state_dir / "oidc-provider.json"
    config.write_text(json.dumps({"client_id": CLIENT_ID, "callback": f"{stack.api_url}/portal/callback",
                                  "signed_out": f"{stack.api_url}/portal/signed-out", "jwk": signing_jwk(stack),
                                  "users": users}))  # fmt: skip
    env = {**os.environ, "OIDC_MODULE": str(installed()), "OIDC_PORT": str(port), "OIDC_CONFIG": str(config)}
    log = open(stack.state_dir / "oidc-provider.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([shutil.which("node") or "node", str(SCRIPT)], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/.well-known/openid-configuration", "oidc-provider", 30, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def token(stack: LocalStack, issuer: str, claims: dict[str, Any]) -> str:
    """An ID token as the provider signs them (its key is the stack's): for the API calls that set up a test."""
    now = int(time.time())
    body = {"iss": issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 600, "token_use": "id", **claims}
    return jwt.encode(body, (stack.state_dir / "issuer" / "private.pem").read_bytes(), algorithm="RS256",
                      headers={"kid": "local-1"})  # fmt: skip
