"""Warnings before a support period ends: 30 and 7 days before an account's ``support_end``, and on the day,
its subscribed (active) contacts and its CSM get one notice each saying when notices and downloads stop
and what they would lose (the releases of their products published in the period so far).

Days count in the account's time zone. The schedule finds the accounts due in the due index
(``chalicelib.domain.accounts.scheduled``) and sends each warning once: the claim is keyed by account,
``support_end`` and threshold, so batches that repeat or overlap, retries and re-imports of the same contract
send nothing twice, and renewing (a new ``support_end``) leaves the old end's warnings unsent.
"""

from __future__ import annotations

import html
from datetime import date, timedelta
from typing import TYPE_CHECKING

from chalicelib.domain.core import entitlements
from chalicelib.domain.core.models import Account, Release
from chalicelib.domain.mail import mime

if TYPE_CHECKING:
    from chalicelib.domain.accounts.ports import WarningStore
    from chalicelib.domain.core.ports import Mailer

CLAIM_LEASE_SECONDS = 300


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


def send_one(table: WarningStore, mailer: Mailer, account: Account, days: int, lost: int, *, today: date) -> str:
    """One account's warning for a threshold (``days`` before its end), once to each recipient: ``sent``,
    ``done`` or ``busy``. ``today`` is the date in the account's zone. A failed send gives the claim back
    (what was sent is recorded: it is not sent again) and raises."""
    what = f"WARNING#{account.support_end.isoformat()}#{days}"
    left = (account.support_end - today).days  # the threshold's day, or a missed one after it
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
