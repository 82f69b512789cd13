"""Sign-in by the OAuth 2.0 authorization code flow with PKCE (S256) and a checked ``state``: against the
Cognito user pool's managed login in AWS, against the app's local sign-in page in the local stage. The ID
token that comes back, with the refresh token the server renews it with, is the session's
(``server_session``); sign-out goes through Cognito's logout endpoint in AWS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any
from urllib.parse import urlencode

from chalicelib.adapters import wiring
from chalicelib.domain.core.errors import BadRequest, ServiceUnavailable
from chalicelib.routes.web import session

SCOPES = "openid email"


def callback_url() -> str:
    return f"{wiring.get().settings.public_base_url}/portal/callback"


def signed_out_url() -> str:
    return f"{wiring.get().settings.public_base_url}/portal/signed-out"


def _authorize_endpoint() -> str:
    s = wiring.get().settings
    if not uses_provider():
        return f"{s.public_base_url}/portal/local/authorize"
    return f"{s.cognito_domain}/oauth2/authorize"


def begin(next_path: str | None) -> tuple[str, str]:
    """Where to send the browser, and the cookie that remembers this sign-in's state and verifier."""
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": wiring.get().settings.jwt_audience,
        "redirect_uri": callback_url(),
        "scope": SCOPES,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    cookie = session.pack_signin(state, verifier, session.safe_next(next_path))
    return f"{_authorize_endpoint()}?{urlencode(query)}", cookie


def finish(signin_cookie: str | None, state: str, code: str) -> tuple[str, str, str]:
    """The ID token and refresh token for the code, and where to go next; a state that is not this browser's
    sign-in is refused."""
    pending = session.unpack_signin(signin_cookie or "")
    if pending is None or not state or not hmac.compare_digest(str(pending["s"]).encode(), state.encode()) or not code:
        raise BadRequest(
            "This sign-in has expired or was not started here; please sign in again.", code="invalid_state"
        )
    if not uses_provider():
        from chalicelib.routes.web import local_issuer

        return *local_issuer.exchange(code, str(pending["v"])), str(pending["n"])
    return *_cognito_token(code, str(pending["v"])), str(pending["n"])


def uses_provider() -> bool:
    """Cognito's managed login wherever its domain is set (every AWS stage; the browser suite sets it locally
    to a certified OpenID provider configured as Cognito is), else the local stage's own sign-in page."""
    s = wiring.get().settings
    return bool(s.cognito_domain) or not s.is_local


def _cognito_token(code: str, verifier: str) -> tuple[str, str]:
    s = wiring.get().settings
    fields = {"grant_type": "authorization_code", "client_id": s.jwt_audience, "code": code,
              "redirect_uri": callback_url(), "code_verifier": verifier}  # fmt: skip
    got = _token_endpoint(fields, "The sign-in code was refused; please sign in again.")
    return str(got["id_token"]), str(got.get("refresh_token") or "")


def refresh(refresh_token: str) -> str:
    """A new ID token for a session whose token expired, by the refresh grant (the user pool refuses it once
    the user is disabled or the refresh token revoked: the session then ends)."""
    if not uses_provider():
        from chalicelib.routes.web import local_issuer

        return local_issuer.refresh(refresh_token)
    fields = {"grant_type": "refresh_token", "client_id": wiring.get().settings.jwt_audience,
              "refresh_token": refresh_token}  # fmt: skip
    return str(_token_endpoint(fields, "The session has ended; please sign in again.")["id_token"])


def _token_endpoint(fields: dict[str, str], refused: str) -> dict[str, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - the user pool's own https endpoint
        f"{wiring.get().settings.cognito_domain}/oauth2/token",
        data=urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            got = json.load(resp)
            return {"id_token": str(got["id_token"]), "refresh_token": str(got.get("refresh_token") or "")}
    except urllib.error.HTTPError as exc:
        raise BadRequest(refused, code="invalid_grant") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ServiceUnavailable("Sign-in is unavailable just now; please try again in a minute.") from exc


def signout_url() -> str:
    s = wiring.get().settings
    if not uses_provider():
        return signed_out_url()
    return f"{s.cognito_domain}/logout?{urlencode({'client_id': s.jwt_audience, 'logout_uri': signed_out_url()})}"
