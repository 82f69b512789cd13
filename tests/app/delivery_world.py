"""A product, contracts and confirmed subscribers loaded straight into the table, a published release,
and a mailer that can inject SES faults: what the delivery fault tests share."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from chalicelib.mailer import Mailer
from chalicelib.models import Account, Release, Subscription, now_iso
from chalicelib.store import Table


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
        )  # fmt: skip
        for a in accounts
        for i in range(per_tier)
    ]
    table.bulk_load(accounts, subs)
    release = Release(f"rel-{tag}", product, "1.0", "patch", severity, "ga", "Fix", "Fixes", "published", now_iso(),
                      "test")  # fmt: skip
    table.create_release(release)
    return World(product, release, accounts, subs)


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
