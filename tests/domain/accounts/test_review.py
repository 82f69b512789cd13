"""The CSM's review on the in-memory store: built from the account's own records of the period's releases, and
sent to the CSM once however often it is asked to."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.accounts import periods, review
from chalicelib.domain.core.models import DeliveryOutcome, Recipient
from chalicelib.domain.core.states import DeliveryStatus
from tests.domain.world import Mailer, account, store_with

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)  # the period just ended: October 2026


def test_the_review_counts_the_account_s_notices_and_clicks_and_goes_to_its_csm_once() -> None:
    # GIVEN an elite account with a CSM, two subscribers notified of an October release, one of whom downloaded it
    elite = account("elite1", "elite", csm_email="csm@vendor.example")
    store = store_with(elite, account("prem1", "premium"), published_at="2026-10-15T10:00:00Z")
    people = [Recipient(a, s, sub.email, "elite") for (a, s), sub in store.subscriptions.items() if a == "elite1"]
    store.record_deliveries("r1", "release", [DeliveryOutcome(r, DeliveryStatus.SENT, "m") for r in people])
    store.record_download(
        "r1", account_id="elite1", subscription_id=people[0].subscription_id, ip="192.0.2.1", user_agent="ua",
        email=people[0].email, tier="elite",
    )  # fmt: skip
    mailer = Mailer()
    # WHEN October's review is sent to its CSM twice (a schedule that ran again)
    period = periods.period_just_ended("month", NOW)
    published = store.published_between(period.start, period.end)
    first, again = (review.send_one(store, mailer, elite, period, NOW, published) for _ in range(2))
    built = review.build(store, elite, period, now=NOW)
    # THEN the CSM got one review, counting the account's two notices and one downloader, and nothing waits
    assert (first, again) == ("sent", "done") and mailer.to() == ["csm@vendor.example"]
    (release,) = built["releases"]
    assert (release["counts"]["notified"], release["counts"]["downloaders"]) == (2, 1)
    assert built["not_downloaded"] == [] and built["totals"]["releases"] == 1
