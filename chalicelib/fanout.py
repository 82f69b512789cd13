"""Fan-out: one page of a product's audience per invocation, filtered by preference and entitlement,
cut into delivery batches of at most 49 recipients; the next page goes back on the queue.

Batch ids derive from the page number, position and members, so a retried page produces the same batches
and delivery's claim/skip step keeps them from sending twice. Tier extras ride along: the on-call copy of
a severity-1 notice joins the batch of the account's first recipient, and an Elite account's CSM copy
is a batch of its own that waits for the batches holding the account's recipients (see docs/delivery.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.entitlements import TIERS, decide, oncall_copy_due
from chalicelib.models import Account, Recipient, Release
from chalicelib.observability import logger

if TYPE_CHECKING:  # adapters (and boto3 under them) load when wiring makes them, not at import
    from chalicelib.queues import Queues
    from chalicelib.store import Table


# 49, not 50: delivery re-checks a batch in ONE BatchGetItem (100 keys): the release, and per recipient
# its subscription and its delivery record, 1 + 2 * 49 = 99.
BATCH_SIZE = 49
# Ten batches per page: one SendMessageBatch call per page, and a first page small enough that
# delivery starts within one round trip of publishing.
PAGE_SIZE = 10 * BATCH_SIZE


@dataclass(frozen=True)
class FanoutQueues:
    fanout: str
    deliver: str
    critical: str

    def for_release(self, release: Release) -> str:
        return self.critical if release.severity == 1 else self.deliver


def eligible(entry: dict[str, Any], release: Release, account: Account | None, now: datetime) -> Recipient | None:
    """The audience entry as a recipient, if its preferences and its account's contract both say yes."""
    if account is None:
        return None
    wants = (
        release.kind in entry["kinds"]
        and release.severity <= int(entry["max_severity"])
        and release.channel in entry["channels"]
    )
    if not wants or not decide(
        account.contract(), product=release.product, kind=release.kind, channel=release.channel, now=now
    ):
        return None
    return Recipient(entry["account_id"], entry["subscription_id"], entry["email"], account.tier)


def plan_page(
    release: Release, entries: list[dict[str, Any]], accounts: dict[str, Account], now: datetime
) -> list[Recipient]:
    recipients = [r for e in entries if (r := eligible(e, release, accounts.get(e["account_id"]), now)) is not None]
    # The page is in tier order already (the index sorts by rank); keep it stable after the filter.
    return recipients


def oncall_due(account: Account, release: Release, now: datetime) -> bool:
    if not account.oncall_email:
        return False
    try:
        local = now.astimezone(ZoneInfo(account.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        local = now  # validated on import; a zone missing from this runtime falls back to UTC
    return oncall_copy_due(
        account.tier, severity=release.severity, local_now=local, business_hours=account.business_hours
    )


def with_oncall(
    release: Release, recipients: list[Recipient], accounts: dict[str, Account], now: datetime, continued: str | None
) -> list[Recipient]:
    """Put the on-call copy before each account's first recipient, once per account per release.

    The audience index sorts by account within a tier, so an account's recipients are contiguous; an
    account ``continued`` from the previous page had its copy planned there already.
    """
    out: list[Recipient] = []
    previous = continued
    for r in recipients:
        account = accounts[r.account_id]
        if r.account_id != previous and oncall_due(account, release, now):
            out.append(Recipient(r.account_id, "oncall", account.oncall_email or "", r.tier, "oncall"))
        previous = r.account_id
        out.append(r)
    return out


def batch_id(page: int, position: int, recipients: list[Recipient]) -> str:
    """Page, position and a digest of who is in it: a retried page that plans the same batch gets the same
    id (the claim drops the copy), one whose audience changed in between gets a new id (nobody is lost;
    the per-recipient records keep the overlap from being sent twice)."""
    digest = hashlib.blake2b("|".join(r.key for r in recipients).encode(), digest_size=4).hexdigest()
    return f"{page}-{position}-{digest}"


def batches(recipients: list[Recipient], page: int) -> list[dict[str, Any]]:
    chunks = [recipients[i : i + BATCH_SIZE] for i in range(0, len(recipients), BATCH_SIZE)]
    return [
        {"batch_id": batch_id(page, n, chunk), "recipients": [r.to_message() for r in chunk]}
        for n, chunk in enumerate(chunks)
    ]


def _account_batches(planned: list[dict[str, Any]], carry: dict[str, Any]) -> dict[str, list[str]]:
    """Each account of the page, in order, with the ids of the batches holding its recipients."""
    found: dict[str, list[str]] = {}
    if carry.get("account"):
        found[carry["account"]] = list(carry.get("batches", []))
    for b in planned:
        for row in b["recipients"]:
            ids = found.setdefault(row[0], [])
            if b["batch_id"] not in ids:
                ids.append(b["batch_id"])
    return found


def csm_copies(
    release: Release, planned: list[dict[str, Any]], accounts: dict[str, Account], carry: dict[str, Any], more: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """CSM-copy batches of the accounts whose recipients end on this page, and the carry to the next page.

    The last account of a page may go on in the next one: it is carried (with its batch ids) instead.
    """
    by_account = _account_batches(planned, carry)
    last = next(reversed(by_account), None) if more else None
    copies: list[dict[str, Any]] = []
    for account_id, ids in by_account.items():
        account = accounts.get(account_id)
        csm, tier = (account.csm_email, account.tier) if account else (carry.get("csm"), carry.get("tier", ""))
        if account_id == last or not csm or not (TIERS.get(tier) and TIERS[tier].csm_copy):
            continue
        copies.append(
            {"batch_id": f"csm-{account_id}", "after": ids, "recipients": [[account_id, "csm", csm, tier, "csm"]]}
        )
    if last is None:
        return copies, {}
    account = accounts.get(last)
    return copies, {
        "account": last,
        "batches": by_account[last],
        "csm": account.csm_email if account else carry.get("csm"),
        "tier": account.tier if account else carry.get("tier", ""),
    }


def run(table: Table, queues: Queues, names: FanoutQueues, message: dict[str, Any]) -> int:
    release_id = str(message["release_id"])
    page = int(message.get("page", 0))
    release = table.get_release(release_id)
    if release is None or release.status != "published":
        logger.info("fan-out skipped: release not published", extra={"release_id": release_id})
        return 0
    entries, cursor = table.audience_page(release.product, limit=PAGE_SIZE, cursor=message.get("cursor"))
    accounts = table.get_accounts(e["account_id"] for e in entries) if entries else {}
    now = datetime.now(UTC)
    carry: dict[str, Any] = message.get("carry") or {}
    recipients = with_oncall(release, plan_page(release, entries, accounts, now), accounts, now, carry.get("account"))
    planned = batches(recipients, page)
    copies, carry_on = csm_copies(release, planned, accounts, carry, more=bool(cursor))
    if cursor:  # the next page first: its Query overlaps this page's enqueueing
        queues.send(names.fanout, {"release_id": release_id, "page": page + 1, "cursor": cursor, "carry": carry_on})
    outgoing = [{"release_id": release_id, "notice": "release", **b} for b in planned + copies]
    if outgoing:
        queues.send_many(names.for_release(release), outgoing)
    logger.info(
        "fan-out page",
        extra={"release_id": release_id, "page": page, "entries": len(entries), "recipients": len(recipients)},
    )
    return len(recipients)
