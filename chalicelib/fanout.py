"""Fan-out: one page of a product's audience per invocation, filtered by preference and entitlement,
cut into delivery batches of at most 50 recipients; the next page goes back on the queue.

Batch ids derive from the page number and position, so a retried page produces the same batches and
delivery's claim/skip step keeps them from sending twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.entitlements import decide
from chalicelib.models import Account, Recipient, Release
from chalicelib.observability import logger
from chalicelib.queues import Queues
from chalicelib.store import Table

BATCH_SIZE = 50
PAGE_SIZE = 500


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


def batches(recipients: list[Recipient], page: int) -> list[dict[str, Any]]:
    return [
        {
            "batch_id": f"{page}-{i // BATCH_SIZE}",
            "recipients": [r.to_message() for r in recipients[i : i + BATCH_SIZE]],
        }
        for i in range(0, len(recipients), BATCH_SIZE)
    ]


def run(table: Table, queues: Queues, names: FanoutQueues, message: dict[str, Any]) -> int:
    release_id = str(message["release_id"])
    page = int(message.get("page", 0))
    release = table.get_release(release_id)
    if release is None or release.status != "published":
        logger.info("fan-out skipped: release not published", extra={"release_id": release_id})
        return 0
    entries, cursor = table.audience_page(release.product, limit=PAGE_SIZE, cursor=message.get("cursor"))
    accounts = table.get_accounts(e["account_id"] for e in entries) if entries else {}
    recipients = plan_page(release, entries, accounts, datetime.now(UTC))
    planned = [{"release_id": release_id, **b} for b in batches(recipients, page)]
    if planned:
        queues.send_many(names.for_release(release), planned)
    if cursor:
        queues.send(names.fanout, {"release_id": release_id, "page": page + 1, "cursor": cursor})
    logger.info(
        "fan-out page",
        extra={"release_id": release_id, "page": page, "entries": len(entries), "recipients": len(recipients)},
    )
    return len(recipients)
