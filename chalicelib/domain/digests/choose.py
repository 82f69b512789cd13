"""What a digest lists, decided when it is sent: each queued release still published, not carried by an earlier
window's digest, and still wanted and entitled, by delivery's re-check (``delivery.recheck.partition``) with the
subscription and the account's contract as read then: tier, contract, support period, product and channel, as
fan-out asked them when it queued the notice, which may have been a week before."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.domain.core.models import Account, Recipient, Release, Subscription
from chalicelib.domain.delivery import recheck


def recipient(item: Mapping[str, Any]) -> Recipient:
    return Recipient(item["account_id"], item["subscription_id"], item["email"], item["tier"])


def listed(
    group: list[dict[str, Any]],
    subs: dict[str, Subscription],
    already: set[str],
    *,
    releases: Mapping[str, Release],
    contracts: tuple[Mapping[str, Account], datetime],
) -> tuple[list[Release], list[str]]:
    """(the releases the digest lists, those left out because the subscription no longer wants them or its
    account is no longer entitled to them); a yanked release is in neither (it reads as left out)."""
    shown, skipped = [], []
    who = recipient(group[0])
    for item in group:
        release = releases.get(item["release_id"])
        if release is None or release.status != "published":
            continue  # yanked (or gone) before the digest: left out
        if f"{item['account_id']}#{item['subscription_id']}#{release.release_id}" in already:
            continue  # a late item also queued in its natural window, whose digest (sent before) saw it
        todo, _ = recheck.partition([who], set(), subs, set(), release, contracts=contracts)
        if todo:
            shown.append(release)
        else:
            skipped.append(release.release_id)
    return shown, skipped
