"""A product, contracts and confirmed subscribers loaded straight into the table, a published release,
a mailer that can inject SES faults, and delivery's dependencies and messages built from them: what the
delivery tests share."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from chalicelib.adapters.mailer import Mailer
from chalicelib.adapters.queues import Queues
from chalicelib.adapters.store import Table
from chalicelib.domain.core.messages import DeliveryBatch
from chalicelib.domain.core.models import Account, Release, Subscription, now_iso
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.delivery import waits as delivery_waits
from chalicelib.domain.fanout import plan as fanout_plan
from chalicelib.domain.mail.pacing import QuotaCache, SendQuota
from chalicelib.names import ResourceNames
from chalicelib.routes import link_maker

NAMES = ResourceNames("local")


@dataclass
class World:
    product: str
    release: Release
    accounts: list[Account]
    subscribers: list[Subscription]

    @property
    def addresses(self) -> set[str]:
        return {s.email for s in self.subscribers}


def load_world(table: Table, *, per_tier: int = 3, severity: int = 2, **account_extra: Any) -> World:
    tag = uuid.uuid4().hex[:8]
    product = f"P{tag}"
    accounts = [
        Account(f"{tier}-{tag}", tier, tier, (product,), date(2026, 1, 1), date(2030, 12, 31), **account_extra)
        for tier in ("elite", "premium", "xtreme")
    ]
    subs = [
        Subscription(
            a.account_id,
            f"s{i}",
            f"u{i}.{a.account_id}@example.com",
            (product,),
            ("patch",),
            4,
            ("ga",),
            "active",
            now_iso(),
        )
        for a in accounts
        for i in range(per_tier)
    ]
    table.bulk_load(accounts, subs)
    release = Release(
        f"rel-{tag}", product, "1.0", "patch", severity, "ga", "Fix", "Fixes", "published", now_iso(), "test"
    )
    table.create_release(release)
    return World(product, release, accounts, subs)


class Killed(BaseException):
    """Models Lambda killing the invocation: nothing of ours runs after it."""


@dataclass
class FaultyMailer:
    """The real mailer (moto keeps what it accepts), with faults decided per call; counts what SES accepted."""

    real: Mailer
    fault: Callable[[int, str], Exception | None] = lambda n, to: None
    delay: float = 0.0
    accepted: Counter[str] = field(default_factory=Counter)
    accepted_at: list[float] = field(default_factory=list)  # time.monotonic() of each send SES accepted
    called_at: list[float] = field(default_factory=list)  # time.monotonic() of each send asked for (paced)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sender(self) -> str:
        return self.real.sender

    def send_raw(self, to: str, raw: bytes) -> str:
        with self.lock:
            self.calls += 1
            n = self.calls
            self.called_at.append(time.monotonic())
        error = self.fault(n, to)
        if error is not None:
            raise error
        time.sleep(self.delay)
        message_id = self.real.send_raw(to, raw)
        with self.lock:
            self.accepted[to] += 1
            self.accepted_at.append(time.monotonic())
        return message_id


@pytest.fixture
def mailer(wired: Any, monkeypatch: pytest.MonkeyPatch) -> FaultyMailer:
    """The app's mailer replaced by a faulty one (no quota, no pacing), with delivery's waits shortened."""
    faulty = FaultyMailer(wired.mailer)
    monkeypatch.setitem(wired.__dict__, "mailer", faulty)
    monkeypatch.setitem(wired.__dict__, "quota", QuotaCache(lambda: SendQuota(0.0)))
    monkeypatch.setattr(delivery, "RETRY_DELAY_SECONDS", 0)
    monkeypatch.setattr(delivery_waits, "WAIT_DELAY_SECONDS", 0)
    monkeypatch.setattr(delivery, "LEASE_SECONDS", 1)
    return faulty


def drain(runner: Any, done: Callable[[], bool], timeout: float = 30, pause: float = 0.5) -> None:
    """Feed the handlers from the queues (the runner's ``pump``) until ``done`` or ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        runner.pump()
        if done() or time.monotonic() > deadline:
            return
        time.sleep(pause)


def deps_of(wired: Any, table: Table | None = None, queues: Any = None) -> delivery.Deps:
    return delivery.Deps(
        table=table or wired.table,
        mailer=wired.mailer,
        queues=queues or wired.queues,
        urls=link_maker(),
        link_days=30,
        quota=wired.quota,
    )


def batch_message(world: World, subs: list[Any], page: int = 0) -> DeliveryBatch:
    """The delivery message of the first batch fan-out would plan for these subscribers."""
    people = [fanout_plan.Recipient(s.account_id, s.subscription_id, s.email, s.account_id.split("-")[0]) for s in subs]
    return fanout_plan.batches(world.release.release_id, people, page)[0]


class QueueRecorder(Queues):
    """Queues that keep what is sent to them (name, body, delay) instead of sending it."""

    def __init__(self, into: list[tuple[str, dict[str, Any], int]] | None = None) -> None:
        super().__init__(None, NAMES)
        self.into = [] if into is None else into

    def send_many(self, name: str, bodies: Sequence[Mapping[str, Any]], *, delay: int = 0) -> None:
        self.into += [(name, dict(body), delay) for body in bodies]
