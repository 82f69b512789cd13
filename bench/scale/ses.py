"""SES in the model: ``MaxSendRate`` as a bucket of one second's sends, ``Max24HourSend`` over a rolling day,
a throttling error above either (and through every injected burst), a latency per call; and the ledger of
what it accepted, by release, notice and address, which the invariants are checked against.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field

from bench.scale.params import Params
from bench.scale.vtime import VirtualTime
from chalicelib.domain.core.errors import Throttled
from chalicelib.domain.mail.pacing import SendQuota


@dataclass
class Accepted:
    release_id: str
    notice: str
    address: str
    at: float  # virtual seconds


@dataclass
class Ses:
    vt: VirtualTime
    params: Params
    rng: random.Random
    sender: str = "alerts@patchcast.example"
    accepted: list[Accepted] = field(default_factory=list)
    throttles: int = 0
    calls: int = 0
    _tokens: float = 0.0
    _filled_at: float = 0.0
    _day: deque[float] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._tokens = self.params.max_send_rate * self.params.ses_burst_seconds

    # -- the Mailer the domain calls -------------------------------------------------------------------
    def send_raw(self, to: str, raw: bytes) -> str:
        self.vt.sleep(self.rng.uniform(*self.params.ses_latency))
        self.calls += 1
        now = self.vt.env.now
        if self._bursting(now) or not self._take(now):
            self.throttles += 1
            raise Throttled("Throttling: Maximum sending rate exceeded.")
        ctx = self.vt.invocation()
        batch = ctx.batch if ctx else None
        self.accepted.append(Accepted(batch.release_id if batch else "", batch.notice if batch else "", to, now))
        return f"sim-{len(self.accepted):09d}"

    def send_quota(self) -> SendQuota:
        return SendQuota(self.params.max_send_rate)

    # -- the limits ------------------------------------------------------------------------------------
    def _bursting(self, now: float) -> bool:
        return any(start <= now < start + length for start, length in self.params.throttle_bursts)

    def _take(self, now: float) -> bool:
        rate = self.params.max_send_rate
        cap = rate * self.params.ses_burst_seconds
        self._tokens = min(cap, self._tokens + (now - self._filled_at) * rate)
        self._filled_at = now
        while self._day and self._day[0] <= now - 86400:
            self._day.popleft()
        if self._tokens < 1.0 or len(self._day) >= self.params.max_24h_send:
            return False
        self._tokens -= 1.0
        self._day.append(now)
        return True

    def by_key(self) -> Counter[tuple[str, str, str]]:
        return Counter((a.release_id, a.notice, a.address) for a in self.accepted)
