"""Small helpers shared by the app-level and end-to-end tests."""

from __future__ import annotations

import email
import hashlib
from email.message import EmailMessage
from email.policy import default

from patchcast_tools.outbox import link, text_of

__all__ = ["link", "parse", "sha256", "text_of"]


def parse(raw: str | bytes) -> EmailMessage:
    data = raw.encode() if isinstance(raw, str) else raw
    return email.message_from_bytes(data, policy=default)  # type: ignore[return-value]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
