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
from chalicelib.domain.core.clock import epoch, iso
from chalicelib.domain.core.errors import Paused, Rejected, Throttled
from chalicelib.domain.core.models import Recipient, Release, Subscription, now_iso
from chalicelib.domain.core.records import MAX_ACTIONS, SentDigest
from chalicelib.domain.digests import mail as digest_mail
from chalicelib.domain.digests import windows as digests
from chalicelib.domain.mail.pacing import Pacer, QuotaCache, SendQuota
from chalicelib.domain.reports import release_report as reports
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Clock, Mailer
    from chalicelib.domain.digests.ports import DigestStore

PAGE_ITEMS = 1000  # items (a few hundred bytes each) per Query page: ~50 digests of 20 releases
LOOKBACK = timedelta(days=1)  # with no cursor yet (the first run, when no item can be older), the last day
STOP_MARGIN_MS = 30_000  # stop starting pages this long before the function's timeout


@dataclass
class DigestDeps:
    table: DigestStore
    mailer: Mailer
    urls: LinkMaker
    link_days: int
    remaining_ms: Callable[[], int] | None = None
    quota: QuotaCache | None = None
    share: float = 1.0  # of the account's MaxSendRate (settings.send_share, from infra/package.py)
    releases: dict[str, Release] = field(default_factory=dict)  # as the last page read them
    margin_ms: float = STOP_MARGIN_MS
    clock: Clock | None = None  # None: the system clock (and the module's seam, ``clock``, for the run's now)

    @cached_property
    def pacer(self) -> Pacer:
        quota = self.quota.get() if self.quota else SendQuota(0.0)
        if self.clock is None:
            return Pacer.share(quota, self.share)
        return Pacer.share(quota, self.share, clock=self.clock.monotonic, sleep=self.clock.sleep)


class Stop(Exception):
    """SES throttled or paused sending: stop here, the next run goes on from the same bucket."""


def clock() -> datetime:
    """Now, for the runner; a seam so a test can run the scheduled handler at a window's end."""
    return datetime.now(UTC)


def run(deps: DigestDeps, *, now: datetime | None = None) -> int:
    """Send every digest whose window has ended; answers how many were sent."""
    if now is None:
        now = clock() if deps.clock is None else deps.clock.now()
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
    subs, found = deps.table.digest_context([tuple(k.split("#", 1)) for k in groups], wanted)  # type: ignore[misc]
    deps.releases.update(found)
    late = [i for g in groups.values() for i in g if i.get("late")]
    already = deps.table.queued_before(late) if late else set()
    chunk = _Chunk(deps.table, bucket, deps.releases)
    try:
        for owner, group in groups.items():
            chunk.add(_send(deps, group, subs.get(owner), already))
    finally:
        chunk.flush()  # what SES accepted is recorded, even when a send raised
    return chunk.sent


def _recipient(item: dict[str, Any]) -> Recipient:
    return Recipient(item["account_id"], item["subscription_id"], item["email"], item["tier"])


def _choose(
    deps: DigestDeps, group: list[dict[str, Any]], sub: Subscription | None, already: set[str]
) -> tuple[list[Release], list[str]]:
    """(the releases the digest lists, those left out because the subscription no longer wants them)."""
    listed, skipped = [], []
    for item in group:
        release = deps.releases.get(item["release_id"])
        if release is None or release.status != "published":
            continue  # yanked (or gone) before the digest: left out
        if f"{item['account_id']}#{item['subscription_id']}#{release.release_id}" in already:
            continue  # a late item also queued in its natural window, whose digest (sent before) saw it
        if sub is None or not sub.wants(
            product=release.product, kind=release.kind, severity=release.severity, channel=release.channel
        ):
            skipped.append(release.release_id)
        else:
            listed.append(release)
    return listed, skipped


def _stamp(deps: DigestDeps) -> str:
    return now_iso() if deps.clock is None else iso(deps.clock)


def _send(deps: DigestDeps, group: list[dict[str, Any]], sub: Subscription | None, already: set[str]) -> SentDigest:
    recipient = _recipient(group[0])
    listed, skipped = _choose(deps, group, sub, already)
    if not listed:
        return SentDigest(recipient, "skipped", (), None, _stamp(deps), tuple(skipped))
    expires = download_expiry(deps.link_days, now=None if deps.clock is None else epoch(deps.clock))
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
        return SentDigest(recipient, "failed", releases, None, _stamp(deps), tuple(skipped))
    return SentDigest(recipient, "sent", releases, message_id, _stamp(deps), tuple(skipped))


# Digests per transaction, as delivery's RECORD_CHUNK: a crash between SES accepting them and their write
# sends at most this many again (more per write would save ~0.02 requests per digest email).
DIGESTS_PER_WRITE = 25


class _Chunk:
    """Sent digests waiting for their one transaction (a marker each, up to ``MAX_ACTIONS`` less the releases
    they touch), with the counters they add per release."""

    def __init__(self, table: DigestStore, bucket: str, releases: dict[str, Release]) -> None:
        self.table, self.bucket, self.releases = table, bucket, releases
        self.digests: list[SentDigest] = []
        self.tallies: dict[str, dict[str, int]] = {}
        self.sent = 0

    def _size(self, extra: SentDigest | None = None) -> int:
        ds = self.digests + ([extra] if extra else [])
        releases = {r for d in ds for r in (*d.releases, *d.skipped)}
        return len(ds) + len(releases)  # a marker a digest, a counter update a release

    def add(self, d: SentDigest) -> None:
        if self.digests and (self._size(d) > MAX_ACTIONS or len(self.digests) >= DIGESTS_PER_WRITE):
            self.flush()
        self.digests.append(d)
        self.sent += d.status == "sent"
        tier = d.recipient.tier or "unknown"
        for release_id in d.releases:
            self._bump(release_id, f"{tier}#subscriber#{d.status}")
        for release_id in d.skipped:
            self._bump(release_id, f"{tier}#subscriber#skipped")
        if d.status == "sent":  # time to notice: the digest's, from each release's publishing
            accepted = datetime.fromisoformat(d.at.replace("Z", "+00:00")).timestamp()
            for release_id in d.releases:
                published = self.releases[release_id].published_at
                for edge, n in reports.after_publishing(published, [accepted]).items():
                    self._bump(release_id, f"{tier}#{reports.AFTER}#{edge}", n)

    def _bump(self, release_id: str, name: str, n: int = 1) -> None:
        counts = self.tallies.setdefault(release_id, {})
        counts[name] = counts.get(name, 0) + n

    def flush(self) -> None:
        if self.digests:
            self.table.record_digests(self.bucket, self.digests, self.tallies)
        self.digests, self.tallies = [], {}
