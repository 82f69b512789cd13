"""The message of each recipient of a delivery batch: a release notice rendered once per batch and filled in
per subscriber, the on-call and CSM copies, and a recall's or an announcement's own composer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.domain.access.links import download_expiry
from chalicelib.domain.core.clock import epoch
from chalicelib.domain.core.models import Recipient, Release
from chalicelib.domain.core.states import Notice, Role
from chalicelib.domain.mail import copies
from chalicelib.domain.mail import notices as mail
from chalicelib.domain.mail import templates as notice_template

if TYPE_CHECKING:
    from chalicelib.domain.delivery.ports import Deps

RECALL = mail.RECALL

Compose = Callable[[Recipient], bytes]

# The notices rendered lately in this container, by what they are rendered from: the batches of a release
# delivered within a minute (links expire to the minute) render its notice once. A few only: a warm container
# works through a release at a time.
_RENDERED: dict[tuple[object, ...], notice_template.NoticeTemplate] = {}
_RENDERED_MAX = 8


def _template(notice: str, release: Release, sender: str, until: datetime) -> notice_template.NoticeTemplate:
    build = mail.NOTICES[notice]
    key = (build, release, sender, until)
    found = _RENDERED.get(key)
    if found is None:
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.clear()
        found = _RENDERED[key] = notice_template.NoticeTemplate(
            build, sender=sender, release=release, expires=until, download=bool(release.object_key)
        )
    return found


def composer(deps: Deps, release: Release, notice: str, notified: list[str], todo: list[Recipient]) -> Compose:
    if notice == RECALL:
        return _recall(deps, release, todo)
    if notice.startswith(Notice.ANNOUNCE):
        return _announcement(deps, release, notified, todo)
    compose = _release_notice(deps, release, notice, notified)
    if release.announcement_id:  # its notice threads under the announcement, for those who got that
        from chalicelib.domain.announcements import plans as announcements

        return announcements.threaded(deps.table, release, todo, deps.region, compose)
    return compose


def _recall(deps: Deps, release: Release, todo: list[Recipient]) -> Compose:
    from chalicelib.domain.releases import recall

    return recall.composer(
        deps.table,
        deps.urls,
        sender=deps.mailer.sender,
        region=deps.region,
        link_days=deps.link_days,
        release=release,
        recipients=todo,
        clock=deps.clock,
    )


def _announcement(deps: Deps, release: Release, notified: list[str], todo: list[Recipient]) -> Compose:
    from chalicelib.domain.announcements import delivery as announce_delivery

    return announce_delivery.composer(
        deps.table,
        deps.urls,
        sender=deps.mailer.sender,
        region=deps.region,
        announcement_id=release.release_id,
        recipients=todo,
        notified=notified,
    )


def _release_notice(deps: Deps, release: Release, notice: str, notified: list[str]) -> Compose:
    """A release notice (or an update of one) per recipient: rendered once, filled in with each subscriber's
    links; the on-call and CSM copies their own."""
    expires = download_expiry(deps.link_days, now=None if deps.clock is None else epoch(deps.clock))
    sender, until = deps.mailer.sender, datetime.fromtimestamp(expires, UTC)
    notice_for = _template(notice, release, sender, until)

    def compose(r: Recipient) -> bytes:
        if r.role == Role.ONCALL:
            return copies.oncall_copy(sender=sender, to=r.email, release=release, account_id=r.account_id)
        if r.role == Role.CSM:
            return copies.csm_copy(
                sender=sender, to=r.email, release=release, account_id=r.account_id, notified=notified
            )
        links = mail.Links(
            download=deps.urls.download(r.account_id, r.subscription_id, release.release_id, expires=expires)
            if release.object_key
            else None,
            unsubscribe=deps.urls.unsubscribe(r.account_id, r.subscription_id),
            expires=until,
        )
        return notice_for.render(r.email, links)

    return compose
