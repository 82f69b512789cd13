"""An announcement's notices through the release pipeline: fan-out pages and the emails of a delivery batch.

The announcement itself (``mail.ANNOUNCE``) is planned like a release notice (``fanout_plan.plan_accounts``:
preferences, contract, one email per address and account, the Elite CSM's copy waiting for the
account's batches), over the audience of the tiers that have the advance notice only (a Query per
tier's rank, never the other tiers). An update or cancellation is planned like a recall, from the
announcement's delivery records: whoever got it, and no one else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.domain.announcements import invites
from chalicelib.domain.announcements.plans import notice_of, tiers_with_notice
from chalicelib.domain.announcements.ports import AnnouncementMailStore
from chalicelib.domain.core.entitlements import policy
from chalicelib.domain.core.messages import DeliveryBatch, FanoutPage
from chalicelib.domain.core.models import Recipient
from chalicelib.domain.core.states import ClaimStatus, Notice, notice_kind
from chalicelib.domain.fanout.pages import PAGE_LEASE_SECONDS, PAGE_SIZE, stand_back
from chalicelib.domain.fanout.plan import BATCH_SIZE, plan_accounts
from chalicelib.domain.mail import notices as mail
from chalicelib.domain.releases.recall import PAGE_SIZE as RECORDS_PAGE
from chalicelib.domain.releases.recall import reached
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.access.links import LinkMaker
    from chalicelib.domain.announcements.ports import AnnouncementDeliveryStore
    from chalicelib.domain.core.ports import Queues
    from chalicelib.domain.core.records import Announcement


def plans(page: FanoutPage) -> bool:
    """Whether a fan-out page is an announcement's."""
    return page.kind.startswith(Notice.ANNOUNCE)


def plan_page(table: AnnouncementDeliveryStore, queues: Queues, message: FanoutPage) -> int:
    """One page of an announcement's notice: claim it, plan its batches, enqueue them, then its successor
    (last, as ``fanout.run`` explains). A notice its announcement's state no longer sends, or an update the
    announcement has moved past (a later one goes to the same people), is not planned."""
    announcement_id, notice, page = message.release_id, message.kind, message.page
    found = table.get_announcement(announcement_id)
    if found is None or found.status not in mail.SENDABLE[notice_kind(notice)]:
        return 0
    if notice_kind(notice) == Notice.ANNOUNCE_UPDATE and notice != notice_of(found):
        return 0  # moved again since: the later update reaches the same people
    claim = table.claim_page(announcement_id, notice, page, lease_seconds=PAGE_LEASE_SECONDS)
    if claim != ClaimStatus.CLAIMED:
        return stand_back(queues, message, claim)
    if notice == Notice.ANNOUNCE:
        planned, successor = _audience(table, found, message)
    else:
        planned, successor = _followers(table, found, message)
    outgoing = [replace(b, notice=notice) for b in planned]
    if outgoing:
        queues.send_batches(outgoing, critical=False)
    if successor is not None:
        queues.send_fanout_page(successor)
    else:
        table.finish_page(announcement_id, notice, page)
    recipients = sum(len(b.recipients) for b in planned)
    logger.info(
        "announcement page",
        extra={"release_id": announcement_id, "notice": notice, "page": page, "recipients": recipients},
    )
    return recipients


def _audience(
    table: AnnouncementDeliveryStore, a: Announcement, message: FanoutPage
) -> tuple[list[DeliveryBatch], FanoutPage | None]:
    """A page of the audience of the tiers with the advance notice (their ranks in turn), as batches."""
    ranks = tiers_with_notice()
    rank = message.rank if message.rank is not None else (ranks[0] if ranks else 0)
    if rank not in ranks:
        return [], None
    entries, cursor = table.tier_audience_page(a.product, rank, limit=PAGE_SIZE, cursor=message.cursor)
    accounts = table.get_accounts(e.account_id for e in entries) if entries else {}
    entitled = {k: acc for k, acc in accounts.items() if (tier := policy(acc.tier)) and tier.advance_update_notice}
    later = [r for r in ranks if r > rank]
    planned, carry = plan_accounts(
        a.as_release(),
        [e for e in entries if e.account_id in entitled],
        entitled,
        datetime.now(UTC),
        page=message.page,
        carry=message.carry,
        more=bool(cursor),
    )
    if cursor:
        return planned, replace(message.following(cursor, carry), rank=rank)
    if later:
        return planned, replace(message, page=message.page + 1, cursor=None, carry={}, rank=later[0])
    return planned, None


def _followers(
    table: AnnouncementDeliveryStore, a: Announcement, message: FanoutPage
) -> tuple[list[DeliveryBatch], FanoutPage | None]:
    """A page of those the announcement reached (its delivery records), as batches of an update or cancellation."""
    items, cursor = table.delivery_page(a.announcement_id, Notice.ANNOUNCE, limit=RECORDS_PAGE, cursor=message.cursor)
    people, carry = reached(items, message.carry, more=bool(cursor))
    batches = [
        DeliveryBatch(a.announcement_id, f"{message.page}-{i // BATCH_SIZE}", tuple(people[i : i + BATCH_SIZE]))
        for i in range(0, len(people), BATCH_SIZE)
    ]
    return batches, (message.following(cursor, carry) if cursor else None)


def composer(
    table: AnnouncementMailStore,
    urls: LinkMaker,
    *,
    sender: str,
    region: str,
    announcement_id: str,
    recipients: list[Recipient],
    notified: list[str],
) -> Callable[[Recipient], bytes]:
    """Each recipient's email about the announcement as it is now, with the calendar; a subscriber's with
    its unsubscribe link; an update or cancellation replying to the announcement that recipient got."""
    found, accounts, parents = table.announcement_context(announcement_id, recipients)
    if found is None:
        raise LookupError(f"announcement {announcement_id} is gone")
    now = datetime.now(UTC)

    def compose(r: Recipient) -> bytes:
        account = accounts.get(r.account_id)
        parent = parents.get(r.key) if found.sequence or found.status == "cancelled" else None
        invite = invites.Invite(
            to=r.email,
            role=r.role,
            account_id=r.account_id,
            csm=account.csm_email if account else None,
            unsubscribe=urls.unsubscribe(r.account_id, r.subscription_id) if r.role == "subscriber" else None,
            in_reply_to=mail.ses_message_id_header(parent, region) if parent else None,
            notified=tuple(n for n in notified if n.split(" ")[0] != r.email) if r.role == "csm" else (),
        )
        return invites.notice(sender=sender, a=found, invite=invite, now=now)

    return compose
