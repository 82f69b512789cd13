"""The portal's session on the server: the cookie holds a random id, the table a record under its SHA-256
(store/sessions.py) with the ID token the sign-in returned and the provider's refresh token.

Sign-out deletes the record, so the old cookie and every CSRF token made from it stop working at once. An
ID token lives an hour; when it has expired the server renews it with the refresh token (the provider
refuses a disabled user), so a form posted at minute 61 is not lost. A session lasts ``SESSION_SECONDS``
at most, then the portal asks to sign in again."""

from __future__ import annotations

import hashlib
import secrets
import time

from chalice.app import Request

from chalicelib.adapters import wiring
from chalicelib.domain.access.auth import Identity
from chalicelib.domain.core.errors import BadRequest, Unauthorized
from chalicelib.routes.web import session

SESSION_SECONDS = 12 * 3600


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(id_token: str, refresh_token: str) -> str:
    """A new session for a verified sign-in; the id for the cookie."""
    session_id = secrets.token_urlsafe(32)
    wiring.get().table.put_session(_hash(session_id), id_token=id_token, refresh_token=refresh_token,
                                   expires_at=int(time.time()) + SESSION_SECONDS)  # fmt: skip
    return session_id


def _verified(id_token: str) -> Identity | None:
    try:
        return wiring.get().verifier.verify(f"Bearer {id_token}")
    except Unauthorized:
        return None


def signed_in(request: Request) -> tuple[Identity, str] | None:
    """The caller and their session id; None when the cookie names no live session (never made, signed out,
    expired) or its token can be neither verified nor renewed."""
    session_id = session.cookies(request).get(session.SESSION, "")
    if not session_id:
        return None
    record = wiring.get().table.get_session(_hash(session_id))
    if record is None:
        return None
    who = _verified(str(record["id_token"]))
    if who is None:
        who = _renewed(session_id, str(record.get("refresh_token") or ""))
    return (who, session_id) if who is not None else None


def _renewed(session_id: str, refresh_token: str) -> Identity | None:
    from chalicelib.routes.web import signin

    table = wiring.get().table
    try:  # the provider out of reach is a 503 (ServiceUnavailable), not the end of everyone's session
        id_token = signin.refresh(refresh_token) if refresh_token else ""
    except BadRequest:
        id_token = ""
    who = _verified(id_token) if id_token else None
    if who is None:
        table.delete_session(_hash(session_id))  # refused by the provider: this session is over
        return None
    return who if table.refresh_session(_hash(session_id), id_token=id_token, refresh_token=refresh_token) else None


def close(request: Request) -> None:
    """Sign-out: the session is gone from the server, whatever the browser keeps."""
    session_id = session.cookies(request).get(session.SESSION, "")
    if session_id:
        wiring.get().table.delete_session(_hash(session_id))
