"""A fresh download link for an expired one: emailed to the subscribed address (never shown to whoever holds
the old link), only while the subscription is active and entitled, at most once per ``FRESH_LINK_WINDOW``
per subscriber and release, threaded under the release's notice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.domain.access.links import LinkMaker, download_expiry
from chalicelib.domain.core.errors import Forbidden, Rejected, ServiceUnavailable, Throttled, TooManyRequests
from chalicelib.domain.core.states import SubscriptionStatus
from chalicelib.domain.downloads.clicks import Grant, authorize
from chalicelib.domain.downloads.ports import FreshLinkStore
from chalicelib.domain.mail import notices as mail
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Mailer


FRESH_LINK_WINDOW = 900  # one fresh-link email per subscriber and release per 15 minutes: no mail bombs


def send_fresh_link(
    table: FreshLinkStore, mailer: Mailer, urls: LinkMaker, token: str, *, days: int, region: str
) -> datetime:
    """Email a new link for the same release to the subscribed address; returns when it expires.

    Only for a subscription still active (we do not email people who unsubscribed) and entitled now. It
    threads under the release's notice (``region``: SES's, whose Message-ID that notice carries).
    """
    grant = authorize(table, urls, token, allow_expired=True)
    sub, release = grant.subscription, grant.release
    if sub.status != SubscriptionStatus.ACTIVE:
        raise Forbidden(
            "The address this link was sent to no longer receives alerts, so we cannot email it a fresh link.",
            code="not_subscribed",
            hint=f"Subscribe again to {release.product} alerts, or ask your support administrator for the file.",
        )
    if not table.claim_fresh_link(
        release.release_id, grant.account_id, grant.subscription_id, window=FRESH_LINK_WINDOW
    ):
        raise TooManyRequests(
            "A fresh link for this release was emailed less than 15 minutes ago.",
            code="fresh_link_recently_sent",
            hint="Check the inbox (and spam folder) of the address the original link was sent to.",
        )
    expires = download_expiry(days)
    raw = _notice_again(table, mailer, urls, grant, expires, region)
    try:
        mailer.send_raw(sub.email, raw)
    except (Throttled, Rejected) as exc:
        table.release_fresh_link(release.release_id, grant.account_id, grant.subscription_id)
        raise ServiceUnavailable("We could not send the email just now; please try again in a few minutes.") from exc
    logger.info("fresh download link sent", extra={"release_id": release.release_id, "account_id": grant.account_id})
    return datetime.fromtimestamp(expires, UTC)


def _notice_again(
    table: FreshLinkStore, mailer: Mailer, urls: LinkMaker, grant: Grant, expires: int, region: str
) -> bytes:
    """The release's notice again, with the fresh link, as a reply to the first."""
    release = grant.release
    first = table.notice_message_id(release.release_id, grant.account_id, grant.subscription_id)
    return mail.release_notice(
        sender=mailer.sender,
        to=grant.subscription.email,
        release=release,
        links=mail.Links(
            download=urls.download(grant.account_id, grant.subscription_id, release.release_id, expires=expires),
            unsubscribe=urls.unsubscribe(grant.account_id, grant.subscription_id),
            expires=datetime.fromtimestamp(expires, UTC),
        ),
        note="You asked for a fresh download link; the earlier one has expired or is about to.",
        in_reply_to=mail.ses_message_id_header(first, region) if first else None,
    )
