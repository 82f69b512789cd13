"""The links emails carry: confirm, unsubscribe and download URLs on our API, each a signed token."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from chalicelib.domain.access.tokens import KeyRing, Purpose, mint

UNSUBSCRIBE_DAYS = 400  # outlives any annual support period, so an old notice can always unsubscribe


@dataclass(frozen=True)
class LinkMaker:
    ring: KeyRing
    base_url: str

    def confirm(self, account_id: str, subscription_id: str, *, hours: int) -> str:
        token = mint(
            self.ring, Purpose.CONFIRM, account_id=account_id, subject=subscription_id, expires=_after(hours * 3600)
        )
        return f"{self.base_url}/subscriptions/confirm?token={quote(token)}"

    def unsubscribe(self, account_id: str, subscription_id: str) -> str:
        token = mint(
            self.ring,
            Purpose.UNSUBSCRIBE,
            account_id=account_id,
            subject=subscription_id,
            expires=_after(UNSUBSCRIBE_DAYS * 86400),
        )
        return f"{self.base_url}/unsubscribe?token={quote(token)}"

    def download(self, account_id: str, subscription_id: str, release_id: str, *, expires: int) -> str:
        token = mint(
            self.ring,
            Purpose.DOWNLOAD,
            account_id=account_id,
            subject=subscription_id,
            release_id=release_id,
            expires=expires,
        )
        return f"{self.base_url}/d/{token}"

    def renew(self, download_token: str) -> str:
        """Where an expired download link's page posts to have a fresh link emailed."""
        return f"{self.base_url}/d/{download_token}/renew"


def download_expiry(days: int, *, now: float | None = None) -> int:
    """When a download link minted now (``now``, epoch seconds; the system's time if None) stops working: ``days``
    from now, at the start of that minute, the time its email states ("works until 2026-12-08 16:20 UTC"). What the
    email says is then exact, and the batches a container delivers within the minute share one rendered notice
    (``delivery_compose``)."""
    seconds = days * 86400
    return (_after(seconds) if now is None else int(now) + seconds) // 60 * 60


def stated(expires: datetime) -> str:
    """A link's expiry as every email and page states it: to the minute, in UTC."""
    return expires.strftime("%Y-%m-%d %H:%M UTC")


def _after(seconds: int) -> int:
    return int(time.time()) + seconds
