"""The system clock (``chalicelib.domain.core.ports.Clock``), and the readings the domain takes of any clock: the
wall time as a datetime, epoch seconds and an ISO timestamp. Domain code that reads the time takes a ``clock``
(defaulting to ``SYSTEM``), so that a simulation can run it in virtual time."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Clock


class SystemClock:
    """The machine's clocks: ``datetime.now(UTC)``, ``time.monotonic`` and ``time.sleep``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM: Clock = SystemClock()


def epoch(clock: Clock) -> float:
    """The clock's wall time in seconds since the epoch (``time.time()`` for the system clock)."""
    return clock.now().timestamp()


def iso(clock: Clock) -> str:
    """The clock's wall time as the records keep it: ``2026-12-08T00:10:00Z`` (``models.now_iso``'s form)."""
    return clock.now().astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
