"""What sending the digests asks of the world, as Protocols: of the store, a batch's sending (``DigestStore``: its
claim, its range of items, the recipients' context, the items queued before) and its records (``DigestRecords``);
of the queues, the digest work (``DigestQueues``). (Planning the due windows into batches names its own store:
``plan.PlanStore``.) And ``DigestDeps``, what the sender (``run``) hands its parts (``send``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.core.models import Account, Release, Subscription
from chalicelib.domain.core.ports import BatchClaims
from chalicelib.domain.core.records import SentDigest
from chalicelib.domain.mail.pacing import Pacer, SendQuota

if TYPE_CHECKING:
    from chalicelib.domain.access.links import LinkMaker
    from chalicelib.domain.core.ports import Mailer
    from chalicelib.domain.digests.messages import DigestWork
    from chalicelib.domain.mail.pacing import QuotaCache
    from chalicelib.names import ResourceNames


class DigestRecords(Protocol):  # pragma: no mutate block
    """The digests sent (or given up) of a bucket and the counters they add, in one transaction."""

    def record_digests(self, bucket: str, sent: Sequence[SentDigest], tallies: dict[str, dict[str, int]]) -> None: ...


class DigestStore(BatchClaims, DigestRecords, Protocol):  # pragma: no mutate block
    """What sending one digest batch needs from the store: its claim, its range of items, the context of its
    recipients (subscriptions, releases, contracts), and the items queued in an earlier window."""

    def digest_range(self, bucket: str, first: str, last: str) -> list[dict[str, Any]]: ...
    def digest_context(
        self, subscriptions: Sequence[tuple[str, str]], releases: Sequence[str]
    ) -> tuple[dict[str, Subscription], dict[str, Release], dict[str, Account]]: ...
    def queued_before(self, items: Sequence[dict[str, Any]]) -> set[str]: ...


class DigestQueues(Protocol):  # pragma: no mutate block
    """The digests' queue: work (a window's page to plan, a batch to send), and its name for the claims."""

    def send_digest_work(self, work: Sequence[DigestWork], *, delay: int = 0) -> None: ...
    @property
    def names(self) -> ResourceNames: ...


@dataclass
class DigestDeps:
    """What sending a digest batch is given: the store, mailer and queues (the ports), the links, SES's quota and
    this invocation's share, the time left, and what the batch read once (releases, contracts, its time)."""

    table: DigestStore
    mailer: Mailer
    queues: DigestQueues
    urls: LinkMaker
    link_days: int
    remaining_ms: Callable[[], int] | None = None
    quota: QuotaCache | None = None
    share: float = 1.0  # of the account's MaxSendRate (settings.send_share, from infra/package.py)
    releases: dict[str, Release] = field(default_factory=dict)  # as the batch read them
    accounts: dict[str, Account] = field(default_factory=dict)  # the contracts, as the batch read them
    now: datetime = field(default_factory=lambda: datetime.now(UTC))  # the batch's time, for the support period
    clock: Callable[[], datetime] | None = None  # None: the module's ``clock``
    margin_ms: float = 15_000.0  # run.STOP_MARGIN_MS, until run sets it from the time left

    @cached_property
    def pacer(self) -> Pacer:
        return Pacer.share(self.quota.get() if self.quota else SendQuota(0.0), self.share)
