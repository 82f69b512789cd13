"""An in-memory store for the domain's fast tests: the store Protocols of fan-out, delivery, recall, releases,
the audience preview, downloads and the catalogue, served from dicts under one lock, with no AWS and no boto3; and,
from tests/memory_accounts.py, those of contracts, subscriptions, confirmations, SES feedback, mails sent once and
the release report, the CSM's review and the support warnings, and from tests/memory_announcements.py those of
announcements. (Not yet: the digests' store, being reworked on another branch.)

It keeps what the domain relies on from the real table (``chalicelib.adapters.store.Table``): claims are
conditional (one winner, leases that run out, ``done`` once finished), each write that is one transaction
there is all-or-nothing here (a batch finished twice counts once, its records kept either way), every
read is consistent, pages come in the index's order with a cursor. The contract tests
(tests/adapters/test_store_contract.py) run the same scenarios against both, so the two cannot drift.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from chalicelib.domain.core.entitlements import TIERS
from chalicelib.domain.core.errors import AlreadyExists
from chalicelib.domain.core.models import (
    Account,
    BatchClaim,
    DeliveryOutcome,
    Product,
    Recipient,
    Release,
    Subscription,
    now_iso,
)
from chalicelib.domain.core.records import (
    AudienceEntry,
    BatchState,
    DeliveryRecord,
    FailedBatch,
    StuckBatch,
)
from chalicelib.domain.core.states import ClaimStatus, DeliveryStatus, ReleaseStatus, Role, SubscriptionStatus
from tests.memory_accounts import AccountsMemory
from tests.memory_announcements import AnnouncementsMemory

if TYPE_CHECKING:
    from chalicelib.adapters.store import Table
    from chalicelib.domain.accounts.ports import ContractStore, OnceStore, ReviewStore, WarningStore
    from chalicelib.domain.announcements.ports import AnnouncementDeliveryStore, PlanStore
    from chalicelib.domain.delivery.ports import DeliveryStore
    from chalicelib.domain.downloads.ports import CatalogStore, DownloadStore, FreshLinkStore
    from chalicelib.domain.fanout.ports import FanoutStore
    from chalicelib.domain.releases.ports import AudienceStore, RecallStore, ReleaseStore
    from chalicelib.domain.reports.ports import ReportStore
    from chalicelib.domain.subscriptions.ports import FeedbackStore, SubscriptionStore


@dataclasses.dataclass
class _Claim:
    lease_until: int = 0
    attempts: int = 0
    done: bool = False
    failed: bool = False
    last_error: str = ""
    queue: str = ""
    body: dict[str, Any] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    check: str | None = None  # its place in the in-flight index, while claimed and not finished
    redrives: int = 0


class MemoryStore(AccountsMemory, AnnouncementsMemory):
    """The store Protocols over dicts; ``clock`` (epoch seconds) lets a test run past a lease."""

    def __init__(self, clock: Any = time.time) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self.products: dict[str, Product] = {}
        self.accounts: dict[str, Account] = {}
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.suppressed_addresses: set[str] = set()
        self.releases: dict[str, Release] = {}
        self._release_keys: set[tuple[str, str, str]] = set()
        self._queueing: dict[tuple[str, str], int] = {}
        self._pages: dict[tuple[str, str, int], _Claim] = {}
        self._batches: dict[tuple[str, str], _Claim] = {}
        self.deliveries: dict[tuple[str, str], dict[str, DeliveryRecord]] = {}  # (release, notice) -> key -> record
        self.tally: dict[tuple[str, str], dict[str, int]] = {}  # (release, notice) -> counters
        self.downloads: list[dict[str, Any]] = []
        self.digest_items: dict[tuple[str, str, str, str], dict[str, Any]] = {}  # (bucket, account, sub, release)
        self._downloaders: set[tuple[str, str]] = set()
        self._relinks: dict[tuple[str, str, str], int] = {}
        self.delivery_at: dict[tuple[str, str, str], str] = {}  # (release, notice, recipient) -> recorded at
        self.downloader_marks: dict[tuple[str, str], dict[str, Any]] = {}  # (release, account#sub) -> first click
        self._init_accounts()
        self._init_announcements()

    def _now(self) -> int:
        return int(self.clock())

    # -- releases ---------------------------------------------------------------------------------
    def create_release(self, release: Release) -> None:
        with self._lock:
            unique = (release.product, release.kind, release.version)
            if unique in self._release_keys or release.release_id in self.releases:
                raise AlreadyExists(
                    f"{release.product} {release.kind} {release.version} already exists; versions are never reused."
                )
            self._release_keys.add(unique)
            self.releases[release.release_id] = release

    def get_release(self, release_id: str, *, consistent: bool = False) -> Release | None:
        return self.releases.get(release_id)

    def transition_release(
        self,
        release_id: str,
        *,
        from_status: Sequence[ReleaseStatus],
        to_status: ReleaseStatus,
        due_by: str | None = None,
        **fields: Any,
    ) -> Release | None:
        with self._lock:
            release = self.releases.get(release_id)
            if release is None or release.status not in from_status:
                return None
            if due_by is not None and (release.notify_at or "") > due_by:
                return None
            changes = {k: v for k, v in fields.items() if k not in ("GSI1PK", "GSI1SK")}
            moved = dataclasses.replace(release, status=to_status, **changes)
            self.releases[release_id] = moved
            return moved

    def set_release_fields(self, release_id: str, *, in_status: ReleaseStatus, **fields: Any) -> Release | None:
        return self.transition_release(release_id, from_status=[in_status], to_status=in_status, **fields)

    def schedule_release(self, release: Release) -> Release | None:
        return self.transition_release(
            release.release_id, from_status=[ReleaseStatus.AVAILABLE], to_status=ReleaseStatus.SCHEDULED
        )

    def due_releases(self, now: str, *, limit: int = 25) -> list[str]:
        due = sorted(
            (r.notify_at or "", r.release_id)
            for r in self.releases.values()
            if r.status == ReleaseStatus.SCHEDULED and (r.notify_at or "") <= now
        )
        return [release_id for _, release_id in due[:limit]]

    def edit_release(self, release_id: str, *, in_status: ReleaseStatus, fields: dict[str, Any]) -> Release | None:
        target = in_status
        if in_status != ReleaseStatus.AWAITING_UPLOAD:
            target = ReleaseStatus.SCHEDULED if fields["notify_at"] and not fields["draft"] else ReleaseStatus.AVAILABLE
        return self.transition_release(release_id, from_status=[in_status], to_status=target, **fields)

    def list_releases(
        self, where: Mapping[str, str], *, limit: int, cursor: str | None
    ) -> tuple[list[Release], str | None]:
        def keep(r: Release) -> bool:
            published = r.published_at or ""
            return (
                all(getattr(r, f) == where[f] for f in ("product", "status", "kind") if f in where)
                and ("draft" not in where or r.draft == (where["draft"] == "true"))
                and where.get("created_from", "") <= r.created_at <= where.get("created_to", "~")
                and ("published_from" not in where or published >= where["published_from"])
                and ("published_to" not in where or bool(published and published <= where["published_to"]))
            )

        ordered = sorted(self.releases.values(), key=lambda r: (r.created_at, r.release_id), reverse=True)
        found = [r for r in ordered if keep(r) and (cursor is None or f"{r.created_at}#{r.release_id}" < cursor)]
        page = found[:limit]
        more = len(found) > limit
        return page, (f"{page[-1].created_at}#{page[-1].release_id}" if more else None)

    def claim_queueing(self, release_id: str, notice: Literal["fanout", "recall"], *, lease_seconds: int) -> bool:
        with self._lock:
            release = self.releases.get(release_id)
            if release is None or getattr(release, f"{notice}_at"):
                return False
            now = self._now()
            if self._queueing.get((release_id, notice), 0) >= now:
                return False
            self._queueing[(release_id, notice)] = now + lease_seconds
            return True

    def mark_queued(self, release_id: str, notice: Literal["fanout", "recall"]) -> None:
        with self._lock:
            stamp: dict[str, Any] = {f"{notice}_at": now_iso()}
            self.releases[release_id] = dataclasses.replace(self.releases[release_id], **stamp)

    # -- fan-out pages ----------------------------------------------------------------------------
    def claim_page(self, release_id: str, notice: str, page: int, *, lease_seconds: int) -> ClaimStatus:
        with self._lock:
            now = self._now()
            claim = self._pages.get((release_id, notice, page))
            successor = (release_id, notice, page + 1) in self._pages
            if claim is not None and (claim.done or claim.lease_until >= now):
                return ClaimStatus.DONE if successor or claim.done else ClaimStatus.BUSY
            if claim is not None and successor:  # took over a lease, but its successor shows it done
                claim.done = True
                return ClaimStatus.DONE
            claim = claim or _Claim()
            claim.lease_until, claim.attempts = now + lease_seconds, claim.attempts + 1
            self._pages[(release_id, notice, page)] = claim
            return ClaimStatus.CLAIMED

    def finish_page(self, release_id: str, notice: str, page: int) -> None:
        with self._lock:
            self._pages.setdefault((release_id, notice, page), _Claim()).done = True

    def audience_page(
        self, product: str, *, limit: int, cursor: str | None, planning_only: bool = False
    ) -> tuple[list[AudienceEntry], str | None]:
        """Active subscriptions wanting the product that their contract has, Elite first (the index's order)."""
        index = self.audience_index(product, planning_only=planning_only)
        after = [(k, e) for k, e in index if cursor is None or k > cursor]
        page = after[:limit]
        return [e for _, e in page], (page[-1][0] if len(after) > limit else None)

    def audience_index(self, product: str, *, planning_only: bool = False) -> list[tuple[str, AudienceEntry]]:
        """The whole audience index of a product, as (sort key, entry) in the index's order."""
        index: list[tuple[str, AudienceEntry]] = []
        for sub in self.subscriptions.values():
            account = self.accounts.get(sub.account_id)
            if sub.status != SubscriptionStatus.ACTIVE or account is None or product not in sub.products:
                continue
            if product not in account.products:
                continue
            order = f"{TIERS[account.tier].rank}#{sub.account_id}#{sub.subscription_id}"
            entry = AudienceEntry(
                sub.account_id,
                sub.subscription_id,
                sub.email,
                sub.kinds,
                sub.channels,
                sub.max_severity,
                "" if planning_only else account.tier,
                (sub.installed or {}).get(product),
                dict(sub.digest),
            )
            index.append((order, entry))
        index.sort(key=lambda pair: pair[0])
        return index

    def queue_digest_items(self, items: Sequence[dict[str, Any]]) -> None:
        """Keyed as the table keys them, so a retried page writes the same items again."""
        with self._lock:
            for i in items:
                r = i["recipient"]
                self.digest_items[(i["bucket"], r.account_id, r.subscription_id, i["release_id"])] = dict(i)
                detail = f"queued for the digest of {i['window']}"  # the delivery record fan-out writes with it
                records = self.deliveries.setdefault((i["release_id"], "release"), {})
                records[r.key] = DeliveryRecord(r, DeliveryStatus.DIGEST, None, detail)

    # -- delivery ---------------------------------------------------------------------------------
    def claim_batch(
        self,
        release_id: str,
        batch_id: str,
        *,
        lease_seconds: int,
        max_attempts: int | None = None,
        queue: str = "",
        body: dict[str, Any] | None = None,
    ) -> BatchClaim:
        with self._lock:
            now = self._now()
            claim = self._batches.setdefault((release_id, batch_id), _Claim())
            if claim.done:
                return BatchClaim(ClaimStatus.DONE, claim.attempts)
            if claim.failed:
                return BatchClaim(ClaimStatus.FAILED, claim.attempts, claim.last_error)
            if claim.lease_until >= now:
                return BatchClaim(ClaimStatus.BUSY, claim.attempts, claim.last_error)
            if max_attempts is not None and claim.attempts >= max_attempts:
                return BatchClaim(ClaimStatus.EXHAUSTED, claim.attempts, claim.last_error)
            claim.lease_until, claim.attempts = now + lease_seconds, claim.attempts + 1
            claim.queue, claim.body = queue, dict(body or {})
            claim.check = f"{now + lease_seconds:012d}#{release_id}#{batch_id}"
            return BatchClaim(ClaimStatus.CLAIMED, attempts=claim.attempts, lease_until=claim.lease_until)

    def finish_batch(
        self,
        release_id: str,
        batch_id: str,
        counts: dict[str, int],
        *,
        tally: Mapping[str, int] | None = None,
        records: Sequence[DeliveryOutcome] = (),
    ) -> bool:
        notice = batch_id.split("#", 1)[0]
        with self._lock:
            claim = self._batches.setdefault((release_id, batch_id), _Claim())
            self.record_deliveries(release_id, notice, records)  # kept whether or not the batch was done
            if claim.done:
                return False
            claim.done, claim.counts, claim.check, claim.body = True, dict(counts), None, {}
            counters = self.tally.setdefault((release_id, notice), {})
            for name, n in (tally or {}).items():
                counters[name] = counters.get(name, 0) + n
            return True

    def note_batch_error(self, release_id: str, batch_id: str, error: str, *, lease_until: int) -> None:
        with self._lock:
            claim = self._batches.get((release_id, batch_id))
            if claim is not None and claim.lease_until == lease_until:
                claim.last_error, claim.lease_until = error[:1000], 0

    def fail_batch(self, release_id: str, batch_id: str, error: str) -> None:
        with self._lock:
            claim = self._batches.get((release_id, batch_id))
            if claim is not None and not claim.done:
                claim.failed, claim.last_error, claim.check = True, error[:1000], None

    def failed_batches(self, release_id: str) -> list[FailedBatch]:
        found = []
        for (rid, batch_id), claim in sorted(self._batches.items()):
            if rid == release_id and claim.failed:
                notice, _, batch = batch_id.partition("#")
                found.append(FailedBatch(notice, batch, claim.last_error, claim.attempts))
        return found

    def batch_states(self, release_id: str, batch_ids: Sequence[str]) -> dict[str, BatchState]:
        return {
            b: BatchState(claim.done, int(claim.counts.get(DeliveryStatus.RETRY, 0)))
            for b in batch_ids
            if (claim := self._batches.get((release_id, b))) is not None
        }

    def stuck_batches(self, now: int, *, limit: int = 100) -> list[StuckBatch]:
        stuck = sorted(
            (claim.check, rid, batch_id, claim)
            for (rid, batch_id), claim in self._batches.items()
            if claim.check is not None and claim.check < f"{now:012d}"
        )
        return [StuckBatch(rid, b, check, c.queue, dict(c.body), c.redrives) for check, rid, b, c in stuck[:limit]]

    def mark_redriven(self, stuck: StuckBatch, *, next_check: int) -> bool:
        with self._lock:
            claim = self._batches.get((stuck.release_id, stuck.batch_id))
            if claim is None or claim.done or claim.check != stuck.check:
                return False
            claim.check, claim.redrives = f"{next_check:012d}#{stuck.release_id}#{stuck.batch_id}", claim.redrives + 1
            return True

    def delivery_context(
        self, release_id: str, notice: str, recipients: Sequence[Recipient]
    ) -> tuple[Release | None, dict[str, Subscription], set[str], set[str]]:
        with self._lock:
            recorded = self.deliveries.get((release_id, notice), {})
            subs = {
                f"{r.account_id}#{r.subscription_id}": sub
                for r in recipients
                if r.role == Role.SUBSCRIBER and (sub := self.subscriptions.get((r.account_id, r.subscription_id)))
            }
            sent = {r.key for r in recipients if r.key in recorded}
            suppressed = {
                r.email.lower()
                for r in recipients
                if r.role != Role.SUBSCRIBER and r.email.lower() in self.suppressed_addresses
            }
            return self.releases.get(release_id), subs, sent, suppressed

    def recall_context(
        self, release: Release, recipients: Sequence[Recipient]
    ) -> tuple[dict[str, str], dict[str, Account], Release | None]:
        notices = self.deliveries.get((release.release_id, "release"), {})
        parents = {r.key: m for r in recipients if (m := getattr(notices.get(r.key), "message_id", None))}
        if not release.superseded_by:
            return parents, {}, None
        subscribers = {r.account_id for r in recipients if r.role == Role.SUBSCRIBER}
        return parents, self.get_accounts(subscribers), self.releases.get(release.superseded_by)

    def account_deliveries(self, release_id: str, notice: str, account_id: str) -> Iterator[DeliveryRecord]:
        records = self.deliveries.get((release_id, notice), {})
        yield from (records[k] for k in sorted(records) if k.startswith(f"{account_id}#"))

    def record_deliveries(self, release_id: str, notice: str, outcomes: Sequence[DeliveryOutcome]) -> None:
        with self._lock:
            records, at = self.deliveries.setdefault((release_id, notice), {}), now_iso()
            for o in outcomes:
                records[o.recipient.key] = DeliveryRecord(o.recipient, o.status, o.message_id, o.detail)
                self.delivery_at[(release_id, notice, o.recipient.key)] = at

    def delivery_page(
        self, release_id: str, notice: str, *, limit: int, cursor: str | None
    ) -> tuple[list[DeliveryRecord], str | None]:
        records = self.deliveries.get((release_id, notice), {})
        after = [k for k in sorted(records) if cursor is None or k > cursor]
        page = after[:limit]
        return [records[k] for k in page], (page[-1] if len(after) > limit else None)

    # -- downloads --------------------------------------------------------------------------------
    def download_context(
        self, release_id: str, account_id: str, subscription_id: str
    ) -> tuple[Release | None, Account | None, Subscription | None, bool]:
        return (
            self.releases.get(release_id),
            self.accounts.get(account_id),
            self.subscriptions.get((account_id, subscription_id)),
            (release_id, f"{account_id}#{subscription_id}") in self._downloaders,
        )

    def record_download(
        self,
        release_id: str,
        *,
        account_id: str,
        subscription_id: str,
        ip: str,
        user_agent: str,
        email: str | None = None,
        tier: str | None = None,
        first: bool = True,
    ) -> None:
        with self._lock:
            who, counted = f"{account_id}#{subscription_id}", tier or "unknown"
            self.downloads.append(
                {
                    "release_id": release_id,
                    "account_id": account_id,
                    "subscription_id": subscription_id,
                    "email": email,
                    "tier": tier,
                    "ip": ip,
                    "user_agent": user_agent[:512],
                    "at": now_iso(),
                }
            )
            counters = self.tally.setdefault((release_id, "download"), {})
            counters[f"{counted}#downloaded"] = counters.get(f"{counted}#downloaded", 0) + 1
            if first and (release_id, who) not in self._downloaders:
                self._downloaders.add((release_id, who))
                counters[f"{counted}#downloaders"] = counters.get(f"{counted}#downloaders", 0) + 1
                self.downloader_marks[(release_id, who)] = {"at": now_iso(), "email": email, "clicks": 1}
            else:  # a later click (or a first one that lost a race) counts on the marker
                marker = self.downloader_marks.setdefault((release_id, who), {"clicks": 0})
                marker["clicks"] += 1

    def claim_fresh_link(self, release_id: str, account_id: str, subscription_id: str, *, window: int) -> bool:
        with self._lock:
            now = self._now()
            sent = self._relinks.get((release_id, account_id, subscription_id))
            if sent is not None and sent > now - window:
                return False
            self._relinks[(release_id, account_id, subscription_id)] = now
            return True

    def release_fresh_link(self, release_id: str, account_id: str, subscription_id: str) -> None:
        with self._lock:
            self._relinks.pop((release_id, account_id, subscription_id), None)

    def notice_message_id(self, release_id: str, account_id: str, subscription_id: str) -> str | None:
        record = self.deliveries.get((release_id, "release"), {}).get(f"{account_id}#{subscription_id}#subscriber")
        return record.message_id if record else None


if TYPE_CHECKING:  # mypy (``make types``) holds both stores to every domain area's Protocol they serve

    def _both_serve_every_domain_area(real: Table, double: MemoryStore) -> None:
        fanout: list[FanoutStore] = [real, double]
        delivery: list[DeliveryStore] = [real, double]
        recall: list[RecallStore] = [real, double]
        releases: list[ReleaseStore] = [real, double]
        audience: list[AudienceStore] = [real, double]
        downloads: list[DownloadStore] = [real, double]
        fresh_links: list[FreshLinkStore] = [real, double]
        catalog: list[CatalogStore] = [real, double]
        contracts: list[ContractStore] = [real, double]
        once: list[OnceStore] = [real, double]
        subscriptions: list[SubscriptionStore] = [real, double]
        feedback: list[FeedbackStore] = [real, double]
        reports: list[ReportStore] = [real, double]
        del fanout, delivery, recall, releases, audience, downloads, fresh_links, catalog, contracts, once
        plans: list[PlanStore] = [real, double]
        announced: list[AnnouncementDeliveryStore] = [real, double]
        reviews: list[ReviewStore] = [real, double]
        warnings: list[WarningStore] = [real, double]
        del subscriptions, feedback, reports, plans, announced, reviews, warnings
