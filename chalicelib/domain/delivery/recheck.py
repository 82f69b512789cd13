"""Who of a delivery batch is sent to, from the batch's consistent re-check: not recorded yet, not suppressed,
and still subscribed to the notice (to a recall or another follow-up: not unsubscribed since the first);
given the accounts' contracts as read now (a digest, which waits up to a week), also still entitled to it
(tier, contract, support period, product, channel: ``entitlements.decide``, as fan-out asked it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from chalicelib.domain.core.entitlements import decide
from chalicelib.domain.core.models import Account, DeliveryOutcome, Recipient, Release, Subscription
from chalicelib.domain.core.states import FOLLOW_UPS, DeliveryStatus, Notice, Role, SubscriptionStatus, notice_kind


def _still_wanted(sub: Subscription | None, release: Release, notice: str) -> bool:
    if notice_kind(notice) in FOLLOW_UPS:  # whoever got the first, preferences as now, unless they left
        return sub is not None and sub.status == SubscriptionStatus.ACTIVE
    return sub is not None and sub.wants(
        product=release.product,
        kind=release.kind,
        severity=release.severity,
        channel=release.channel,
        applies_to=release.applies_to,
    )


def ended(account: Account | None, release: Release, now: datetime) -> str | None:
    """Why the account's contract no longer entitles it to the release's notice (None: it does)."""
    if account is None:
        return "no contract"
    decision = decide(account.contract(), product=release.product, kind=release.kind, channel=release.channel, now=now)
    return None if decision else f"no longer entitled: {decision.reason.value}"


def partition(
    recipients: list[Recipient],
    already: set[str],
    subs: dict[str, Subscription],
    suppressed: set[str],
    release: Release,
    notice: str = Notice.RELEASE,
    contracts: tuple[Mapping[str, Account], datetime] | None = None,
) -> tuple[list[Recipient], list[DeliveryOutcome]]:
    """Who to send to now, and the outcomes already known (opted out or suppressed since fan-out; for a
    recall, only unsubscribed or suppressed since the notice; with ``contracts`` (the accounts, now), a
    subscriber whose entitlement ended since fan-out)."""
    todo: list[Recipient] = []
    skipped: list[DeliveryOutcome] = []
    for r in recipients:
        sub = subs.get(f"{r.account_id}#{r.subscription_id}")
        if r.key in already:
            continue
        if r.email.lower() in suppressed or (sub is not None and sub.status == SubscriptionStatus.SUPPRESSED):
            skipped.append(DeliveryOutcome(r, DeliveryStatus.SUPPRESSED, detail="address suppressed"))
        elif r.role == Role.SUBSCRIBER and not _still_wanted(sub, release, notice):
            skipped.append(DeliveryOutcome(r, DeliveryStatus.SKIPPED, detail="no longer subscribed"))
        elif contracts is not None and (why := ended(contracts[0].get(r.account_id), release, contracts[1])):
            skipped.append(DeliveryOutcome(r, DeliveryStatus.SKIPPED, detail=why))
        else:
            todo.append(r)
    return todo, skipped
