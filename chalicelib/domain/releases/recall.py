"""Yanking a release: downloads stop (410 with the reason), and a recall goes to everyone the release
notice reached (subscribers, on-call and CSM contacts, each a recall of their own kind), planned page by
page from the recorded deliveries on the fan-out queue, threaded under the notice it recalls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.auth import RELEASE_ENGINEERS, Identity
from chalicelib.domain.access.links import LinkMaker, download_expiry
from chalicelib.domain.core import validation as v
from chalicelib.domain.core import versions
from chalicelib.domain.core.clock import SYSTEM, iso
from chalicelib.domain.core.errors import BadRequest, Conflict, NotFound
from chalicelib.domain.core.messages import DeliveryBatch, FanoutPage
from chalicelib.domain.core.models import Recipient, Release
from chalicelib.domain.core.records import DeliveryRecord
from chalicelib.domain.core.states import ClaimStatus, DeliveryStatus, Notice, ReleaseStatus, Role
from chalicelib.domain.downloads.clicks import downloadable
from chalicelib.domain.fanout.addresses import carried_seen, first_per_address, seen_for_carry
from chalicelib.domain.fanout.pages import PAGE_LEASE_SECONDS, critical, stand_back
from chalicelib.domain.fanout.plan import BATCH_SIZE, by_account
from chalicelib.domain.mail import copies
from chalicelib.domain.mail import notices as mail
from chalicelib.domain.releases.ports import RecallMailStore, RecallStore
from chalicelib.domain.releases.publishing import QUEUEING_LEASE_SECONDS
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Clock, Queues


RECALL = mail.RECALL  # the fan-out message kind, and the notice kind delivery sends
PAGE_SIZE = 500
_YANKABLE = [ReleaseStatus.AWAITING_UPLOAD, ReleaseStatus.AVAILABLE, ReleaseStatus.SCHEDULED, ReleaseStatus.PUBLISHED]


def yank(
    table: RecallStore, queues: Queues, who: Identity, release_id: str, body: dict[str, Any], *, clock: Clock = SYSTEM
) -> Release:
    who.require_group(RELEASE_ENGINEERS)
    v.reject_unknown(body, ("reason", "superseded_by"))
    reason = v.text(body, "reason", max_len=500)
    superseded_by = v.identifier(body, "superseded_by", required=False)
    release = table.get_release(release_id, consistent=True)
    if release is None:
        raise NotFound(f"Release {release_id} does not exist.")
    successor = _successor(table, release, superseded_by) if superseded_by is not None else None
    if release.status == ReleaseStatus.YANKED:  # idempotent: finishes a recall not yet queued
        return _same_yank(_queue_recall(table, queues, release), reason, superseded_by)
    fields: dict[str, Any] = {"reason": reason, "yanked_at": iso(clock)}
    if successor is not None:
        fields.update(
            superseded_by=successor.release_id, superseded_version=successor.version, superseded_kind=successor.kind
        )
    yanked = table.transition_release(release_id, from_status=_YANKABLE, to_status=ReleaseStatus.YANKED, **fields)
    if yanked is None:
        current = table.get_release(release_id, consistent=True)
        if current is not None and current.status == ReleaseStatus.YANKED:
            return _same_yank(_queue_recall(table, queues, current), reason, superseded_by)
        raise Conflict(f"Release {release_id} is {release.status} and cannot be yanked.", code="not_yankable")
    logger.info("release yanked", extra={"release_id": release_id})
    return _queue_recall(table, queues, yanked)


def _successor(table: RecallStore, release: Release, successor_id: str) -> Release:
    """The release named to replace a yanked one, if it may: another release of the same product, published, on
    a channel every recipient of the recall may see (a GA release's recipients include tiers without beta), and
    newer in version order. Anything else is a 400 that names the rule."""
    successor = table.get_release(successor_id, consistent=True)
    if successor is None or successor_id == release.release_id:
        raise BadRequest(f"Field 'superseded_by' names no other release ({successor_id}).", code="invalid_field")
    if successor.product != release.product:
        why = f"is a release of {successor.product}, not of {release.product}"
    elif successor.status != ReleaseStatus.PUBLISHED:
        why = f"is {successor.status}, not published: publish it first"
    elif successor.channel == "beta" and release.channel != "beta":
        why = "is a beta release, which the GA release's Premium and Xtreme recipients may not see"
    elif versions.order_key(successor.version) <= versions.order_key(release.version):
        why = f"has version {successor.version}, not newer than {release.version}"
    else:
        return successor
    raise BadRequest(f"Field 'superseded_by': release {successor_id} {why}.", code="invalid_successor")


def _same_yank(release: Release, reason: str | None, superseded_by: str | None) -> Release:
    """A repeated yank is idempotent only when it says the same: another reason or successor is a 409 that
    names what was kept (a yank is final; its recall already says the first reason)."""
    if reason != release.reason or superseded_by not in (None, release.superseded_by):
        raise Conflict(
            f"Release {release.release_id} is already yanked (reason kept: {release.reason or 'none'!s:.200}"
            f"{'; superseded by ' + release.superseded_by if release.superseded_by else ''}).",
            code="already_yanked",
        )
    return release


def _queue_recall(table: RecallStore, queues: Queues, release: Release) -> Release:
    """Queue the recall's first page once, and only if the release notice went out to anyone."""
    if (
        release.fanout_at
        and not release.recall_at
        and table.claim_queueing(release.release_id, "recall", lease_seconds=QUEUEING_LEASE_SECONDS)
    ):
        queues.send_fanout_page(FanoutPage(release.release_id, RECALL))
        table.mark_queued(release.release_id, "recall")
    return release


def reached(
    items: list[DeliveryRecord], carry: Mapping[str, Any], *, more: bool
) -> tuple[list[Recipient], Mapping[str, Any]]:
    """The recipients a page of delivery records shows the notice reached, each address once per account
    (a subscriber's row before a role copy's), and the carry of the last account when more pages follow."""
    groups = by_account([i.recipient for i in items if i.status == DeliveryStatus.SENT])
    out: list[Recipient] = []
    seen: set[str] = set()
    for account_id, rows in groups.items():
        seen = carried_seen(carry, account_id)
        out += first_per_address(sorted(rows, key=lambda r: r.role != Role.SUBSCRIBER), seen)
    last = next(reversed(groups), None)
    if not more or last is None:
        return out, (carry if more else {})
    return out, {"account": last, "seen": seen_for_carry(seen)}


def run_page(table: RecallStore, queues: Queues, message: FanoutPage) -> int:
    """One page of the release notice's deliveries -> recall batches of <= 49 of those it reached.

    Claimed like a release notice's page (``fanout.run`` says why the successor goes last). Batch ids
    derive from the page number and position, so a page planned again yields the same batches and
    delivery's claim keeps them from sending twice.
    """
    release_id, page = message.release_id, message.page
    release = table.get_release(release_id)
    if release is None or release.status != ReleaseStatus.YANKED:
        return 0
    claim = table.claim_page(release_id, RECALL, page, lease_seconds=PAGE_LEASE_SECONDS)
    if claim != ClaimStatus.CLAIMED:
        return stand_back(queues, message, claim)
    items, cursor = table.delivery_page(release_id, Notice.RELEASE, limit=PAGE_SIZE, cursor=message.cursor)
    people, carry_on = reached(items, message.carry, more=bool(cursor))
    batches = [
        DeliveryBatch(release_id, f"{page}-{i // BATCH_SIZE}", tuple(people[i : i + BATCH_SIZE]), RECALL)
        for i in range(0, len(people), BATCH_SIZE)
    ]
    if batches:
        queues.send_batches(batches, critical=critical(release))
    if cursor:
        queues.send_fanout_page(message.following(cursor, carry_on))
    else:
        table.finish_page(release_id, RECALL, page)
    logger.info("recall page", extra={"release_id": release_id, "page": page, "recipients": len(people)})
    return len(people)


def composer(
    table: RecallMailStore,
    urls: LinkMaker,
    *,
    sender: str,
    region: str,
    link_days: int,
    release: Release,
    recipients: list[Recipient],
    clock: Clock | None = None,
) -> Callable[[Recipient], bytes]:
    """The recall of each recipient of a batch, rendered in full (recalls are few): a subscriber's with its
    unsubscribe link and, where its contract is entitled to it, the successor's download; an on-call or
    CSM contact's a role recall. Each replies to the Message-ID SES gave the notice it recalls."""
    parents, accounts, successor = table.recall_context(release, recipients)
    now = (clock or SYSTEM).now()
    expires = download_expiry(link_days, now=None if clock is None else now.timestamp())
    until = datetime.fromtimestamp(expires, UTC)

    def compose(r: Recipient) -> bytes:
        parent = mail.ses_message_id_header(parents[r.key], region) if r.key in parents else None
        if r.role != Role.SUBSCRIBER:
            return copies.recall_copy(
                sender=sender, to=r.email, release=release, account_id=r.account_id, role=r.role, in_reply_to=parent
            )
        download = (
            urls.download(r.account_id, r.subscription_id, successor.release_id, expires=expires)
            if successor is not None and downloadable(successor, accounts.get(r.account_id), now)
            else None
        )
        unsubscribe = urls.unsubscribe(r.account_id, r.subscription_id)
        return mail.recall_notice(
            sender=sender,
            to=r.email,
            release=release,
            links=mail.Links(download, unsubscribe, until),
            in_reply_to=parent,
        )

    return compose
