"""Pins every row of the tier matrix the pipeline enforces (``chalicelib/domain/core/entitlements.py``: the seed's tiers)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.domain.core.entitlements import (
    KINDS,
    TIERS,
    Contract,
    OnCallDays,
    Reason,
    decide,
    matrix,
    oncall_copy_due,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday


def contract(tier: str, *, start: date = date(2026, 1, 1), end: date = date(2026, 12, 31)) -> Contract:
    return Contract("acct", tier, frozenset({"M3"}), start, end)


@pytest.mark.parametrize("tier", ["xtreme", "premium", "elite"])
def test_every_tier_gets_opt_in_critical_solution_alerts(tier: str) -> None:  # X1
    assert decide(contract(tier), product="M3", kind="critical-solution", channel="ga", now=NOW)


@pytest.mark.parametrize("tier", ["xtreme", "premium", "elite"])
@pytest.mark.parametrize("kind", ["update", "feature-pack", "patch", "service-pack"])
def test_every_tier_gets_updates_feature_packs_fixes_and_service_packs(tier: str, kind: str) -> None:  # X2, X3, X5
    assert decide(contract(tier), product="M3", kind=kind, channel="ga", now=NOW)


@pytest.mark.parametrize(("tier", "allowed"), [("xtreme", False), ("premium", False), ("elite", True)])
def test_beta_builds_are_elite_only(tier: str, allowed: bool) -> None:  # E3
    decision = decide(contract(tier), product="M3", kind="patch", channel="beta", now=NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason is Reason.CHANNEL_NOT_ENTITLED
        assert "Elite" in decision.message


def test_delivery_order_is_elite_then_premium_then_xtreme() -> None:  # X9, P2
    assert sorted(TIERS, key=lambda t: TIERS[t].rank) == ["elite", "premium", "xtreme"]


@pytest.mark.parametrize(
    ("tier", "weekday_night", "saturday_noon", "weekday_in_hours"),
    [("xtreme", True, False, False), ("premium", True, True, False), ("elite", True, True, False)],
)
def test_severity1_oncall_copies_outside_business_hours(
    tier: str, weekday_night: bool, saturday_noon: bool, weekday_in_hours: bool
) -> None:  # X10, P1
    hours = (8, 17)
    assert (
        oncall_copy_due(tier, severity=1, local_now=datetime(2026, 11, 26, 22, 0), business_hours=hours)
        is weekday_night
    )
    assert (
        oncall_copy_due(tier, severity=1, local_now=datetime(2026, 11, 28, 12, 0), business_hours=hours)
        is saturday_noon
    )
    assert (
        oncall_copy_due(tier, severity=1, local_now=datetime(2026, 11, 26, 10, 0), business_hours=hours)
        is weekday_in_hours
    )


def test_oncall_copies_only_for_severity_1() -> None:
    assert not oncall_copy_due("elite", severity=2, local_now=datetime(2026, 11, 28, 3, 0), business_hours=(8, 17))


@pytest.mark.parametrize(("tier", "csm"), [("xtreme", False), ("premium", False), ("elite", True)])
def test_csm_copy_review_report_and_advance_notice_are_elite_only(tier: str, csm: bool) -> None:  # E1, E2, E6
    policy = TIERS[tier]
    assert (policy.csm_copy, policy.csm_review_report, policy.advance_update_notice) == (csm, csm, csm)


@pytest.mark.parametrize("tier", ["xtreme", "premium", "elite"])
def test_entitlement_ends_with_the_support_period(tier: str) -> None:  # annual support period
    ended = contract(tier, end=date(2026, 11, 25))
    decision = decide(ended, product="M3", kind="patch", channel="ga", now=NOW)
    assert not decision
    assert decision.reason is Reason.PERIOD_ENDED
    assert "2026-11-25" in decision.message
    assert decide(contract(tier, end=date(2026, 11, 26)), product="M3", kind="patch", channel="ga", now=NOW), (
        "the last day counts"
    )


def test_period_not_started_is_refused() -> None:
    decision = decide(
        contract("elite", start=date(2027, 1, 1), end=date(2027, 12, 31)),
        product="M3",
        kind="patch",
        channel="ga",
        now=NOW,
    )
    assert decision.reason is Reason.PERIOD_NOT_STARTED


def test_products_outside_the_contract_are_refused() -> None:  # features marked * per product
    decision = decide(contract("elite"), product="XA", kind="patch", channel="ga", now=NOW)
    assert decision.reason is Reason.PRODUCT_NOT_IN_CONTRACT


def test_unknown_tier_is_refused() -> None:
    assert decide(contract("gold"), product="M3", kind="patch", channel="ga", now=NOW).reason is Reason.UNKNOWN_TIER


def test_matrix_lists_each_tier_with_its_capabilities() -> None:
    rows = {r["tier"]: r for r in matrix()}
    assert set(rows) == {"xtreme", "premium", "elite"}
    assert rows["elite"]["beta"] and not rows["premium"]["beta"]
    assert rows["xtreme"]["oncall_severity1"] == OnCallDays.WEEKDAYS.value
    assert all(set(r["kinds"]) == set(KINDS) for r in rows.values())
