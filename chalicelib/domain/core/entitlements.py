"""The vendor's entitlement matrix (Xtreme, Premium, Elite, from its product sheet) as data, and the one
place that asks it.

Every check in the pipeline (subscribe, fan-out, delivery, download) calls ``decide`` or reads a
``TierPolicy``; nothing else compares tier names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

KINDS = ("patch", "service-pack", "feature-pack", "update", "critical-solution")
CHANNELS = ("ga", "beta")
SEVERITIES = (1, 2, 3, 4)


class OnCallDays(StrEnum):
    WEEKDAYS = "weekdays"
    EVERY_DAY = "every-day"


@dataclass(frozen=True)
class TierPolicy:
    tier: str
    label: str
    rank: int  # delivery order within one severity: 1 goes first
    kinds: tuple[str, ...]
    channels: tuple[str, ...]
    oncall_severity1: OnCallDays
    csm_copy: bool
    csm_review_report: bool
    advance_update_notice: bool
    sources: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "label": self.label,
            "delivery_rank": self.rank,
            "kinds": list(self.kinds),
            "channels": list(self.channels),
            "beta": "beta" in self.channels,
            "oncall_severity1": self.oncall_severity1.value,
            "csm_copy": self.csm_copy,
            "csm_review_report": self.csm_review_report,
            "advance_update_notice": self.advance_update_notice,
            "entitlement_ends_with_support_period": True,
            "sources": list(self.sources),
        }


TIERS: dict[str, TierPolicy] = {
    "xtreme": TierPolicy(
        tier="xtreme",
        label="Xtreme",
        rank=3,
        kinds=KINDS,
        channels=("ga",),
        oncall_severity1=OnCallDays.WEEKDAYS,
        csm_copy=False,
        csm_review_report=False,
        advance_update_notice=False,
        sources=("X1", "X2", "X3", "X5", "X9", "X10"),
    ),
    "premium": TierPolicy(
        tier="premium",
        label="Xtreme Premium",
        rank=2,
        kinds=KINDS,
        channels=("ga",),
        oncall_severity1=OnCallDays.EVERY_DAY,
        csm_copy=False,
        csm_review_report=False,
        advance_update_notice=False,
        sources=("X1", "X2", "X3", "X5", "X9", "P1", "P2"),
    ),
    "elite": TierPolicy(
        tier="elite",
        label="Xtreme Elite",
        rank=1,
        kinds=KINDS,
        channels=("ga", "beta"),
        oncall_severity1=OnCallDays.EVERY_DAY,
        csm_copy=True,
        csm_review_report=True,
        advance_update_notice=True,
        sources=("X1", "X2", "X3", "X5", "X9", "P1", "P2", "E1", "E2", "E3", "E6"),
    ),
}


class Reason(StrEnum):
    OK = "ok"
    UNKNOWN_TIER = "unknown_tier"
    PERIOD_NOT_STARTED = "support_period_not_started"
    PERIOD_ENDED = "support_period_ended"
    PRODUCT_NOT_IN_CONTRACT = "product_not_in_contract"
    CHANNEL_NOT_ENTITLED = "channel_not_entitled"
    KIND_NOT_ENTITLED = "kind_not_entitled"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason
    message: str

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class Contract:
    """What entitlement decisions need of an account."""

    account_id: str
    tier: str
    products: frozenset[str]
    support_start: date
    support_end: date  # inclusive: the last day of the annual support period


def policy(tier: str) -> TierPolicy | None:
    return TIERS.get(tier)


def days_left(support_end: date, today: date) -> int:
    """Days of support left, today included (``support_end`` is the period's last day): the one count the
    portal, the review and the CLI show."""
    return max((support_end - today).days + 1, 0)


def period_active(contract: Contract, now: datetime) -> Decision:
    today = now.date()
    if today < contract.support_start:
        return Decision(
            False,
            Reason.PERIOD_NOT_STARTED,
            f"The support period of account {contract.account_id} starts on {contract.support_start.isoformat()}.",
        )
    if today > contract.support_end:
        return Decision(
            False,
            Reason.PERIOD_ENDED,
            f"The support period of account {contract.account_id} ended on {contract.support_end.isoformat()}; "
            "renew the support contract to receive notices and downloads again.",
        )
    return Decision(True, Reason.OK, "entitled")


def decide(contract: Contract, *, product: str, kind: str, channel: str, now: datetime) -> Decision:
    """May this account receive (a notice of, or the download of) a release like this, now?"""
    tier_policy = TIERS.get(contract.tier)
    if tier_policy is None:
        return Decision(False, Reason.UNKNOWN_TIER, f"Account {contract.account_id} has no known support tier.")
    active = period_active(contract, now)
    if not active:
        return active
    if product not in contract.products:
        return Decision(
            False,
            Reason.PRODUCT_NOT_IN_CONTRACT,
            f"Product {product} is not part of the support contract of account {contract.account_id}.",
        )
    if kind not in tier_policy.kinds:
        return Decision(False, Reason.KIND_NOT_ENTITLED, f"{tier_policy.label} does not include {kind} releases.")
    if channel not in tier_policy.channels:
        return Decision(
            False,
            Reason.CHANNEL_NOT_ENTITLED,
            f"{tier_policy.label} does not include {channel} releases; beta and test programmes are Xtreme Elite only.",
        )
    return Decision(True, Reason.OK, "entitled")


def oncall_copy_due(
    tier: str,
    *,
    severity: int,
    local_now: datetime,
    business_hours: tuple[int, int],
    offered: Sequence[str] | None = None,
) -> bool:
    """Severity-1 notices also go to the on-call contact outside business hours (X10, P1), for a product
    that offers the tier's after-hours feature (``offered``: its catalog features; see ``oncall_days``)."""
    days = oncall_days(tier, offered)
    if days is None or severity != 1:
        return False
    start, end = business_hours
    weekday = local_now.weekday() < 5
    in_hours = weekday and start <= local_now.hour < end
    if in_hours:
        return False
    if days is OnCallDays.WEEKDAYS:
        return weekday
    return True


# The after-hours severity-1 features (marked '*'), the widest first, and the days each covers.
AFTER_HOURS: dict[str, OnCallDays] = {"P1": OnCallDays.EVERY_DAY, "X10": OnCallDays.WEEKDAYS}


def oncall_days(tier: str, offered: Sequence[str] | None) -> OnCallDays | None:
    """On which days the tier's on-call copies go for a product offering ``offered``: the widest after-hours
    feature the tier includes (``STARRED``) and the product offers; None when there is none.

    ``offered`` None is a product with no catalog entry: nothing limits it, so the tier's own days apply
    (missing a severity-1 page costs more than an extra one; fan-out logs the missing entry).
    """
    tier_policy = TIERS.get(tier)
    if tier_policy is None:
        return None
    if offered is None:
        return tier_policy.oncall_severity1
    return next((days for f, days in AFTER_HOURS.items() if f in STARRED.get(tier, ()) and f in offered), None)


# The seed's features marked '*' ("only for some products") each tier includes: a product offers some of
# them (its catalog entry), and an account gets those its tier includes.
STARRED: dict[str, tuple[str, ...]] = {"xtreme": ("X10",), "premium": ("X10", "P1"), "elite": ("X10", "P1", "E7")}


def product_features(tier: str, offered: tuple[str, ...] | list[str]) -> list[str]:
    return [f for f in STARRED.get(tier, ()) if f in offered]


def matrix() -> list[dict[str, Any]]:
    return [TIERS[t].as_dict() for t in sorted(TIERS, key=lambda t: TIERS[t].rank, reverse=True)]
