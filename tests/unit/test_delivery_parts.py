"""The pure parts of delivering a batch: its counts and the report's tally of its outcomes, and the
consistent re-check of who is still to be sent to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.core.models import DeliveryOutcome, Recipient, Release, Subscription
from chalicelib.domain.core.states import DeliveryStatus, Notice, Role, SubscriptionStatus
from chalicelib.domain.delivery import recheck as delivery_recheck
from chalicelib.domain.delivery import tally as delivery_tally
from chalicelib.domain.reports import release_report as reports
from tests.domain.world import account, release, subscription

PUBLISHED = "2026-03-01T12:00:00Z"
EPOCH = datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp()


def _person(n: int, tier: str = "premium", role: Role = Role.SUBSCRIBER) -> Recipient:
    return Recipient("acct1", f"s{n}" if role == Role.SUBSCRIBER else role, f"U{n}@Acct1.example", tier, role)


def _outcome(r: Recipient, status: DeliveryStatus, **extra: Any) -> DeliveryOutcome:
    return DeliveryOutcome(r, status, extra=extra)


def test_outcomes_are_counted_by_status() -> None:
    outcomes = [
        _outcome(_person(0), DeliveryStatus.SENT),
        _outcome(_person(1), DeliveryStatus.SENT),
        _outcome(_person(2), DeliveryStatus.FAILED),
        _outcome(_person(3), DeliveryStatus.RETRY),
    ]
    assert delivery_tally.outcomes_by_status(outcomes) == {"sent": 2, "failed": 1, "retry": 1}
    assert delivery_tally.outcomes_by_status([]) == {}


def test_the_tally_counts_recorded_outcomes_per_tier_role_and_status_and_leaves_retries_to_their_batch() -> None:
    outcomes = [
        _outcome(_person(0), DeliveryStatus.SENT),
        _outcome(_person(1), DeliveryStatus.SENT),
        _outcome(_person(2, tier="elite"), DeliveryStatus.SUPPRESSED),
        _outcome(_person(3, tier=""), DeliveryStatus.FAILED),
        _outcome(_person(4), DeliveryStatus.RETRY),
        _outcome(_person(5, role=Role.ONCALL), DeliveryStatus.SENT),
    ]
    assert delivery_tally.tally_of(outcomes) == {
        "premium#subscriber#sent": 2,
        "elite#subscriber#suppressed": 1,
        "unknown#subscriber#failed": 1,
        "premium#oncall#sent": 1,
    }


def test_the_tally_buckets_the_subscribers_notices_ses_accepted_by_seconds_after_publishing() -> None:
    outcomes = [
        _outcome(_person(0), DeliveryStatus.SENT, accepted_at=EPOCH + 3),
        _outcome(_person(1), DeliveryStatus.SENT, accepted_at=EPOCH + 3.5),
        _outcome(_person(2), DeliveryStatus.SENT, accepted_at=EPOCH + 100),
        _outcome(_person(3, tier=""), DeliveryStatus.SENT, accepted_at=EPOCH + 3),
        _outcome(_person(4), DeliveryStatus.SENT),  # accepted, but not stamped: not in the histogram
        _outcome(_person(5, role=Role.CSM), DeliveryStatus.SENT, accepted_at=EPOCH + 3),
        _outcome(_person(6), DeliveryStatus.FAILED, accepted_at=EPOCH + 3),
        _outcome(_person(7), DeliveryStatus.RETRY, accepted_at=EPOCH + 3),
    ]
    tally = delivery_tally.tally_of(outcomes, published_at=PUBLISHED)
    histogram = {name: n for name, n in tally.items() if f"#{reports.AFTER}#" in name}
    assert reports.bucket(3) != reports.bucket(3.5)
    expected = {
        f"premium#after#{reports.bucket(3)}": 1,
        f"premium#after#{reports.bucket(3.5)}": 1,
        f"premium#after#{reports.bucket(100)}": 1,
        f"unknown#after#{reports.bucket(3)}": 1,
    }
    assert histogram == expected
    assert tally["premium#subscriber#sent"] == 4 and tally["premium#csm#sent"] == 1


def test_the_tally_has_no_histogram_without_a_publishing_time() -> None:
    outcomes = [_outcome(_person(0), DeliveryStatus.SENT, accepted_at=EPOCH + 3)]
    assert delivery_tally.tally_of(outcomes) == {"premium#subscriber#sent": 1}


def _release(**kw: Any) -> Release:
    return release(**{"published_at": PUBLISHED, **kw})


def _sub(n: int, **kw: Any) -> Subscription:
    return subscription(account("acct1", "premium"), n, **{"max_severity": 3, **kw})


def _partition(
    subs: dict[int, Subscription],
    *,
    people: int = 1,
    already: set[str] | None = None,
    suppressed: set[str] | None = None,
    release: Release | None = None,
    notice: str = Notice.RELEASE,
    roles: tuple[Recipient, ...] = (),
) -> tuple[list[str], dict[str, tuple[str, str | None]]]:
    recipients = [_person(n) for n in range(people)] + list(roles)
    todo, skipped = delivery_recheck.partition(
        recipients,
        already or set(),
        {f"acct1#s{n}": s for n, s in subs.items()},
        suppressed or set(),
        release or _release(),
        notice,
    )
    return [r.key for r in todo], {o.recipient.key: (o.status, o.detail) for o in skipped}


def test_the_recheck_sends_to_who_still_wants_the_release_and_leaves_out_who_was_recorded() -> None:
    todo, skipped = _partition({n: _sub(n) for n in range(3)}, people=3, already={"acct1#s0#subscriber"})
    assert (todo, skipped) == (["acct1#s1#subscriber", "acct1#s2#subscriber"], {})


@pytest.mark.parametrize(
    ("change", "release"),
    [
        ({"status": SubscriptionStatus.UNSUBSCRIBED}, {}),
        ({"products": ("Other",)}, {}),
        ({"kinds": ("security",)}, {}),
        ({"max_severity": 1}, {}),
        ({"channels": ("beta",)}, {}),
        ({"installed": {"M3": ("13.4",)}}, {"applies_to": ("14.0",)}),
    ],
    ids=["unsubscribed", "product", "kind", "severity", "channel", "version"],
)
def test_the_recheck_skips_a_subscriber_who_no_longer_wants_the_release(
    change: dict[str, Any], release: dict[str, Any]
) -> None:
    todo, skipped = _partition({0: _sub(0, **change)}, release=_release(**release))
    assert (todo, skipped) == ([], {"acct1#s0#subscriber": ("skipped", "no longer subscribed")})


def test_the_recheck_sends_to_a_subscriber_whose_versions_the_release_applies_to() -> None:
    todo, _ = _partition({0: _sub(0, installed={"M3": ("13.4",)})}, release=_release(applies_to=("13.4.2",)))
    assert todo == ["acct1#s0#subscriber"]


def test_the_recheck_skips_a_subscriber_whose_subscription_is_gone_but_not_a_role_copy() -> None:
    oncall = Recipient("acct1", Role.ONCALL, "pager@acct1.example", "premium", Role.ONCALL)
    todo, skipped = _partition({}, roles=(oncall,))
    assert todo == ["acct1#oncall#oncall"]
    assert skipped == {"acct1#s0#subscriber": ("skipped", "no longer subscribed")}


def test_the_recheck_marks_suppressed_addresses_whatever_their_case_and_suppressed_subscriptions() -> None:
    oncall = Recipient("acct1", Role.ONCALL, "Pager@Acct1.example", "premium", Role.ONCALL)
    todo, skipped = _partition(
        {0: _sub(0), 1: _sub(1, status=SubscriptionStatus.SUPPRESSED)},
        people=2,
        suppressed={"pager@acct1.example"},
        roles=(oncall,),
    )
    assert todo == ["acct1#s0#subscriber"]
    assert skipped == {
        "acct1#s1#subscriber": ("suppressed", "address suppressed"),
        "acct1#oncall#oncall": ("suppressed", "address suppressed"),
    }


@pytest.mark.parametrize("notice", [Notice.RECALL, Notice.ANNOUNCE_UPDATE, Notice.ANNOUNCE_CANCEL])
def test_a_follow_up_goes_to_whoever_is_still_subscribed_whatever_their_preferences_now(notice: Notice) -> None:
    todo, skipped = _partition(
        {0: _sub(0, kinds=("security",), max_severity=1), 1: _sub(1, status=SubscriptionStatus.UNSUBSCRIBED)},
        people=3,
        notice=notice,
    )
    assert todo == ["acct1#s0#subscriber"]
    assert skipped == {
        "acct1#s1#subscriber": ("skipped", "no longer subscribed"),
        "acct1#s2#subscriber": ("skipped", "no longer subscribed"),
    }
