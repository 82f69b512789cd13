"""Warnings before a support period ends: 30 and 7 days before an account's ``support_end``, and on the day,
its subscribed (active) contacts and its CSM get one notice each saying when notices and downloads stop
and what they would lose (the releases of their products published in the period so far).

The daily schedule finds the contracts due with a Query of the support-end index (``Table.contracts_ending``,
no Scan) and sends each warning once: the claim is keyed by account, ``support_end`` and threshold, so runs
that repeat or overlap, retries and re-imports of the same contract send nothing twice, and renewing (a new
``support_end``) leaves the old end's warnings unsent.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.domain.accounts.periods import due_threshold, ends_to_look_at
from chalicelib.domain.core import entitlements
from chalicelib.domain.core.models import Account, Release
from chalicelib.domain.mail import mime
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.accounts.ports import WarningStore
    from chalicelib.domain.core.ports import Mailer

CLAIM_LEASE_SECONDS = 300
TIME_LEFT_MS = 20_000  # a run stops taking accounts with less time than this; the next day's run goes on


def recipients(table: WarningStore, account: Account) -> list[str]:
    """The account's subscribed contacts (one per address) and its CSM, less suppressed addresses."""
    found = [s.email for s in table.list_subscriptions(account.account_id) if s.status == "active"]
    found += [account.csm_email] if account.csm_email else []
    unique = list({a.lower(): a for a in found}.values())
    suppressed = table.suppressed(unique) if unique else set()
    return [a for a in unique if a.lower() not in suppressed]


def lost_releases(account: Account, releases: list[Release]) -> list[Release]:
    """The releases of the account's products published in its support period so far."""
    start = account.support_start.isoformat()
    return [r for r in releases if r.product in account.products and (r.published_at or "") >= start]


def warning_email(*, sender: str, to: str, account: Account, days: int, lost: int) -> bytes:
    tier = entitlements.policy(account.tier)
    label = tier.label if tier else account.tier
    end = account.support_end.isoformat()
    when = "today" if days == 0 else f"in {days} days"
    subject = f"[Support ending] {label} support of account {account.account_id} ends {when} ({end})"
    msg = mime.headers(sender, to, subject, None)  # about the contract, not an alert subscription: no unsubscribe
    stop = (account.support_end + timedelta(days=1)).isoformat()
    lines = [
        f"The {label} support period of account {account.account_id} ({mime.header_safe(account.name)}) ends on "
        f"{end}, {when}.",
        f"From {stop}, release notices stop and download links answer 403 until the contract is renewed.",
        f"In this support period {lost} release(s) of your products ({', '.join(account.products)}) were "
        "published; you would get neither the notice nor the download of the next ones.",
        "To keep them, renew the support contract with your vendor or your Customer Success Manager.",
    ]
    page = [f"<h1>{html.escape(subject)}</h1>", *(f"<p>{html.escape(line)}</p>" for line in lines)]
    return mime.finish(msg, "\n\n".join(lines) + "\n", mime.html_page(page))


def send_one(table: WarningStore, mailer: Mailer, account: Account, days: int, lost: int) -> str:
    """One account's warning for a threshold (``days`` before its end), once to each recipient: ``sent``,
    ``done`` or ``busy``."""
    what = f"WARNING#{account.support_end.isoformat()}#{days}"
    left = (account.support_end - datetime.now(UTC).date()).days  # the threshold's day, or a missed one after it
    claim, sent = table.claim_once(account.account_id, what, lease_seconds=CLAIM_LEASE_SECONDS)
    if claim != "claimed":
        return claim
    try:
        for address in recipients(table, account):
            if address.lower() in sent:
                continue  # a run that died after sending it
            raw = warning_email(sender=mailer.sender, to=address, account=account, days=left, lost=lost)
            mailer.send_raw(address, raw)
            table.note_once_sent(account.account_id, what, address)
    except Exception:
        table.finish_once(account.account_id, what, give_back=True)
        raise
    table.finish_once(account.account_id, what)
    return "sent"


def _due(table: WarningStore, today: date) -> list[tuple[Account, int]]:
    due = []
    for first, last in ends_to_look_at(today):
        for indexed in table.contracts_ending(first, last):
            # The index is eventually consistent: a contract renewed a moment ago may still show its old end.
            account = table.get_account(indexed.account_id, consistent=True)
            days = due_threshold(account.support_end, today) if account else None
            if account is not None and account.support_end == indexed.support_end and days is not None:
                due.append((account, days))
    return due


def run(
    table: WarningStore, mailer: Mailer, *, now: datetime | None = None, remaining_ms: Callable[[], int] | None = None
) -> dict[str, Any]:
    """The daily schedule: every warning due today (or missed on the last days), each sent once."""
    now = now or datetime.now(UTC)
    due = _due(table, now.date())
    products = sorted({p for account, _ in due for p in account.products})
    # One read of the year's releases for every account due (an account's period is at most a year or so).
    releases = table.published_between(now - timedelta(days=400), now, products) if products else []
    outcomes: dict[str, int] = {}
    for account, days in due:
        if remaining_ms is not None and remaining_ms() < TIME_LEFT_MS:
            outcomes["deferred"] = outcomes.get("deferred", 0) + 1
            break
        try:
            outcome = send_one(table, mailer, account, days, len(lost_releases(account, releases)))
        except Exception:  # one account's failure must not stop the others' warnings
            logger.exception("support warning not sent", extra={"account_id": account.account_id})
            outcome = "failed"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    logger.info("support warnings run", extra=outcomes)
    return outcomes
