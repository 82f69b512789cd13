"""The CSM's review on the in-memory store: built from the account's own records of the period's releases, and
sent to the CSM once however often the schedule runs."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.accounts import review
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
    # WHEN the monthly schedule runs twice
    first = review.run(store, mailer, spec="month", now=NOW)
    again = review.run(store, mailer, spec="month", now=NOW)
    built = review.build(store, elite, review.period_just_ended("month", NOW), now=NOW)
    # THEN the CSM got one review, counting the account's two notices and one downloader, and nothing waits
    assert (first, again) == ({"sent": 1}, {"done": 1}) and mailer.to() == ["csm@vendor.example"]
    (release,) = built["releases"]
    assert (release["counts"]["notified"], release["counts"]["downloaders"]) == (2, 1)
    assert built["not_downloaded"] == [] and built["totals"]["releases"] == 1
