"""The click on a download link: verify the token, check the entitlement now, audit, redirect to S3.

The redirect target is always a presigned GET of the release's own object, never anything a request
parameter names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.blobs import Blobs
from chalicelib.entitlements import decide
from chalicelib.errors import Forbidden, Gone, NotFound
from chalicelib.models import Release
from chalicelib.store import Table
from chalicelib.tokens import KeyRing, Purpose, TokenExpired, TokenInvalid, verify

PRESIGN_SECONDS = 300


@dataclass(frozen=True)
class Grant:
    release: Release
    account_id: str
    subscription_id: str


def authorize(table: Table, ring: KeyRing, token: str) -> Grant:
    try:
        claims = verify(ring, token, Purpose.DOWNLOAD)
    except TokenExpired as exc:
        raise Gone("This download link has expired.", code="link_expired") from exc
    except TokenInvalid as exc:
        raise NotFound("This download link is not valid.", code="invalid_link") from exc
    release, account, sub = table.download_context(claims.release_id, claims.account_id, claims.subject)
    if release is None or not release.object_key or release.status not in ("published", "yanked"):
        raise NotFound("This download link is not valid.", code="invalid_link")
    if release.status == "yanked":
        instead = f" It is superseded by version {release.superseded_version}." if release.superseded_version else ""
        raise Gone(
            f"This release was withdrawn: {release.reason or 'no reason given'}.{instead}", code="release_yanked"
        )
    if account is None:
        raise Forbidden("The support contract for this link no longer exists.", code="no_contract")
    if sub is None:
        raise Forbidden("The subscription this link was sent to has been removed.", code="subscription_removed")
    decision = decide(
        account.contract(), product=release.product, kind=release.kind, channel=release.channel, now=datetime.now(UTC)
    )
    if not decision:
        raise Forbidden(decision.message, code=decision.reason.value)
    return Grant(release=release, account_id=claims.account_id, subscription_id=claims.subject)


def redirect_url(table: Table, blobs: Blobs, ring: KeyRing, token: str, *, ip: str, user_agent: str) -> str:
    grant = authorize(table, ring, token)
    release = grant.release
    assert release.object_key is not None
    table.record_download(
        release.release_id,
        account_id=grant.account_id,
        subscription_id=grant.subscription_id,
        ip=ip,
        user_agent=user_agent,
    )
    return blobs.download_url(release.object_key, filename=release.filename or "download", expires=PRESIGN_SECONDS)
