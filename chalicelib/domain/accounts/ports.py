"""What the accounts' capabilities ask of the store, as Protocols: loading contracts and products, the CSM's review and
the support-end warnings (each mail sent once per account and key), the due index and the scheduled batches; and
``Deps``, what the schedules' orchestrator (``scheduled``) hands its senders (``scheduled_send``). The table adapter
(``chalicelib.adapters.store.Table``) and the in-memory store of the tests satisfy the Protocols."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.core.models import Account, Product, Release, Subscription

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Mailer, Queues
    from chalicelib.domain.mail.pacing import QuotaCache


class DueStore(Protocol):  # pragma: no mutate block
    """An account's next due review or warning (the due index): set, or cleared."""

    def set_due(self, kind: str, account_id: str, at: datetime, *, keep: bool = False) -> None: ...
    def clear_due(self, kind: str, account_id: str) -> None: ...


class ContractStore(DueStore, Protocol):  # pragma: no mutate block
    """What loading contracts and products needs from the store: the catalog, the contracts page by page, and an
    account's audience kept in step with its contract."""

    def accounts_page(self, *, limit: int, cursor: str | None) -> tuple[list[Account], str | None]: ...
    def get_account(self, account_id: str, *, consistent: bool = False) -> Account | None: ...
    def list_products(self) -> list[Product]: ...
    def put_account(self, account: Account) -> bool: ...
    def put_product(self, product: Product) -> None: ...
    def sync_audience(self, account_id: str, *, cursor: str | None = None, limit: int | None = None) -> str | None: ...


class OnceStore(Protocol):  # pragma: no mutate block
    """A mail sent once per account and key (a review, a warning): its claim, the addresses it reached, its end."""

    def claim_once(self, account_id: str, what: str, *, lease_seconds: int) -> tuple[str, set[str]]: ...
    def note_once_sent(self, account_id: str, what: str, address: str) -> None: ...
    def finish_once(self, account_id: str, what: str, *, give_back: bool = False) -> None: ...


class ReviewStore(OnceStore, Protocol):  # pragma: no mutate block
    """What the CSM's review needs: the Elite contracts page by page, the period's releases, the account's part
    of each, its contacts' suppressions and bounces."""

    def accounts_page(self, *, limit: int, cursor: str | None) -> tuple[list[Account], str | None]: ...
    def get_account(self, account_id: str, *, consistent: bool = False) -> Account | None: ...
    def list_subscriptions(self, account_id: str) -> list[Subscription]: ...
    def published_between(
        self, start: datetime, end: datetime, products: Sequence[str] | None = None
    ) -> list[Release]: ...
    def account_part(self, release_id: str, account_id: str) -> dict[str, list[dict[str, Any]]]: ...
    def suppressed(self, addresses: Sequence[str]) -> set[str]: ...
    def transient_bounces(self, addresses: Sequence[str]) -> dict[str, int]: ...


class WarningStore(OnceStore, Protocol):  # pragma: no mutate block
    """What the support-end warnings need: the contracts ending (the support-end index), the account's contacts,
    the releases it would lose."""

    def get_account(self, account_id: str, *, consistent: bool = False) -> Account | None: ...
    def list_subscriptions(self, account_id: str) -> list[Subscription]: ...
    def published_between(
        self, start: datetime, end: datetime, products: Sequence[str] | None = None
    ) -> list[Release]: ...
    def suppressed(self, addresses: Sequence[str]) -> set[str]: ...


class ScheduledStore(Protocol):  # pragma: no mutate block
    """What the scheduled mails' planning needs: a page of the accounts due, each leased before it is queued."""

    def due_page(self, kind: str, now: datetime, *, limit: int) -> list[tuple[str, str]]: ...
    def lease_due(self, kind: str, account_id: str, seen: str, until: datetime) -> bool: ...


class SchedulesStore(ReviewStore, WarningStore, DueStore, ScheduledStore, Protocol):  # pragma: no mutate block
    """What the scheduled reviews and warnings need, planned and sent: all of the above."""


@dataclass
class Deps:
    """What a scheduled batch is given: the store and queues, the mailer and its share of SES's rate, the review's
    period, the time left and the clock, and the releases read once per batch."""

    table: SchedulesStore
    queues: Queues
    mailer: Mailer
    quota: QuotaCache | None
    share: float
    spec: str  # PATCHCAST_REVIEW_PERIOD
    remaining_ms: Callable[[], int] | None = None
    clock: Callable[[], float] = time.monotonic
    cache: dict[Any, Any] = field(default_factory=dict)  # the releases read once per batch
