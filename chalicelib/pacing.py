"""Pacing SES sends to the account's ``MaxSendRate``: the quota cached per container, each invocation
held to its share (rate / reserved delivery concurrency), and the account-level pause it reports."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

QUOTA_TTL_SECONDS = 300.0  # SES quotas change on a human time scale; one GetAccount per container per 5 min
PAUSE_RECHECK_SECONDS = 30.0  # a pause noticed on a send is believed this long before asking SES again


@dataclass(frozen=True)
class SendQuota:
    max_send_rate: float  # emails per second for the whole account; 0 = unknown (unpaced)
    sending_enabled: bool = True


class QuotaCache:
    """The last ``SendQuota`` SES reported, refreshed after ``ttl`` seconds; thread-safe."""

    def __init__(
        self,
        fetch: Callable[[], SendQuota | None],
        *,
        default_rate: float = 0.0,
        ttl: float = QUOTA_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._default = SendQuota(default_rate)
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: SendQuota | None = None
        self._expires = 0.0

    def get(self) -> SendQuota:
        with self._lock:
            if self._value is None or self._clock() >= self._expires:
                self._value = self._fetch() or self._default
                self._expires = self._clock() + self._ttl
            return self._value

    def mark_paused(self) -> None:
        """A send was refused because sending is paused: stop consuming until SES says otherwise."""
        with self._lock:
            rate = self._value.max_send_rate if self._value else self._default.max_send_rate
            self._value = SendQuota(rate, sending_enabled=False)
            self._expires = self._clock() + PAUSE_RECHECK_SECONDS


class Pacer:
    """At most ``rate`` sends per second from this invocation, spread evenly; ``rate <= 0`` never waits."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    @classmethod
    def share(cls, quota: SendQuota, concurrency: int) -> Pacer:
        """This invocation's part of the account rate when ``concurrency`` deliveries run at once."""
        return cls(quota.max_send_rate / max(1, concurrency))

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)
