"""What delivery asks of the world: the store port of a batch's delivery (``DeliveryStore``), and ``Deps``, what
the orchestrator (``batch``) hands its parts (``send``, ``waits``, ``compose``). A leaf of the package: its parts
import these from here, not from the orchestrator, so that no part imports its caller back."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from chalicelib.domain.announcements.ports import AnnouncementMailStore, ThreadingStore
from chalicelib.domain.core.models import Account, DeliveryOutcome, Recipient, Release, Subscription
from chalicelib.domain.core.ports import BatchClaims, Queues
from chalicelib.domain.core.records import BatchState, DeliveryRecord, StuckBatch
from chalicelib.domain.digests.ports import DigestQueues

if TYPE_CHECKING:
    from chalicelib.domain.access.links import LinkMaker
    from chalicelib.domain.core.ports import Clock, Mailer
    from chalicelib.domain.mail.pacing import QuotaCache


# A Protocol never runs (its bodies are "..." and its defaults are the implementations' to keep): nothing to mutate.
class DeliveryStore(BatchClaims, ThreadingStore, AnnouncementMailStore, Protocol):  # pragma: no mutate block
    """What delivering a batch (and re-driving a stuck one) needs from the store: the batch's claim, the
    consistent re-check, the delivery records, and a recall's context."""

    def batch_states(self, release_id: str, batch_ids: Sequence[str]) -> dict[str, BatchState]: ...
    def stuck_batches(self, now: int, *, limit: int = 100) -> list[StuckBatch]: ...
    def mark_redriven(self, stuck: StuckBatch, *, next_check: int) -> bool: ...
    def delivery_context(
        self, release_id: str, notice: str, recipients: Sequence[Recipient]
    ) -> tuple[Release | None, dict[str, Subscription], set[str], set[str]]: ...
    def recall_context(
        self, release: Release, recipients: Sequence[Recipient]
    ) -> tuple[dict[str, str], dict[str, Account], Release | None]: ...
    def account_deliveries(self, release_id: str, notice: str, account_id: str) -> Iterator[DeliveryRecord]: ...
    def record_deliveries(self, release_id: str, notice: str, outcomes: Sequence[DeliveryOutcome]) -> None: ...


class RedriveQueues(Queues, DigestQueues, Protocol):  # pragma: no mutate block
    """Where the reconciler puts a stuck batch back: a delivery queue, or a digest batch's own."""


@dataclass(frozen=True)
class Deps:
    """What delivering a batch is given: its store, mailer and queues (the ports), the links it mints, SES's
    quota and this invocation's share of it, the time left, and the clock."""

    table: DeliveryStore
    mailer: Mailer
    queues: Queues
    urls: LinkMaker
    link_days: int
    quota: QuotaCache | None = None
    share: float = 1.0  # the fraction of the account's MaxSendRate this invocation may use (settings.send_share)
    remaining_ms: Callable[[], int] | None = None  # the Lambda context's get_remaining_time_in_millis
    region: str = "us-east-1"  # SES's region: the Message-ID it gives a message, which a recall replies to
    clock: Clock | None = None  # None: the system clock, read through the modules' own seams (send.clock, ...)
