"""One notice per address and account: when two addresses are "the same", the digest of an address a carry
remembers (small, and no address in the queue), and the carry's memory of an account's addresses across pages.
Pure; fan-out's planning (``plan``) and a recall's (``releases.recall``) both use it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.core.models import Recipient

# The digests of one account's addresses a page carries to the next (~19 bytes each in the message).
MAX_CARRIED_ADDRESSES = 4000


def address_key(address: str) -> str:
    """An address as compared for "the same address": the domain is case-insensitive, the local part is not
    (RFC 5321 leaves it to the receiving host)."""
    local, at, domain = address.rpartition("@")
    return f"{local}{at}{domain.lower()}"


def address_digest(address: str) -> str:
    """64 bits of the compared address: what a carry remembers of an address (small, and no address in the
    queue). Two distinct addresses of one account collide with odds of about n² / 2⁶⁵."""
    return hashlib.blake2b(address_key(address).encode(), digest_size=8).hexdigest()


def first_per_address(people: list[Recipient], seen: set[str]) -> list[Recipient]:
    """Each address once: drop a recipient whose address is in ``seen`` (digests), adding the kept ones."""
    kept = []
    for r in people:
        digest = address_digest(r.email)
        if digest not in seen:
            seen.add(digest)
            kept.append(r)
    return kept


def carried_seen(carry: Mapping[str, Any], account_id: str) -> set[str]:
    return set(carry.get("seen", [])) if carry.get("account") == account_id else set()


def seen_for_carry(seen: set[str]) -> list[str]:
    # Sorted: a retried page carries the same message. Capped: an SQS message holds at most 256 KiB.
    return sorted(seen)[:MAX_CARRIED_ADDRESSES]
