"""Pacing to SES's MaxSendRate: the per-invocation share, even spacing, the deadline, the cached quota,
its fallbacks when GetAccount fails, and the pause."""

from __future__ import annotations

import pytest

from chalicelib.adapters import settings
from chalicelib.domain.mail.pacing import FALLBACK_TTL_SECONDS, QUOTA_TTL_SECONDS, Pacer, QuotaCache, SendQuota


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Flaky:
    """GetAccount as QuotaCache sees it: a quota, or None once the client's retries are spent."""

    def __init__(self, *answers: SendQuota | None) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> SendQuota | None:
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_an_invocation_sends_at_its_share_of_the_account_rate() -> None:
    # GIVEN an account allowed 14 emails/s and an invocation allowed a quarter of it
    clock = Clock()
    pacer = Pacer.share(SendQuota(14.0), 0.25, clock=clock, sleep=clock.sleep)

    # WHEN it sends 8 emails
    start = clock.now
    for _ in range(8):
        assert pacer.wait()

    # THEN they are spread at 3.5/s: the 8th leaves 7 intervals after the first
    assert clock.now - start == pytest.approx(7 / 3.5)
    assert clock.slept == [pytest.approx(1 / 3.5)] * 7


def test_an_unknown_rate_never_waits() -> None:
    clock = Clock()
    pacer = Pacer(0.0, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        pacer.wait()
    assert clock.slept == []


def test_a_slot_after_the_deadline_is_refused_without_waiting_or_being_taken() -> None:
    # GIVEN 1 email/s and a deadline 2.5 s away
    clock = Clock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    until = clock.now + 2.5

    # WHEN five sends ask for their slot
    got = [pacer.wait(until) for _ in range(5)]

    # THEN the three whose slot comes by the deadline wait for it; the others are refused at once
    assert got == [True, True, True, False, False]
    assert clock.now == 102.0


def test_a_default_stands_in_briefly_when_ses_cannot_tell_and_a_recovered_get_account_is_used_soon() -> None:
    # GIVEN GetAccount fails (throttled while many containers start), then recovers
    clock = Clock()
    fetch = Flaky(None, SendQuota(50.0))
    cache = QuotaCache(fetch, default_rate=1.0, clock=clock)

    # WHEN delivery asks for the quota now and a little later
    first, soon = cache.get(), cache.get()

    # THEN the conservative default paces it meanwhile (never unpaced), asked once
    assert first == soon == SendQuota(1.0) and fetch.calls == 1

    # WHEN the short fallback time has passed
    clock.now += FALLBACK_TTL_SECONDS + 1

    # THEN SES's own rate is used, and kept for the whole TTL
    assert cache.get() == SendQuota(50.0) and fetch.calls == 2
    clock.now += QUOTA_TTL_SECONDS - 1
    assert cache.get() == SendQuota(50.0) and fetch.calls == 2


def test_a_failed_refresh_keeps_the_last_rate_ses_reported_rather_than_the_default() -> None:
    # GIVEN SES told its rate once, and then GetAccount fails
    clock = Clock()
    fetch = Flaky(SendQuota(14.0), None)
    cache = QuotaCache(fetch, default_rate=1.0, clock=clock)
    assert cache.get() == SendQuota(14.0)

    # WHEN the quota expires and the refresh fails
    clock.now += QUOTA_TTL_SECONDS + 1
    got = cache.get()

    # THEN the last known rate stands in, and SES is asked again after the short fallback time only
    assert got == SendQuota(14.0) and fetch.calls == 2
    clock.now += FALLBACK_TTL_SECONDS + 1
    cache.get()
    assert fetch.calls == 3


def test_a_pause_noticed_on_a_send_holds_until_ses_is_asked_again() -> None:
    clock = Clock()
    cache = QuotaCache(lambda: SendQuota(10.0, sending_enabled=True), clock=clock)
    cache.get()
    cache.mark_paused()
    assert cache.get().sending_enabled is False
    clock.now += 31
    assert cache.get().sending_enabled is True


REQUIRED = {
    "PATCHCAST_SENDER": "a@example.com",
    "PATCHCAST_PUBLIC_URL": "https://x.example",
    "PATCHCAST_JWT_ISSUER": "https://issuer.example",
    "PATCHCAST_JWT_AUDIENCE": "aud",
    "PATCHCAST_JWKS_URL": "https://issuer.example/jwks",
}


def test_outside_the_local_stage_an_unknown_quota_defaults_to_the_sandbox_rate_never_unpaced() -> None:
    assert settings.from_env({**REQUIRED, "PATCHCAST_STAGE": "prod"}).ses_default_rate == 1.0
    assert settings.from_env({**REQUIRED, "PATCHCAST_STAGE": "local"}).ses_default_rate == 0.0
    assert (
        settings.from_env({**REQUIRED, "PATCHCAST_STAGE": "prod", "PATCHCAST_SES_DEFAULT_RATE": "0.5"}).ses_default_rate
        == 0.5
    )


def test_the_send_share_comes_from_its_variable_else_from_the_delivery_concurrency() -> None:
    assert settings.from_env({**REQUIRED, "PATCHCAST_SEND_SHARE": "0.05"}).send_share == 0.05
    assert settings.from_env({**REQUIRED, "PATCHCAST_DELIVERY_CONCURRENCY": "8"}).send_share == 1 / 8
    for bad in ("fast", "-1", "nan"):
        with pytest.raises(settings.ConfigurationError, match="PATCHCAST_SEND_SHARE"):
            settings.from_env({**REQUIRED, "PATCHCAST_SEND_SHARE": bad})


def test_get_account_retries_with_backoff_on_its_own_client_while_send_email_does_not() -> None:
    # GIVEN the app's wiring (clients are made, no request is sent)
    from chalicelib.adapters.wiring import QUOTA_ATTEMPTS, Wiring

    w = Wiring(settings.from_env({**REQUIRED, "PATCHCAST_STAGE": "prod", "AWS_REGION": "us-east-1"}))

    # THEN GetAccount's client retries in standard mode (jittered exponential backoff); SendEmail's never
    account, send = w.mailer._account.meta.config.retries, w.mailer._ses.meta.config.retries
    assert account == {"mode": "standard", "total_max_attempts": QUOTA_ATTEMPTS} and QUOTA_ATTEMPTS >= 3
    assert send == {"mode": "standard", "total_max_attempts": 1}


class _FailingAccount:
    def get_account(self) -> dict[str, object]:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, "GetAccount")


def test_a_failed_get_account_is_unknown_to_the_mailer_and_paced_at_the_default() -> None:
    from chalicelib.adapters.mailer import Mailer

    mailer = Mailer(None, sender="a@example.com", account_client=_FailingAccount())  # type: ignore[arg-type]
    assert mailer.send_quota() is None
    assert QuotaCache(mailer.send_quota, default_rate=1.0).get().max_send_rate == 1.0
