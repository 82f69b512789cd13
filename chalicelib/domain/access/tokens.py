"""Signed, purpose-bound link tokens: opaque, URL-safe, HMAC-SHA256, with a key id for rotation.

``<kid>.<payload>.<mac>`` where payload is the base64url of ``purpose|account|subject|release|expiry``
and the MAC key is derived per purpose from the key named by ``kid``, so a token minted for one
purpose can never verify for another. Pure: keys are handed in, no AWS here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class Purpose(StrEnum):
    DOWNLOAD = "d"
    UNSUBSCRIBE = "u"
    CONFIRM = "c"


class TokenInvalid(Exception):
    """Unknown, tampered, wrong purpose or malformed: the caller learns nothing more."""


class TokenExpired(Exception):
    def __init__(self, claims: Claims) -> None:
        super().__init__("token expired")
        self.claims = claims


@dataclass(frozen=True)
class Claims:
    purpose: Purpose
    account_id: str
    subject: str  # subscription id
    release_id: str  # "-" when the purpose has no release
    expires: int


@dataclass(frozen=True)
class KeyRing:
    """Signing keys by id; ``current`` signs, every key still listed verifies."""

    current: str
    keys: dict[str, bytes]


_MAX_TOKEN = 512
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,16}\.[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{22}$")
_FIELD = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=64)
def _purpose_key(secret: bytes, purpose: Purpose) -> bytes:
    return hmac.new(secret, b"patchcast-token-v1:" + purpose.value.encode(), hashlib.sha256).digest()


def _mac(secret: bytes, purpose: Purpose, signed: bytes) -> bytes:
    # 128 bits of MAC: forging one takes 2**128 guesses, and links stay short. hmac.digest is the
    # one-shot C path (about twice as fast as hmac.new(...).digest()).
    return hmac.digest(_purpose_key(secret, purpose), signed, "sha256")[:16]


def mint(ring: KeyRing, purpose: Purpose, *, account_id: str, subject: str, release_id: str = "-", expires: int) -> str:
    for value in (account_id, subject, release_id):
        if not _FIELD.fullmatch(value):
            raise ValueError(f"cannot put {value!r} in a token")
    kid = ring.current
    payload = _b64(f"{purpose.value}|{account_id}|{subject}|{release_id}|{expires}".encode())
    signed = f"{kid}.{payload}".encode()
    return f"{kid}.{payload}.{_b64(_mac(ring.keys[kid], purpose, signed))}"


def verify(ring: KeyRing, token: str, purpose: Purpose, *, now: float | None = None) -> Claims:
    if not isinstance(token, str) or len(token) > _MAX_TOKEN or not _SHAPE.fullmatch(token):
        raise TokenInvalid()
    kid, payload, mac = token.split(".")
    secret = ring.keys.get(kid)
    if secret is None:
        raise TokenInvalid()
    # Compare the MAC's text, not its decoded bytes: base64 leaves spare bits in the last character,
    # so decoding would accept several spellings of one MAC (a malleable token).
    expected = _b64(_mac(secret, purpose, f"{kid}.{payload}".encode()))
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise TokenInvalid()
    try:
        fields = _unb64(payload).decode("ascii").split("|")
        tag, account_id, subject, release_id, expires = fields
        claims = Claims(Purpose(tag), account_id, subject, release_id, int(expires))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenInvalid() from exc
    if claims.purpose is not purpose:
        raise TokenInvalid()
    if claims.expires < (time.time() if now is None else now):
        raise TokenExpired(claims)
    return claims
