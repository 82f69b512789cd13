"""The portal's cookies: the session's (a random id naming its record on the server: ``server_session``),
the CSRF token of every form (an HMAC of that id), the short-lived cookie that carries a sign-in's state and
PKCE verifier, and where ``next=`` may lead (only the portal's own paths)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from chalice.app import Request

from chalicelib.adapters import wiring
from chalicelib.domain.core.errors import BadRequest, Forbidden
from chalicelib.routes.http import header

SESSION = "patchcast_session"
SIGNIN = "patchcast_signin"
SIGNIN_SECONDS = 600  # a sign-in started and not finished within ten minutes starts again
HOME = "/portal"
MAX_FIELDS = 200


def cookies(request: Request) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header(request, "cookie"))
    except Exception:  # a malformed Cookie header is no session, never a 500
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def secure() -> bool:
    """Secure everywhere but plain-HTTP localhost (the local stack), where a browser would drop the cookie."""
    base = wiring.get().settings.public_base_url
    return not base.startswith(("http://127.0.0.1", "http://localhost"))


def set_cookie(name: str, value: str, max_age: int) -> str:
    path = _cookie_path()
    attrs = f"{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax"
    return attrs + ("; Secure" if secure() else "")


def _cookie_path() -> str:
    from urllib.parse import urlparse

    return urlparse(wiring.get().settings.public_base_url).path.rstrip("/") + "/portal"


# -- CSRF: every form carries an HMAC of the session it was served in ---------------------------------
def _keys(label: bytes) -> list[bytes]:
    ring = wiring.get().keys.ring()
    order = [ring.current, *(k for k in ring.keys if k != ring.current)]
    return [hmac.new(ring.keys[k], b"patchcast-portal:" + label, hashlib.sha256).digest() for k in order]


def _mac(key: bytes, data: str) -> str:
    return hmac.new(key, data.encode(), hashlib.sha256).hexdigest()[:40]


def csrf_token(session_token: str) -> str:
    return _mac(_keys(b"csrf")[0], session_token)


def form_of(request: Request) -> dict[str, list[str]]:
    """A form's fields; more than ``MAX_FIELDS`` is a 400 (parse_qs raises before any CSRF check could run)."""
    raw = request.raw_body or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    try:
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise BadRequest(f"A form has at most {MAX_FIELDS} fields.", code="too_many_fields") from exc


def check_csrf(form: dict[str, list[str]], session_token: str) -> None:
    """A form without the token of this session (or with a wrong one) is refused before anything is read."""
    given = (form.get("csrf") or [""])[0]
    if not any(hmac.compare_digest(given.encode(), _mac(k, session_token).encode()) for k in _keys(b"csrf")):
        raise Forbidden("This form has expired or did not come from the portal; reload the page.", code="csrf_failed")


# -- the sign-in in flight: state, PKCE verifier and where to go afterwards, MAC'd -----------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pack_signin(state: str, verifier: str, next_path: str) -> str:
    body = _b64(
        json.dumps({"s": state, "v": verifier, "n": next_path, "x": int(time.time()) + SIGNIN_SECONDS}).encode()
    )
    return f"{body}.{_mac(_keys(b'signin')[0], body)}"


def unpack_signin(value: str) -> dict[str, Any] | None:
    body, _, mac = value.partition(".")
    if not any(hmac.compare_digest(mac.encode(), _mac(k, body).encode()) for k in _keys(b"signin")):
        return None
    try:
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    return data if int(data.get("x", 0)) >= time.time() else None


def safe_next(value: str | None) -> str:
    """Only a path of the portal itself (``/portal`` or under ``/portal/``), in printable ASCII, with no
    ``.``/``..`` segment (nor ``%2e``: browsers read it as a dot), no ``//``, ``\\``, ``%`` or ``:`` in the path:
    never another host (``//x``, ``/\\x``, ``https:``, ``javascript:``) nor another path of the same host
    (``/portal/../d/x``, ``/portalx``). Anything else leads home."""
    if not value or not value.isascii() or any(ord(c) < 0x21 or ord(c) > 0x7E or c == "\\" for c in value):
        return HOME
    path = value.split("?", 1)[0]
    if path != HOME and not path.startswith(HOME + "/"):
        return HOME
    if "//" in path or any(c in path for c in "%:") or any(s in (".", "..") for s in path.split("/")):
        return HOME
    return value
