"""One subscription's digest: what it lists (``choose``), its email (``mail``), one send paced to the function's
share of SES's rate; answers the ``SentDigest`` its marker records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.links import download_expiry
from chalicelib.domain.core.errors import Paused, Rejected, Throttled
from chalicelib.domain.core.models import Subscription, now_iso
from chalicelib.domain.core.records import SentDigest
from chalicelib.domain.digests import choose
from chalicelib.domain.digests import mail as digest_mail
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.digests.ports import DigestDeps


class Stop(Exception):
    """SES throttled or paused sending, or the deadline is near: stop, the batch goes back on the queue."""

    def __init__(self, why: str, *, paused: bool = False, deadline: bool = False) -> None:
        super().__init__(why)
        self.paused, self.deadline = paused, deadline


def one(deps: DigestDeps, group: list[dict[str, Any]], subs: dict[str, Subscription], already: set[str]) -> SentDigest:
    """Compose and send one subscription's digest (paced), or record why it is not sent; ``Stop`` when SES
    throttles or is paused (nothing was sent to this one)."""
    recipient = choose.recipient(group[0])
    listed, skipped = choose.listed(group, subs, already, releases=deps.releases, contracts=(deps.accounts, deps.now))
    if not listed:
        return SentDigest(recipient, "skipped", (), None, now_iso(), tuple(skipped))
    expires = download_expiry(deps.link_days)
    entries = [
        digest_mail.Entry(
            r,
            deps.urls.download(recipient.account_id, recipient.subscription_id, r.release_id, expires=expires)
            if r.object_key
            else None,
        )
        for r in sorted(listed, key=lambda r: (r.published_at or "", r.release_id))
    ]
    raw = digest_mail.digest(
        sender=deps.mailer.sender,
        to=recipient.email,
        frequency=str(group[0]["frequency"]),
        window=str(group[0].get("window", "")),
        entries=entries,
        expires=datetime.fromtimestamp(expires, UTC),
        unsubscribe=deps.urls.unsubscribe(recipient.account_id, recipient.subscription_id),
    )
    releases = tuple(e.release.release_id for e in entries)
    deps.pacer.wait()
    try:
        message_id = deps.mailer.send_raw(recipient.email, raw)
    except (Throttled, Paused) as exc:
        raise Stop(str(exc), paused=isinstance(exc, Paused)) from exc
    except Rejected as exc:
        logger.warning("digest rejected", extra={"recipient": recipient.key, "error": str(exc)[:200]})
        return SentDigest(recipient, "failed", releases, None, now_iso(), tuple(skipped))
    return SentDigest(recipient, "sent", releases, message_id, now_iso(), tuple(skipped))
