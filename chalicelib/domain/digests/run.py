"""The digest runner (a schedule): for each window bucket that has ended, one email per subscription listing
its queued notices, then the digest's marker and the report's counters (the notices' delivery records were
written when fan-out queued them; the marker settles them, see store/digested.py).

Buckets are taken in order from a cursor, each Queried page by page (never a Scan). A subscription whose
marker exists was sent already: a retried or interrupted run sends the rest and nobody twice. Sent digests
are recorded in chunks of one transaction; an error records what SES accepted before raising, so only a
kill between SES accepting a digest and its chunk's write can send it again (as for a notice). What goes
in is decided at send time: releases still published and still wanted by an active subscription; a release
yanked before the digest is left out (its successor, if queued in the same window, appears once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.links import LinkMaker, download_expiry
from chalicelib.domain.core.errors import Paused, Rejected, Throttled
from chalicelib.domain.core.models import Account, Release, Subscription, now_iso
from chalicelib.domain.core.records import SentDigest
from chalicelib.domain.digests import choose
from chalicelib.domain.digests import mail as digest_mail
from chalicelib.domain.digests import windows as digests
from chalicelib.domain.digests.chunk import Chunk
from chalicelib.domain.mail.pacing import Pacer, QuotaCache, SendQuota
from chalicelib.observability import logger

if TYPE_CHECKING:  # adapters (and boto3 under them) load when wiring makes them, not at import
    from chalicelib.adapters.mailer import Mailer
    from chalicelib.adapters.store import Table

PAGE_ITEMS = 1000  # items (a few hundred bytes each) per Query page: ~50 digests of 20 releases
LOOKBACK = timedelta(days=1)  # with no cursor yet (the first run, when no item can be older), the last day
STOP_MARGIN_MS = 30_000  # stop starting pages this long before the function's timeout


@dataclass
class DigestDeps:
    table: Table
    mailer: Mailer
    urls: LinkMaker
    link_days: int
    remaining_ms: Callable[[], int] | None = None
    quota: QuotaCache | None = None
    share: float = 1.0  # of the account's MaxSendRate (settings.send_share, from infra/package.py)
    releases: dict[str, Release] = field(default_factory=dict)  # as the last page read them
    accounts: dict[str, Account] = field(default_factory=dict)  # the contracts, as the last page read them
    now: datetime = field(default_factory=lambda: datetime.now(UTC))  # the run's time, for the support period
    margin_ms: float = STOP_MARGIN_MS

    @cached_property
    def pacer(self) -> Pacer:
        return Pacer.share(self.quota.get() if self.quota else SendQuota(0.0), self.share)


class Stop(Exception):
    """SES throttled or paused sending: stop here, the next run goes on from the same bucket."""


def clock() -> datetime:
    """Now, for the runner; a seam so a test can run the scheduled handler at a window's end."""
    return datetime.now(UTC)


def run(deps: DigestDeps, *, now: datetime | None = None) -> int:
    """Send every digest whose window has ended; answers how many were sent."""
    now = clock() if now is None else now
    deps.now = now
    if deps.remaining_ms is not None:  # at most a quarter of a short timeout is kept in hand
        deps.margin_ms = min(STOP_MARGIN_MS, deps.remaining_ms() / 4)
    ready = digests.ready_bucket(now)
    bucket = deps.table.digest_cursor() or digests.bucket(now - LOOKBACK)
    start, sent = bucket, 0
    while bucket <= ready and not _out_of_time(deps):
        done, n = _bucket(deps, bucket)
        sent += n
        if not done:
            break
        bucket = digests.next_bucket(bucket)
        if n:  # after a bucket that sent, at once; past empty ones once at the end (a crash re-reads a few)
            deps.table.set_digest_cursor(bucket)
    if bucket != start:
        deps.table.set_digest_cursor(bucket)
    if sent:
        logger.info("digests sent", extra={"count": sent})
    return sent


def _out_of_time(deps: DigestDeps) -> bool:
    return deps.remaining_ms is not None and deps.remaining_ms() < deps.margin_ms


def _bucket(deps: DigestDeps, bucket: str) -> tuple[bool, int]:
    cursor: str | None = None
    sent = 0
    while True:
        items, cursor = deps.table.digest_page(bucket, cursor=cursor, limit=PAGE_ITEMS)
        try:
            sent += _page(deps, bucket, items)
        except Stop:
            logger.warning("SES is throttling or paused: digests go on next run", extra={"bucket": bucket})
            return False, sent
        if cursor is None:
            return True, sent
        if _out_of_time(deps):
            return False, sent


def _groups(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The page's subscriptions not sent yet, each with its queued items."""
    groups: dict[str, list[dict[str, Any]]] = {}
    done: set[str] = set()
    for i in items:
        owner = f"{i['account_id']}#{i['subscription_id']}" if "account_id" in i else str(i["SK"]).rsplit("#", 1)[0]
        if i.get("type") == "digest":
            done.add(owner)
        elif i.get("type") == "digest_item":
            groups.setdefault(owner, []).append(i)
    return {k: v for k, v in groups.items() if k not in done}


def _page(deps: DigestDeps, bucket: str, items: list[dict[str, Any]]) -> int:
    groups = _groups(items)
    if not groups:
        return 0
    # Releases re-read with every page (in the same BatchGet): one yanked during a run is left out from then on.
    wanted = sorted({i["release_id"] for g in groups.values() for i in g})
    owners = [tuple(k.split("#", 1)) for k in groups]
    subs, found, accounts = deps.table.digest_context(owners, wanted)  # type: ignore[arg-type]
    deps.releases.update(found)
    deps.accounts = accounts
    late = [i for g in groups.values() for i in g if i.get("late")]
    already = deps.table.queued_before(late) if late else set()
    chunk = Chunk(deps.table, bucket, deps.releases)
    try:
        for group in groups.values():
            chunk.add(_send(deps, group, subs, already))
    finally:
        chunk.flush()  # what SES accepted is recorded, even when a send raised
    return chunk.sent


def _send(
    deps: DigestDeps, group: list[dict[str, Any]], subs: dict[str, Subscription], already: set[str]
) -> SentDigest:
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
        raise Stop(str(exc)) from exc
    except Rejected as exc:
        logger.warning("digest rejected", extra={"recipient": recipient.key, "error": str(exc)[:200]})
        return SentDigest(recipient, "failed", releases, None, now_iso(), tuple(skipped))
    return SentDigest(recipient, "sent", releases, message_id, now_iso(), tuple(skipped))
