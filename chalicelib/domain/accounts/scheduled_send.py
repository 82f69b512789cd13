"""One due account of a scheduled batch: its review or its warning, sent once, then its next one put in the
due index. Each reads the contract again consistently (a renewal or a tier change seconds old is honoured)
and counts days and periods in the account's own time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.domain.accounts import due, review
from chalicelib.domain.accounts import support_warnings as renewal
from chalicelib.domain.accounts.periods import (
    due_threshold,
    local_day,
    period_containing,
    period_just_ended,
    review_due,
    under_contract,
)

if TYPE_CHECKING:
    from chalicelib.domain.accounts.ports import Deps
    from chalicelib.domain.core.ports import Mailer

LOOKBACK = timedelta(days=400)  # the releases a warning counts: a support period is a year or so


def send_review(deps: Deps, mailer: Mailer, account_id: str, now: datetime) -> str:
    """The review of the period just ended in the account's zone, once, then the next period's due time."""
    account = deps.table.get_account(account_id, consistent=True)
    if account is None or not review.entitled(account) or not account.csm_email:
        deps.table.clear_due(due.REVIEW, account_id)  # an upsert puts it back when it is due again
        return "not_due"
    ended = period_just_ended(deps.spec, now, account.timezone)
    period = under_contract(ended, account.support_start, account.timezone)
    if period is None:  # the contract began after the period: nothing of it to review, none to send
        outcome = "not_due"
    else:
        key = ("review", ended.key)
        if key not in deps.cache:  # once per batch: the accounts of a zone share the period
            deps.cache[key] = deps.table.published_between(ended.start, ended.end)
        published = [
            r for r in deps.cache[key] if r.published_at and datetime.fromisoformat(r.published_at) >= period.start
        ]
        outcome = review.send_one(deps.table, mailer, account, period, now, published)
    if outcome != "busy":  # busy: another invocation holds the claim; the lease brings it back if that one fails
        current = period_containing(deps.spec, now, account.timezone)
        deps.table.set_due(due.REVIEW, account_id, review_due(deps.spec, current, account.timezone))
    return outcome


def send_warning(deps: Deps, mailer: Mailer, account_id: str, now: datetime) -> str:
    """The warning due today in the account's zone, once to each recipient, then the next threshold's due time."""
    account = deps.table.get_account(account_id, consistent=True)
    if account is None:
        deps.table.clear_due(due.WARNING, account_id)
        return "not_due"
    today = local_day(now, account.timezone)
    days = due_threshold(account.support_end, today)
    if days is None:  # renewed, or planned early: due at its next threshold
        due.reschedule_warning(deps.table, account, now)
        return "not_due"
    if "warning" not in deps.cache:
        deps.cache["warning"] = deps.table.published_between(now - LOOKBACK, now)
    lost = len(renewal.lost_releases(account, deps.cache["warning"]))
    outcome = renewal.send_one(deps.table, mailer, account, days, lost, today=today)
    if outcome != "busy":
        due.reschedule_warning(deps.table, account, now, below=days)
    return outcome


SENDERS: dict[str, Callable[[Deps, Mailer, str, datetime], str]] = {
    due.REVIEW: send_review,
    due.WARNING: send_warning,
}
