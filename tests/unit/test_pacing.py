"""Pacing to SES's MaxSendRate: the per-invocation share, even spacing, the cached quota and the pause."""

from __future__ import annotations

from chalicelib.pacing import Pacer, QuotaCache, SendQuota


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_an_invocation_sends_at_its_share_of_the_account_rate() -> None:
    # GIVEN an account allowed 14 emails/s and 4 deliveries running at once
    clock = Clock()
    pacer = Pacer.share(SendQuota(14.0), 4)
    pacer._clock, pacer._sleep = clock, clock.sleep

    # WHEN it sends 8 emails
    start = clock.now
    for _ in range(8):
        pacer.wait()

    # THEN they are spread at 3.5/s: the 8th leaves 7 intervals after the first
    assert abs((clock.now - start) - 7 / 3.5) < 1e-9
    assert all(abs(s - 1 / 3.5) < 1e-9 for s in clock.slept)


def test_an_unknown_rate_never_waits() -> None:
    clock = Clock()
    pacer = Pacer(0.0, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        pacer.wait()
    assert clock.slept == []


def test_the_quota_is_asked_once_per_ttl_and_a_default_stands_in_when_ses_cannot_tell() -> None:
    clock = Clock()
    calls: list[int] = []

    def fetch() -> SendQuota | None:
        calls.append(1)
        return None if len(calls) == 1 else SendQuota(50.0)

    cache = QuotaCache(fetch, default_rate=7.0, ttl=60, clock=clock)
    assert cache.get() == SendQuota(7.0) and cache.get() == SendQuota(7.0)
    assert len(calls) == 1
    clock.now += 61
    assert cache.get() == SendQuota(50.0) and len(calls) == 2


def test_a_pause_noticed_on_a_send_holds_until_ses_is_asked_again() -> None:
    clock = Clock()
    cache = QuotaCache(lambda: SendQuota(10.0, sending_enabled=True), clock=clock)
    cache.get()
    cache.mark_paused()
    assert cache.get().sending_enabled is False
    clock.now += 31
    assert cache.get().sending_enabled is True
