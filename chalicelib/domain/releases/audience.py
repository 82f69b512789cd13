"""Audience preview: who a release would notify if it were published now, per tier, who is left out and why,
and how long sending it all would take at the account's SES rate.

It reads the audience index page by page as fan-out does and plans each page with fan-out's own
``plan_accounts`` (preferences, entitlement, one notice per address, on-call and CSM copies), so what the
preview shows is what fan-out would send; it only adds why the entries fan-out drops are dropped (asking
``eligible`` and ``decide``, never repeating their rules) and which planned addresses delivery would skip as
suppressed. Nothing is written.

Cost: one Query of ``PREVIEW_PAGE`` index entries per page, one BatchGetItem of the page's contracts, and
the page's suppression lookups (100 addresses per BatchGetItem) in parallel; see docs/releases.md for the
arithmetic at 100,000 subscribers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.core.entitlements import TIERS, Reason, decide
from chalicelib.domain.core.models import Account, Recipient, Release
from chalicelib.domain.core.records import AudienceEntry
from chalicelib.domain.core.states import Role
from chalicelib.domain.fanout import pages as fanout
from chalicelib.domain.fanout import plan as fanout_plan

if TYPE_CHECKING:
    from chalicelib.domain.mail.pacing import SendQuota
    from chalicelib.domain.releases.ports import AudienceStore

# Larger than fan-out's pages (fewer round trips; an index entry is ~200 bytes, a Query page holds 1 MB).
# Page boundaries do not change the plan: the carry takes an account across them as in fan-out.
PREVIEW_PAGE = 1000
SUPPRESSION_LOOKUP = 100  # addresses per BatchGetItem
LOOKUP_THREADS = 8
TIME_BUDGET_SECONDS = 20.0  # inside API Gateway's 29 s: a larger audience answers with complete: false
EXCLUDED = ("preferences", "not_entitled", "period_ended", "period_not_started", "no_contract", "same_address",
            "suppressed", "version_lines")  # fmt: skip
_PERIOD = {Reason.PERIOD_ENDED: "period_ended", Reason.PERIOD_NOT_STARTED: "period_not_started"}


def _tier() -> dict[str, Any]:
    return {"subscribers": 0, "oncall_copies": 0, "csm_copies": 0, "emails": 0, "excluded": dict.fromkeys(EXCLUDED, 0)}


def why_left_out(entry: AudienceEntry, release: Release, account: Account | None, now: datetime) -> str:
    """Why fan-out drops an audience entry (``eligible`` said no): the contract's reason, else preferences."""
    if account is None:
        return "no_contract"
    decision = decide(account.contract(), product=release.product, kind=release.kind, channel=release.channel, now=now)
    if decision:
        # runs none of the lines the release is for, though it wants this kind, severity and channel
        return "version_lines" if fanout_plan.prefers(entry, release) else "preferences"
    return _PERIOD.get(decision.reason, "not_entitled")


class _Tally:
    def __init__(self) -> None:
        self.tiers: dict[str, dict[str, Any]] = {t: _tier() for t in TIERS}
        self.offered: tuple[str, ...] | None = ()  # the product's catalog features (fan-out's on-call rule)

    def of(self, tier: str) -> dict[str, Any]:
        return self.tiers.setdefault(tier or "unknown", _tier())

    def left_out(self, tier: str, why: str, n: int = 1) -> None:
        self.of(tier)["excluded"][why] += n

    def planned(self, r: Recipient, suppressed: bool) -> None:
        if suppressed:
            self.left_out(r.tier, "suppressed")
            return
        counts = self.of(r.tier)
        counts["emails"] += 1
        counts[{Role.ONCALL: "oncall_copies", Role.CSM: "csm_copies"}.get(r.role, "subscribers")] += 1


def _suppressed(table: AudienceStore, pool: ThreadPoolExecutor, addresses: list[str]) -> set[str]:
    chunks = [addresses[i : i + SUPPRESSION_LOOKUP] for i in range(0, len(addresses), SUPPRESSION_LOOKUP)]
    found: set[str] = set()
    for got in pool.map(table.suppressed, chunks):
        found |= got
    return found


def _page(
    table: AudienceStore,
    pool: ThreadPoolExecutor,
    release: Release,
    tally: _Tally,
    now: datetime,
    entries: list[AudienceEntry],
    *,
    page: int,
    carry: dict[str, Any],
    more: bool,
) -> dict[str, Any]:
    accounts = table.get_accounts(e.account_id for e in entries) if entries else {}
    planned, carry_on = fanout_plan.plan_accounts(
        release, entries, accounts, now, page=page, carry=carry, more=more, offered=tally.offered
    )
    recipients = [r for b in planned for r in b.recipients]
    suppressed = _suppressed(table, pool, [r.email for r in recipients])
    for r in recipients:
        tally.planned(r, r.email.lower() in suppressed)
    planned_keys = {(r.account_id, r.subscription_id) for r in recipients if r.role == Role.SUBSCRIBER}
    for e in entries:
        if (e.account_id, e.subscription_id) in planned_keys:
            continue
        # Left out by fan-out (only these are asked again): not eligible, or eligible but an address its
        # account has already (one notice per address and account).
        account = accounts.get(e.account_id)
        tier = account.tier if account else "unknown"
        if fanout_plan.eligible(e, release, account, now) is None:
            tally.left_out(tier, why_left_out(e, release, account, now))
        else:
            tally.left_out(tier, "same_address")
    return carry_on


def preview(
    table: AudienceStore,
    release: Release,
    quota: SendQuota,
    now: datetime,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    tally = _Tally()
    tally.offered = fanout.catalog_features(table, release)
    started = clock()
    cursor: str | None = None
    carry: dict[str, Any] = {}
    pages, complete = 0, True
    with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
        while True:
            entries, cursor = table.audience_page(
                release.product, limit=PREVIEW_PAGE, cursor=cursor, planning_only=True
            )
            carry = _page(table, pool, release, tally, now, entries, page=pages, carry=carry, more=bool(cursor))
            pages += 1
            if not cursor:
                break
            if clock() - started > TIME_BUDGET_SECONDS:
                complete = False
                break
    return _answer(release, tally, quota, pages=pages, complete=complete, now=now)


def _answer(
    release: Release, tally: _Tally, quota: SendQuota, *, pages: int, complete: bool, now: datetime
) -> dict[str, Any]:
    rate = quota.max_send_rate
    sent_before = 0
    tiers = dict(sorted(tally.tiers.items(), key=lambda kv: TIERS[kv[0]].rank if kv[0] in TIERS else 99))
    for counts in tiers.values():
        # Delivery goes Elite first: a tier is done once the tiers before it and its own emails are sent.
        sent_before += counts["emails"]
        counts["done_after_s"] = round(sent_before / rate, 1) if rate > 0 else None
    totals = {
        "emails": sum(c["emails"] for c in tiers.values()),
        **{k: sum(c[k] for c in tiers.values()) for k in ("subscribers", "oncall_copies", "csm_copies")},
        "excluded": {why: sum(c["excluded"][why] for c in tiers.values()) for why in EXCLUDED},
    }
    return {
        "id": release.release_id,
        "status": release.status,
        "product": release.product,
        "as_of": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "tiers": tiers,
        "totals": totals,
        "send_rate_per_s": rate,
        "rate_source": "the account's SES MaxSendRate (GetAccount, cached up to 5 minutes; the last known or "
        "configured rate when SES cannot answer)",
        "estimated_send_s": round(totals["emails"] / rate, 1) if rate > 0 else None,
        "pages": pages,
        "complete": complete,
    }
