"""The world of the domain's fast tests: the in-memory store seeded with a catalog, contracts and active
subscriptions, and doubles of the queues and the mailer that record what the domain asked of them.
Nothing here imports boto3 (tests/domain/test_no_aws.py holds the folder to it)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.queues import Queues as SqsQueues
from chalicelib.domain.access.auth import Identity
from chalicelib.domain.access.links import LinkMaker
from chalicelib.domain.access.tokens import KeyRing
from chalicelib.domain.core.errors import Throttled
from chalicelib.domain.core.models import Account, Product, Release, Subscription, now_iso
from chalicelib.domain.core.states import Group, ReleaseStatus, SubscriptionStatus
from chalicelib.domain.delivery import batch as delivery
from chalicelib.names import ResourceNames
from tests.memory_store import MemoryStore

PRODUCT = "M3"
NAMES = ResourceNames(stage="test")
ENGINEER = Identity(
    subject="re-1", email="re@vendor.example", account_id=None, groups=frozenset({Group.RELEASE_ENGINEERS})
)
LINKS = LinkMaker(KeyRing(current="k1", keys={"k1": b"k" * 40}), "https://patchcast.test")


class Queues(SqsQueues):
    """The real adapter's intent methods over a recording transport: what the domain put on which queue, in
    order, as ``(queue, body, delay)``."""

    def __init__(self) -> None:
        super().__init__(None, NAMES)
        self.sent: list[tuple[str, dict[str, Any], int]] = []

    def send_many(self, name: str, bodies: Sequence[Mapping[str, Any]], *, delay: int = 0) -> None:
        self.sent += [(name, dict(b), delay) for b in bodies]

    def on(self, name: str) -> list[dict[str, Any]]:
        return [body for queue, body, _ in self.sent if queue == name]


@dataclass
class Mailer:
    """Accepts every email (a message id per send) except to the addresses in ``throttle``."""

    sender: str = "alerts@patchcast.test"
    throttle: set[str] = field(default_factory=set)
    accepted: list[tuple[str, bytes]] = field(default_factory=list)

    def send_raw(self, to: str, raw: bytes) -> str:
        if to in self.throttle:
            raise Throttled("slow down")
        self.accepted.append((to, raw))
        return f"m-{len(self.accepted)}"

    def to(self) -> list[str]:
        return [address for address, _ in self.accepted]


@dataclass
class VirtualClock:
    """Virtual time (``chalicelib.domain.core.ports.Clock``): it starts at ``start`` and moves only when the domain
    sleeps (a pacer's wait) or a test moves it; nothing waits for real."""

    start: datetime = datetime(2031, 6, 2, 9, 0, tzinfo=UTC)
    elapsed: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.elapsed += max(0.0, seconds)


def account(account_id: str, tier: str, **kw: Any) -> Account:
    return Account(account_id, account_id.title(), tier, (PRODUCT,), date(2026, 1, 1), date(2030, 12, 31), **kw)


def subscription(acct: Account, n: int, *, email: str | None = None, **kw: Any) -> Subscription:
    fields: dict[str, Any] = {
        "products": (PRODUCT,),
        "kinds": ("patch",),
        "max_severity": 4,
        "channels": ("ga",),
        "status": SubscriptionStatus.ACTIVE,
        **kw,
    }
    return Subscription(
        acct.account_id, f"s{n}", email or f"u{n}@{acct.account_id}.example", created_at=now_iso(), **fields
    )


def release(release_id: str = "r1", **kw: Any) -> Release:
    fields: dict[str, Any] = {
        "product": PRODUCT,
        "version": "1.0",
        "kind": "patch",
        "severity": 2,
        "channel": "ga",
        "title": "Fix",
        "summary": "Fixes it",
        "status": ReleaseStatus.PUBLISHED,
        "created_at": now_iso(),
        "created_by": "re",
        "object_key": f"uploads/{release_id}/f.zip",
        "filename": "f.zip",
        "published_at": now_iso(),
        **kw,
    }
    return Release(release_id, **fields)


def store_with(*accounts: Account, subscribers: int = 2, **release_fields: Any) -> MemoryStore:
    """A store holding the catalog, the accounts, ``subscribers`` active subscriptions each, and release r1."""
    store = MemoryStore()
    store.put_product(Product(PRODUCT, "M3 Suite"))
    for acct in accounts:
        store.put_account(acct)
        for n in range(subscribers):
            store.put_subscription(subscription(acct, n))
    store.create_release(release(**release_fields))
    return store


def deps(store: MemoryStore, mailer: Mailer, queues: Queues) -> delivery.Deps:
    return delivery.Deps(table=store, mailer=mailer, queues=queues, urls=LINKS, link_days=7)


if TYPE_CHECKING:  # mypy (``make types``) holds the doubles, and the adapters they stand in for, to the shared ports
    from chalicelib.adapters.blobs import Blobs as S3Blobs
    from chalicelib.adapters.mailer import Mailer as SesMailer
    from chalicelib.domain.core import ports
    from chalicelib.domain.core.clock import SystemClock

    def _doubles_and_adapters_serve_the_ports(
        mailers: tuple[Mailer, SesMailer],
        queues: tuple[Queues, SqsQueues],
        blobs: S3Blobs,
        clocks: tuple[VirtualClock, SystemClock],
    ) -> None:
        mailer: list[ports.Mailer] = list(mailers)
        queue: list[ports.Queues] = list(queues)
        blob: ports.Blobs = blobs
        clock: list[ports.Clock] = list(clocks)
        del mailer, queue, blob, clock
