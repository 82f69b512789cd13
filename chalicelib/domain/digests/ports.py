"""What sending the digests asks of the store, as a Protocol: the window's items page by page with the runner's cursor,
the context of a recipient's digest, and its record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from chalicelib.domain.core.models import Release, Subscription
from chalicelib.domain.core.records import SentDigest


class DigestStore(Protocol):  # pragma: no mutate block
    """What the digest runner needs from the store: the items queued for a window, page by page from its cursor,
    each recipient's context, and the digests sent."""

    def digest_page(
        self, bucket: str, *, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]: ...
    def digest_cursor(self) -> str | None: ...
    def set_digest_cursor(self, bucket: str) -> None: ...
    def queued_before(self, items: Sequence[dict[str, Any]]) -> set[str]: ...
    def digest_context(
        self, subscriptions: Sequence[tuple[str, str]], releases: Sequence[str]
    ) -> tuple[dict[str, Subscription], dict[str, Release]]: ...
    def record_digests(self, bucket: str, sent: Sequence[SentDigest], tallies: dict[str, dict[str, int]]) -> None: ...
