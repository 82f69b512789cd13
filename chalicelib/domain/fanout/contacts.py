"""An account's role contacts on a fan-out page: whether its on-call copy is due (tier, severity, its local business
hours, the product's catalog features) and who its CSM is, from its contract or from the carry of the page before."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.core.entitlements import oncall_copy_due
from chalicelib.domain.core.models import Account, Release


def oncall_due(account: Account, release: Release, now: datetime, offered: Sequence[str] | None = None) -> bool:
    """Is the on-call copy due, the release's product offering ``offered`` (None: not in the catalog)?"""
    if not account.oncall_email:
        return False
    try:
        local = now.astimezone(ZoneInfo(account.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        local = now  # validated on import; a zone missing from this runtime falls back to UTC
    return oncall_copy_due(
        account.tier,
        severity=release.severity,
        local_now=local,
        business_hours=account.business_hours,
        offered=offered,
    )


@dataclass
class Contacts:
    """An account's role contacts as this page knows them: from its contract, or (an account carried over
    from the previous page and not on this one) from the carry."""

    tier: str
    csm: str | None
    oncall: str | None  # the on-call address, when a copy is due

    @classmethod
    def of(
        cls,
        account_id: str,
        accounts: dict[str, Account],
        carry: Mapping[str, Any],
        release: Release,
        now: datetime,
        offered: Sequence[str] | None,
    ) -> Contacts:
        account = accounts.get(account_id)
        if account is None:
            return cls(str(carry.get("tier", "")), carry.get("csm"), carry.get("oncall"))
        oncall = account.oncall_email if oncall_due(account, release, now, offered) else None
        return cls(account.tier, account.csm_email, oncall)
