"""What of the scheduled mail is due when: each contract's next review and next support warning in the due
index (``Table.set_due``), and the messages that carry a batch of due accounts to the sending function.

A contract's upsert puts both: its review due now unless one is due already (the sender works out which
period has ended in the account's zone, and a review already sent is found done), its warning at the next
threshold's 07:00 in the account's zone. Sending moves each to the next one (``periods.review_due``,
``periods.warning_due``); a contract with nothing left due leaves the index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.accounts.periods import warning_due
from chalicelib.domain.accounts.review import entitled
from chalicelib.domain.core.messages import MalformedMessage
from chalicelib.domain.core.models import Account

if TYPE_CHECKING:
    from chalicelib.domain.accounts.ports import DueStore

REVIEW = "review"
WARNING = "warning"
KINDS = (REVIEW, WARNING)
BATCH_ACCOUNTS = 10  # accounts per message: a review takes a few Queries per release, so a batch stays short


def schedule(table: DueStore, account: Account, now: datetime) -> None:
    """Put the contract's next review and warning in the due index (or take them out when none will be)."""
    if entitled(account) and account.csm_email:
        table.set_due(REVIEW, account.account_id, now, keep=True)
    else:
        table.clear_due(REVIEW, account.account_id)
    reschedule_warning(table, account, now)


def reschedule_warning(table: DueStore, account: Account, now: datetime, *, below: int | None = None) -> None:
    """The account's next warning (of a threshold under ``below``) into the due index, or out of it if none is left."""
    following = warning_due(account.support_end, account.timezone, now, below=below)
    if following is None:
        table.clear_due(WARNING, account.account_id)
    else:
        table.set_due(WARNING, account.account_id, following)


@dataclass(frozen=True)
class ScheduledBatch:
    """Due accounts of one kind to send to (``plan``: none, plan the next page of the due index instead)."""

    kind: str
    accounts: tuple[str, ...] = ()
    plan: bool = False

    def retry(self, accounts: list[str]) -> ScheduledBatch:
        return ScheduledBatch(self.kind, tuple(accounts))

    def to_json(self) -> dict[str, Any]:
        return {"schedule": self.kind, "accounts": list(self.accounts), **({"plan": True} if self.plan else {})}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScheduledBatch:
        kind, accounts, plan = data.get("schedule"), data.get("accounts", []), data.get("plan", False)
        if kind not in KINDS:
            raise MalformedMessage(f"scheduled batch: 'schedule' must be one of {', '.join(KINDS)}")
        if not isinstance(accounts, list) or not all(isinstance(a, str) and a for a in accounts):
            raise MalformedMessage("scheduled batch: 'accounts' must be a list of account ids")
        if not isinstance(plan, bool) or len(accounts) > BATCH_ACCOUNTS or (plan and accounts):
            raise MalformedMessage(f"scheduled batch: a plan or at most {BATCH_ACCOUNTS} accounts")
        return cls(kind, tuple(accounts), plan)
