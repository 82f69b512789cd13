"""What the matrix tests leave open: the words of each entitlement refusal (they reach people as a 403's
message), the first day of a support period, the edges of business hours, and GET /tiers field for field."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.domain.core.entitlements import (
    TIERS,
    Contract,
    Decision,
    OnCallDays,
    Reason,
    decide,
    matrix,
    oncall_copy_due,
    oncall_days,
    period_active,
    policy,
    product_features,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _contract(tier: str = "premium", start: date = date(2026, 1, 1), end: date = date(2026, 12, 31)) -> Contract:
    return Contract("acct", tier, frozenset({"M3"}), start, end)


def test_the_first_day_of_the_support_period_counts() -> None:
    assert decide(_contract(start=NOW.date()), product="M3", kind="patch", channel="ga", now=NOW)


@pytest.mark.parametrize(
    ("contract", "ask", "reason", "message"),
    [
        (_contract("gold"), {}, Reason.UNKNOWN_TIER, "Account acct has no known support tier."),
        (_contract(start=date(2027, 1, 1), end=date(2027, 12, 31)), {}, Reason.PERIOD_NOT_STARTED,
         "The support period of account acct starts on 2027-01-01."),
        (_contract(end=date(2026, 11, 25)), {}, Reason.PERIOD_ENDED,
         "The support period of account acct ended on 2026-11-25; renew the support contract to receive notices "
         "and downloads again."),
        (_contract(), {"product": "XA"}, Reason.PRODUCT_NOT_IN_CONTRACT,
         "Product XA is not part of the support contract of account acct."),
        (_contract(), {"channel": "beta"}, Reason.CHANNEL_NOT_ENTITLED,
         "Xtreme Premium does not include beta releases; beta and test programmes are Xtreme Elite only."),
        (_contract(), {"kind": "firmware"}, Reason.KIND_NOT_ENTITLED, "Xtreme Premium does not include firmware releases."),
    ],
)  # fmt: skip
def test_each_refusal_says_why_in_words_for_people(
    contract: Contract, ask: dict[str, str], reason: Reason, message: str
) -> None:
    decision = decide(contract, **{"product": "M3", "kind": "patch", "channel": "ga", **ask}, now=NOW)  # type: ignore[arg-type]
    assert (bool(decision), decision.reason, decision.message) == (False, reason, message)


def test_an_entitled_decision_says_so() -> None:
    decision = decide(_contract("elite"), product="M3", kind="patch", channel="beta", now=NOW)
    assert (bool(decision), decision.reason, decision.message) == (True, Reason.OK, "entitled")


def test_an_active_support_period_says_so() -> None:
    # GET /account serves this decision's reason and message as they are, not only whether it allows
    assert period_active(_contract(), NOW) == Decision(True, Reason.OK, "entitled")


def test_a_tier_policy_is_looked_up_by_name_and_an_unknown_tier_has_none() -> None:
    assert policy("elite") is TIERS["elite"]
    assert policy("gold") is None


# GET /tiers serves this list as it is (docs/subscriptions.md): every field, in delivery order; a change to
# the matrix changes this on purpose.
MATRIX = [
    {
        "tier": "xtreme",
        "label": "Xtreme",
        "delivery_rank": 3,
        "kinds": ["patch", "service-pack", "feature-pack", "update", "critical-solution"],
        "channels": ["ga"],
        "beta": False,
        "oncall_severity1": "weekdays",
        "csm_copy": False,
        "csm_review_report": False,
        "advance_update_notice": False,
        "entitlement_ends_with_support_period": True,
        "sources": ["X1", "X2", "X3", "X5", "X9", "X10"],
    },
    {
        "tier": "premium",
        "label": "Xtreme Premium",
        "delivery_rank": 2,
        "kinds": ["patch", "service-pack", "feature-pack", "update", "critical-solution"],
        "channels": ["ga"],
        "beta": False,
        "oncall_severity1": "every-day",
        "csm_copy": False,
        "csm_review_report": False,
        "advance_update_notice": False,
        "entitlement_ends_with_support_period": True,
        "sources": ["X1", "X2", "X3", "X5", "X9", "P1", "P2"],
    },
    {
        "tier": "elite",
        "label": "Xtreme Elite",
        "delivery_rank": 1,
        "kinds": ["patch", "service-pack", "feature-pack", "update", "critical-solution"],
        "channels": ["ga", "beta"],
        "beta": True,
        "oncall_severity1": "every-day",
        "csm_copy": True,
        "csm_review_report": True,
        "advance_update_notice": True,
        "entitlement_ends_with_support_period": True,
        "sources": ["X1", "X2", "X3", "X5", "X9", "P1", "P2", "E1", "E2", "E3", "E6"],
    },
]


def test_the_matrix_get_tiers_serves_is_pinned_field_for_field() -> None:
    assert matrix() == MATRIX


@pytest.mark.parametrize(("hour", "due"), [(8, True), (9, False), (16, False), (17, True)])
def test_business_hours_include_their_first_hour_and_exclude_their_last(hour: int, due: bool) -> None:
    monday = datetime(2026, 11, 30, hour, 0, tzinfo=UTC)
    assert oncall_copy_due("premium", severity=1, local_now=monday, business_hours=(9, 17)) is due


def test_starred_features_are_those_the_tier_includes_and_the_product_offers() -> None:
    assert product_features("premium", ["P1", "E7"]) == ["P1"]
    assert product_features("gold", ["P1"]) == []


@pytest.mark.parametrize(
    ("tier", "offered", "days"),
    [
        ("xtreme", ["X10"], OnCallDays.WEEKDAYS),
        ("xtreme", ["P1", "X10"], OnCallDays.WEEKDAYS),
        ("xtreme", ["P1"], None),
        ("premium", ["X10", "P1"], OnCallDays.EVERY_DAY),
        ("premium", ["X10"], OnCallDays.WEEKDAYS),
        ("premium", ["P1"], OnCallDays.EVERY_DAY),
        ("premium", [], None),
        ("elite", ["E7"], None),
        ("gold", ["X10", "P1"], None),
        ("xtreme", None, OnCallDays.WEEKDAYS),
        ("elite", None, OnCallDays.EVERY_DAY),
        ("gold", None, None),
    ],
)  # fmt: skip
def test_oncall_days_are_the_widest_after_hours_feature_the_tier_includes_and_the_product_offers(
    tier: str, offered: list[str] | None, days: OnCallDays | None
) -> None:
    assert oncall_days(tier, offered) is days


@pytest.mark.parametrize(
    ("offered", "weekday_night", "saturday_noon"), [(["X10"], True, False), (["P1"], True, True), ([], False, False)]
)
def test_a_premium_oncall_copy_follows_what_the_product_offers(
    offered: list[str], weekday_night: bool, saturday_noon: bool
) -> None:
    def due(local_now: datetime) -> bool:
        return oncall_copy_due("premium", severity=1, local_now=local_now, business_hours=(8, 17), offered=offered)

    assert due(datetime(2026, 11, 26, 22, 0)) is weekday_night
    assert due(datetime(2026, 11, 28, 12, 0)) is saturday_noon
