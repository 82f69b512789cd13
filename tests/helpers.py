"""Small helpers shared by the app-level and end-to-end tests."""

from __future__ import annotations

import email
import hashlib
from email.message import EmailMessage
from email.policy import default

from chalicelib.domain.access.auth import RELEASE_ENGINEERS, SUPPORT_ADMINS, Identity
from patchcast_tools.outbox import link, text_of

__all__ = ["ADMIN", "CUSTOMER", "ENGINEER", "link", "parse", "sha256", "text_of"]

# Callers of the domain functions, as a verified token makes them (tests that call those functions directly).
ENGINEER = Identity(subject="engineer", email=None, account_id=None, groups=frozenset({RELEASE_ENGINEERS}))
ADMIN = Identity(subject="admin", email=None, account_id=None, groups=frozenset({SUPPORT_ADMINS}))
CUSTOMER = Identity(subject="customer", email="ops@acme.example", account_id="acme", groups=frozenset())


def parse(raw: str | bytes) -> EmailMessage:
    data = raw.encode() if isinstance(raw, str) else raw
    return email.message_from_bytes(data, policy=default)  # type: ignore[return-value]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tampered(token: str) -> str:
    """A link token with the first character of its MAC changed. That character always carries six bits of
    the MAC, so the result can never verify (changed last characters can decode to the same bytes)."""
    head, _, mac = token.rpartition(".")
    return f"{head}.{'B' if mac[0] == 'A' else 'A'}{mac[1:]}"
