"""Digests fanned out like a release. The schedule (every 15 minutes) reads only what is due: the due index's
buckets (a key per window bucket that has digest items) from its cursor to the last bucket due, puts a page
message of each on the digest queue, and moves the cursor past them, empty quarter hours included. A page
(one per invocation, claimed once, as a release's fan-out page) reads up to ``PAGE_ITEMS`` of the bucket's
items, cuts the subscriptions not sent yet (no marker) into batches of at most ``DIGESTS_PER_BATCH``, each a
range of subscriptions in key order, enqueues them, then its successor. ``run`` sends each batch.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.core.states import ClaimStatus
from chalicelib.domain.digests import windows
from chalicelib.domain.digests.chunk import DIGESTS_PER_WRITE
from chalicelib.domain.digests.messages import DigestWork
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.digests.ports import DigestQueues

PAGE_ITEMS = 1000  # items (a few hundred bytes each) per Query page: ~50 digests of 20 releases
DIGESTS_PER_BATCH = DIGESTS_PER_WRITE  # a batch's markers in one write: a kill repeats at most one batch
LOOKBACK = timedelta(days=1)  # with no cursor yet (the first run, when no item can be older), the last day
PAGE_LEASE_SECONDS = 120  # as a release's fan-out page: the digest function's timeout, and some
DIGEST = "digest"  # the notice a digest page's and batch's claims are kept under


class PlanStore(Protocol):
    def digest_cursor(self) -> str | None: ...
    def set_digest_cursor(self, bucket: str) -> None: ...
    def due_buckets(self, start: str, end: str) -> list[str]: ...
    def digest_page(
        self, bucket: str, *, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]: ...
    def claim_page(self, release_id: str, notice: str, page: int, *, lease_seconds: int) -> ClaimStatus: ...
    def finish_page(self, release_id: str, notice: str, page: int) -> None: ...


def claims(bucket: str) -> str:
    """Where a bucket's page and batch claims are kept: beside a release's (``RELEASE#digests-<bucket>``)."""
    return f"digests-{bucket}"


def schedule(table: PlanStore, queues: DigestQueues, now: datetime) -> int:
    """Enqueue a page of each due bucket with digest items, then move the cursor past the last bucket due (a
    schedule fired twice, or after a crash before the cursor moved, enqueues pages their claims drop)."""
    ready = windows.ready_bucket(now)
    start = table.digest_cursor() or windows.bucket(now - LOOKBACK)
    if start > ready:
        return 0
    due = table.due_buckets(start, ready)
    if due:
        queues.send_digest_work([DigestWork(b) for b in due])
        logger.info("digest windows due", extra={"buckets": due})
    table.set_digest_cursor(windows.next_bucket(ready))
    return len(due)


def owners(items: list[dict[str, Any]]) -> dict[str, bool]:
    """The page's subscriptions (``<account>#<sub>``) with queued items, in key order: not sent yet (no marker)?"""
    found: dict[str, bool] = {}
    for i in items:
        owner = "#".join(str(i["SK"]).split("#")[:2])
        if i.get("type") == "digest":
            found[owner] = False
        elif i.get("type") == "digest_item":
            found.setdefault(owner, True)
    return found


def batch_id(page: int, owners: list[str]) -> str:
    """Page and a digest of who is in the range: a page planned again plans the same ids (their claims drop the
    copies); a range whose members changed gets another id."""
    return f"{page}-" + hashlib.blake2b("|".join(owners).encode(), digest_size=6).hexdigest()


def plan_page(table: PlanStore, queues: DigestQueues, work: DigestWork) -> int:
    """Plan one page of a due bucket: claim it, cut its batches, enqueue them and then its successor (last, so a
    page is done once its successor is claimed). Answers the digests planned."""
    claim = table.claim_page(claims(work.bucket), DIGEST, work.page, lease_seconds=PAGE_LEASE_SECONDS)
    if claim == ClaimStatus.BUSY:  # held by a live invocation: looked at again once its lease could run out
        queues.send_digest_work([work], delay=PAGE_LEASE_SECONDS)
    if claim != ClaimStatus.CLAIMED:
        return 0
    items, cursor = table.digest_page(work.bucket, cursor=work.cursor, limit=PAGE_ITEMS)
    found = owners(items)
    every, todo = list(found), [o for o, unsent in found.items() if unsent]
    # Cut by position among every subscription of the page, sent or not: a page planned again after some were
    # sent cuts the same ranges (the same ids, whose claims drop the copies); a range with none left is not sent.
    cut = [every[i : i + DIGESTS_PER_BATCH] for i in range(0, len(every), DIGESTS_PER_BATCH)]
    batches = [
        DigestWork(work.bucket, work.page, batch_id=batch_id(work.page, c), first=c[0], last=c[-1])
        for c in cut
        if any(found[o] for o in c)
    ]
    if batches:
        queues.send_digest_work(batches)
    if cursor:
        queues.send_digest_work([work.following(cursor)])
    else:
        table.finish_page(claims(work.bucket), DIGEST, work.page)
    logger.info("digest page", extra={"bucket": work.bucket, "page": work.page, "digests": len(todo)})
    return len(todo)
