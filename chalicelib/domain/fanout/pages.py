"""Fan-out: one page of a product's audience per invocation, filtered by preference and entitlement,
cut into delivery batches of at most 49 recipients; the next page goes back on the queue.

Each page is claimed once (a page delivered or queued twice is planned once). Batch ids derive from the
page number, position and members, so a page planned again after a crash produces the same batches and
delivery's claim/skip step keeps them from sending twice. One notice per address and account: repeats
among an account's subscribers are dropped, and tier extras ride along only for an address not notified
already: the on-call copy of a severity-1 notice joins the batch of the account's first recipient on
the page where the account ends, and an Elite account's CSM copy is a batch of its own that waits for
the batches holding the account's recipients (see docs/delivery.md). The planning itself, pure, is
``fanout_plan``; here the page's claim, its reads and its queueing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.domain.core.clock import SYSTEM
from chalicelib.domain.core.messages import FanoutPage
from chalicelib.domain.core.models import Release
from chalicelib.domain.core.states import ClaimStatus, Notice, ReleaseStatus
from chalicelib.domain.digests import windows as digests
from chalicelib.domain.fanout import plan as fanout_plan
from chalicelib.domain.fanout.plan import BATCH_SIZE
from chalicelib.domain.fanout.ports import FanoutStore, ProductStore
from chalicelib.observability import logger

if TYPE_CHECKING:
    from datetime import datetime

    from chalicelib.domain.core.ports import Clock, Queues


# Ten batches per page: one SendMessageBatch call per page, and a first page small enough that
# delivery starts within one round trip of publishing.
PAGE_SIZE = 10 * BATCH_SIZE
# A page's claim outlives its invocation (the fan-out function's timeout is 60 s); SQS retries a failed
# page after its visibility timeout (6 x the timeout), by when the lease has run out.
PAGE_LEASE_SECONDS = 120


def critical(release: Release) -> bool:
    """Severity-1 notices go to the critical delivery queue."""
    return release.severity == 1


def catalog_features(table: ProductStore, release: Release) -> tuple[str, ...] | None:
    """The release's product's catalog features, read once per page (not per recipient); None: no entry."""
    if release.severity != 1:  # only severity-1 on-call copies depend on them
        return ()
    product = table.get_product(release.product)
    if product is None:
        logger.warning(
            "product not in the catalog: on-call copies go as the tier's days say",
            extra={"release_id": release.release_id, "product": release.product},
        )
        return None
    return product.features


def stand_back(queues: Queues, message: FanoutPage, claim: ClaimStatus) -> int:
    """A page planned already is dropped; one held by a live invocation is looked at again once its lease
    could have run out (a new message: no receive burnt), in case that invocation dies."""
    if claim == ClaimStatus.BUSY:
        queues.send_fanout_page(message, delay=PAGE_LEASE_SECONDS)
    logger.info("fan-out page not planned again", extra={"release_id": message.release_id, "claim": claim})
    return 0


def run(table: FanoutStore, queues: Queues, message: FanoutPage, *, clock: Clock = SYSTEM) -> int:
    """Plan one page of the release notice: claim it, read it, enqueue its batches, then its successor.

    The page's claim (``Table.claim_page``) comes first, so a page delivered twice, or queued twice, is
    planned once. Its successor is enqueued last: a page is done once its successor is claimed, so an
    invocation that dies after claiming, before enqueueing everything, leaves the page not done, and the
    SQS retry (after the visibility timeout, longer than the lease) plans it again. The batches it had
    enqueued already get the same ids (delivery's claim drops the copies); its successor goes out once.
    ``clock`` decides which digest window a digested subscriber's notice waits in, and the entitlements' day.
    """
    release_id, page = message.release_id, message.page
    release = table.get_release(release_id)
    if release is None or release.status != ReleaseStatus.PUBLISHED:
        logger.info("fan-out skipped: release not published", extra={"release_id": release_id})
        return 0
    claim = table.claim_page(release_id, Notice.RELEASE, page, lease_seconds=PAGE_LEASE_SECONDS)
    if claim != ClaimStatus.CLAIMED:
        return stand_back(queues, message, claim)
    return _plan_page(table, queues, release, message, clock.now())


def _plan_page(table: FanoutStore, queues: Queues, release: Release, message: FanoutPage, now: datetime) -> int:
    """A claimed page: its audience and their contracts read, the digested queued in their window, the rest
    planned into batches and enqueued, then its successor (or, the last, the page marked done)."""
    release_id, page = release.release_id, message.page
    entries, cursor = table.audience_page(release.product, limit=PAGE_SIZE, cursor=message.cursor)
    accounts = table.get_accounts(e.account_id for e in entries) if entries else {}
    # digested ones wait in a window
    queued, entries = digests.split(release, entries, accounts, now, fanout_plan.eligible)
    if queued:
        table.queue_digest_items(queued)
    planned, carry_on = fanout_plan.plan_accounts(
        release,
        entries,
        accounts,
        now,
        page=page,
        carry=message.carry,
        more=bool(cursor),
        offered=catalog_features(table, release),
    )
    if planned:
        queues.send_batches(planned, critical=critical(release))
    if cursor:
        queues.send_fanout_page(message.following(cursor, carry_on))
    else:
        table.finish_page(release_id, Notice.RELEASE, page)
    recipients = sum(len(b.recipients) for b in planned)
    logger.info(
        "fan-out page",
        extra={"release_id": release_id, "page": page, "entries": len(entries), "recipients": recipients},
    )
    return recipients
