"""The click on a download link: verify the token, check the entitlement now, audit, redirect to S3.

The redirect target is always a presigned GET of the release's own object at the version verification
hashed, never anything a request parameter names nor anything written under the key since. An expired
link's page offers a fresh one (``fresh_links``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.links import LinkMaker, stated
from chalicelib.domain.access.tokens import Claims, Purpose, TokenExpired, TokenInvalid, verify
from chalicelib.domain.core.entitlements import decide
from chalicelib.domain.core.errors import (
    Action,
    Forbidden,
    Gone,
    NotFound,
)
from chalicelib.domain.core.models import Account, Release, Subscription
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.downloads.ports import DownloadStore
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Blobs


PRESIGN_SECONDS = 300

_INVALID_HINT = (
    "Open the link straight from the email; if your mail program split it across lines, copy the whole address."
)
_CONTRACT_HINT = "If you think this is wrong, ask your support administrator or Customer Success Manager."


@dataclass(frozen=True)
class Grant:
    release: Release
    account: Account
    subscription: Subscription
    downloaded_before: bool = False  # the report counts a subscriber's first download as a downloader

    @property
    def account_id(self) -> str:
        return self.account.account_id

    @property
    def subscription_id(self) -> str:
        return self.subscription.subscription_id


def _invalid() -> NotFound:
    return NotFound("This download link is not valid.", code="invalid_link", hint=_INVALID_HINT)


def _claims(urls: LinkMaker, token: str, *, allow_expired: bool) -> Claims:
    try:
        return verify(urls.ring, token, Purpose.DOWNLOAD)
    except TokenExpired as exc:
        if allow_expired:
            return exc.claims  # authentic: the MAC was checked before the expiry
        when = stated(datetime.fromtimestamp(exc.claims.expires, UTC))
        raise Gone(
            f"This download link expired on {when}.",
            code="link_expired",
            hint="We can email a fresh link to the address this one was sent to, if you are still entitled.",
            action=Action(label="Email me a fresh link", href=urls.renew(token)),
        ) from exc
    except TokenInvalid as exc:
        raise _invalid() from exc


def downloadable(release: Release, account: Account | None, now: datetime) -> bool:
    """May this account download this release now (it is out, has a file, and the contract covers it)?"""
    return (
        release.status == ReleaseStatus.PUBLISHED
        and bool(release.object_key)
        and account is not None
        and bool(
            decide(account.contract(), product=release.product, kind=release.kind, channel=release.channel, now=now)
        )
    )


def _withdrawn(
    table: DownloadStore, urls: LinkMaker, claims: Claims, release: Release, account: Account | None
) -> Gone:
    """The 410 of a yanked release's link: the reason, and the successor's download where the link's
    contract is entitled to it, a fresh link that lives as long as the one clicked (no longer than what
    was emailed)."""
    instead = f" It is superseded by {release.successor_name()}." if release.successor_name() else ""
    successor = table.get_release(release.superseded_by) if release.superseded_by and account else None
    action = None
    if successor is not None and downloadable(successor, account, datetime.now(UTC)):
        href = urls.download(claims.account_id, claims.subject, successor.release_id, expires=claims.expires)
        action = Action(f"Download version {successor.version}", href, method="GET")
    return Gone(
        f"This release was withdrawn: {release.reason or 'no reason given'}.{instead}",
        code="release_yanked",
        hint=f"Do not install it; look for a newer {release.product} release in your alerts or ask support.",
        action=action,
    )


def _entitled(table: DownloadStore, urls: LinkMaker, claims: Claims) -> Grant:
    """Release, contract and subscription in one read, then the entitlement as it stands now."""
    release, account, sub, seen = table.download_context(claims.release_id, claims.account_id, claims.subject)
    if (
        release is None
        or not release.object_key
        or release.status not in (ReleaseStatus.PUBLISHED, ReleaseStatus.YANKED)
    ):
        raise _invalid()
    if release.status == ReleaseStatus.YANKED:
        raise _withdrawn(table, urls, claims, release, account if sub is not None else None)
    if account is None:
        raise Forbidden("The support contract for this link no longer exists.", code="no_contract", hint=_CONTRACT_HINT)
    if sub is None:
        raise Forbidden(
            "The subscription this link was sent to has been removed.",
            code="subscription_removed",
            hint=f"Subscribe again to {release.product} alerts to receive new links.",
        )
    decision = decide(
        account.contract(), product=release.product, kind=release.kind, channel=release.channel, now=datetime.now(UTC)
    )
    if not decision:
        raise Forbidden(decision.message, code=decision.reason.value, hint=_CONTRACT_HINT)
    return Grant(release=release, account=account, subscription=sub, downloaded_before=seen)


def authorize(table: DownloadStore, urls: LinkMaker, token: str, *, allow_expired: bool = False) -> Grant:
    """The grant of an authentic link (``allow_expired``: one past its expiry too, to ask for a fresh one)."""
    return _entitled(table, urls, _claims(urls, token, allow_expired=allow_expired))


def redirect_url(table: DownloadStore, blobs: Blobs, urls: LinkMaker, token: str, *, ip: str, user_agent: str) -> str:
    grant = authorize(table, urls, token)
    return hand_out(
        table,
        blobs,
        grant.release,
        grant.account,
        downloader=grant.subscription_id,
        email=grant.subscription.email,
        first=not grant.downloaded_before,
        ip=ip,
        user_agent=user_agent,
    )


def hand_out(
    table: DownloadStore,
    blobs: Blobs,
    release: Release,
    account: Account,
    *,
    downloader: str,
    email: str | None,
    first: bool,
    ip: str,
    user_agent: str,
) -> str:
    """An entitled click: its audit record, then a presigned GET of the verified object version."""
    assert release.object_key is not None
    table.record_download(
        release.release_id,
        account_id=account.account_id,
        subscription_id=downloader,
        email=email,
        tier=account.tier,
        first=first,
        ip=ip,
        user_agent=user_agent,
    )
    logger.info("download", extra={"release_id": release.release_id, "account_id": account.account_id})
    return blobs.download_url(
        release.object_key,
        version_id=release.object_version,
        filename=release.filename or "download",
        expires=PRESIGN_SECONDS,
    )


def info(table: DownloadStore, urls: LinkMaker, token: str) -> dict[str, Any]:
    """What a script needs to verify the file it downloads through the same link."""
    r = authorize(table, urls, token).release
    return {
        "filename": r.filename,
        "size": r.size,
        "sha256": r.sha256,
        "release": {"id": r.release_id, "product": r.product, "kind": r.kind, "version": r.version, "title": r.title},
    }
