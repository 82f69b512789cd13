"""Pacing SES sends to the account's ``MaxSendRate``: the quota cached per container, each invocation
held to its share of the rate (set per delivery function by packaging: docs/delivery.md), and the
account-level pause it reports."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

QUOTA_TTL_SECONDS = 300.0  # SES quotas change on a human time scale; one GetAccount per container per 5 min
FALLBACK_TTL_SECONDS = 30.0  # a stand-in after a failed GetAccount is believed only this long
PAUSE_RECHECK_SECONDS = 30.0  # a pause noticed on a send is believed this long before asking SES again


@dataclass(frozen=True)
class SendQuota:
    max_send_rate: float  # emails per second for the whole account; 0 = unpaced (only configured, never a failure)
    sending_enabled: bool = True


class QuotaCache:
    """The last ``SendQuota`` SES reported, refreshed after ``ttl`` seconds; thread-safe.

    When SES cannot tell (``fetch`` returns None: GetAccount throttled or down after its retries), the
    last rate it did report stands in, else ``default_rate``, each for ``fallback_ttl`` only, so that
    a recovered GetAccount is used soon. A failure never makes delivery unpaced.
    """

    def __init__(
        self,
        fetch: Callable[[], SendQuota | None],
        *,
        default_rate: float = 0.0,
        ttl: float = QUOTA_TTL_SECONDS,
        fallback_ttl: float = FALLBACK_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._default = SendQuota(default_rate)
        self._ttl = ttl
        self._fallback_ttl = fallback_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: SendQuota | None = None
        self._known: SendQuota | None = None  # the last quota SES itself reported
        self._expires = 0.0

    def get(self) -> SendQuota:
        with self._lock:
            if self._value is None or self._clock() >= self._expires:
                fetched = self._fetch()
                if fetched is not None:
                    self._value = self._known = fetched
                    self._expires = self._clock() + self._ttl
                else:
                    self._value = self._known or self._default
                    self._expires = self._clock() + self._fallback_ttl
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
        self.rate = max(0.0, rate)
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    @classmethod
    def share(
        cls,
        quota: SendQuota,
        share: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Pacer:
        """This invocation's part of the account rate: ``share`` is its fraction of ``MaxSendRate``."""
        return cls(quota.max_send_rate * share, clock=clock, sleep=sleep)

    def wait(self, until: float | None = None) -> bool:
        """Wait for this send's slot; False (and no slot taken) when the slot would come after ``until``."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            if until is not None and slot > until:
                return False
            if self.interval:
                self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)
        return True
