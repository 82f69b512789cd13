"""The CSM's review of an Elite account (seed E2): for a period, every release of the account's products,
who at the account was notified and when, who downloaded and when, what nobody has downloaded yet
(severity 1 and 2 first), recalls and whether the recalled build was downloaded, suppressed or bouncing
contacts, and the days left in the support period.

Built from the account's own records (``Table.published_between`` and ``account_part``: no Scan), in time
proportional to the releases of its products in the period. A release's counts are the release report's
(``chalicelib.domain.reports.release_report``) restricted to this account: the same delivery outcomes and the same clicks.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.access.auth import SUPPORT_ADMINS
from chalicelib.domain.accounts.periods import Period, local_day
from chalicelib.domain.accounts.review_csv import COUNTED
from chalicelib.domain.accounts.review_csv import CSV_COLUMNS as CSV_COLUMNS  # the review's columns, named here too
from chalicelib.domain.core import entitlements
from chalicelib.domain.core.errors import Conflict, Forbidden, NotFound
from chalicelib.domain.core.models import Account, Release, Subscription
from chalicelib.domain.reports.release_report import delivery_counts

if TYPE_CHECKING:
    from chalicelib.domain.access.auth import Identity
    from chalicelib.domain.accounts.ports import ReviewStore
    from chalicelib.domain.core.ports import Mailer

CLAIM_LEASE_SECONDS = 300  # a batch sending a review holds it this long; one that died gives it up then


def entitled(account: Account) -> bool:
    """Does the account's tier include the CSM's review (the matrix's ``csm_review_report``)?"""
    tier = entitlements.policy(account.tier)
    return bool(tier and tier.csm_review_report)


def reviewable(table: ReviewStore, who: Identity, account_id: str) -> Account:
    """The account a support admin asks the review of: customers 403, unknown 404, no review in its tier 409."""
    if SUPPORT_ADMINS not in who.groups:
        raise Forbidden("Only support admins read an account's review.")
    account = table.get_account(account_id)
    if account is None:
        raise NotFound(f"Account {account_id} does not exist.")
    if not entitled(account):
        raise Conflict(f"Account {account_id}'s tier has no CSM review (Xtreme Elite only).", code="not_entitled")
    return account


def _people(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        ({"email": r.get("email"), "role": r.get("role"), "status": r.get("status"), "at": r.get("at")}
         for r in records),
        key=lambda p: (str(p["at"] or ""), str(p["email"] or "")),
    )  # fmt: skip


def _release_part(release: Release, part: dict[str, list[dict[str, Any]]], emails: dict[str, str]) -> dict[str, Any]:
    counts = delivery_counts(part["release"])
    downloads: list[dict[str, Any]] = sorted(
        ({"email": m.get("email") or emails.get(str(m["SK"]).rsplit("#", 1)[-1]), "first_at": m.get("at"),
          "clicks": int(m.get("clicks", 1))} for m in part["downloads"]),
        key=lambda d: (str(d["first_at"] or ""), str(d["email"] or "")),
    )  # fmt: skip
    counts["downloaded"] = sum(int(d["clicks"]) for d in downloads)
    counts["downloaders"] = len(downloads)
    recalled = [r for r in part["recall"] if r.get("status") == "sent"]
    counts["recalled"] = len(recalled)
    return {
        "id": release.release_id, "product": release.product, "version": release.version, "kind": release.kind,
        "severity": release.severity, "channel": release.channel, "title": release.title,
        "published_at": release.published_at, "status": release.status, "yanked_at": release.yanked_at,
        "superseded_by": release.superseded_by, "counts": counts, "notified": _people(part["release"]),
        "downloads": downloads,
        "recall": None if release.status != "yanked" else {
            "recalled": _people(part["recall"]), "build_downloaded": bool(downloads)},
    }  # fmt: skip


def _contacts(table: ReviewStore, account: Account, subs: list[Subscription]) -> dict[str, Any]:
    roles = [("csm", account.csm_email), ("oncall", account.oncall_email)]
    addresses = [s.email for s in subs if s.status == "active"] + [a for _, a in roles if a]
    suppressed_roles = table.suppressed([a for _, a in roles if a])
    bounces = table.transient_bounces(addresses)
    return {
        "suppressed": [{"email": s.email, "role": "subscriber", "status": s.status} for s in subs
                       if s.status == "suppressed"]
        + [{"email": a, "role": r, "status": "suppressed"} for r, a in roles if a and a.lower() in suppressed_roles],
        "bouncing": [{"email": a, "transient_bounces": bounces[a.lower()]} for a in dict.fromkeys(addresses)
                     if bounces.get(a.lower())],
        "subscribed": sum(1 for s in subs if s.status == "active"),
    }  # fmt: skip


def build(
    table: ReviewStore, account: Account, period: Period, *, now: datetime, published: list[Release] | None = None
) -> dict[str, Any]:
    """The review of ``account`` for ``period``, as ``GET /accounts/{id}/review`` answers it (``published``:
    the period's releases of every product, when a run read them once for all its accounts)."""
    if published is None:
        published = table.published_between(period.start, period.end, account.products)
    releases = [r for r in published if r.product in account.products]
    subs = table.list_subscriptions(account.account_id)
    emails = {s.subscription_id: s.email for s in subs}
    parts = [_release_part(r, table.account_part(r.release_id, account.account_id), emails) for r in releases]
    totals = {c: sum(p["counts"][c] for p in parts) for c in COUNTED}
    return {
        "account_id": account.account_id,
        "name": account.name,
        "tier": account.tier,
        "csm_email": account.csm_email,
        "timezone": account.timezone,
        "period": period.public(),
        "as_of": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "support_end": account.support_end.isoformat(),
        "days_left": entitlements.days_left(account.support_end, local_day(now, account.timezone)),
        "releases": parts,
        "not_downloaded": _not_downloaded(releases, parts),
        "recalls": [{"id": p["id"], "version": p["version"], **p["recall"]} for p in parts if p["recall"]],
        "contacts": _contacts(table, account, subs),
        "totals": {"releases": len(parts), **totals},
    }


def _not_downloaded(releases: list[Release], parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What nobody at the account downloaded: releases with a file (an article has none), not withdrawn, the most
    severe first."""
    waiting = sorted((p for r, p in zip(releases, parts, strict=True)
                      if not r.article_url and not p["downloads"] and p["status"] != "yanked"),
                     key=lambda p: (p["severity"], p["published_at"] or ""))  # fmt: skip
    return [
        {
            "id": p["id"],
            "product": p["product"],
            "version": p["version"],
            "severity": p["severity"],
            "title": p["title"],
        }
        for p in waiting
    ]


def send_one(
    table: ReviewStore, mailer: Mailer, account: Account, period: Period, now: datetime, published: list[Release]
) -> str:
    """The review of one account and period to its CSM, once: ``sent``, or why not (``done``, ``busy``,
    ``no_csm``, ``suppressed``). A failed send gives the claim back (it is tried again) and raises."""
    from chalicelib.domain.accounts.review_mail import review_email

    if not account.csm_email:
        return "no_csm"
    if table.suppressed([account.csm_email]):  # a bounce or complaint: SES would count another against us
        return "suppressed"
    claim, sent = table.claim_once(account.account_id, f"REVIEW#{period.key}", lease_seconds=CLAIM_LEASE_SECONDS)
    if claim != "claimed":
        return claim
    if account.csm_email.lower() in sent:  # sent by a run that died before it could say so
        table.finish_once(account.account_id, f"REVIEW#{period.key}")
        return "done"
    try:
        raw = review_email(
            sender=mailer.sender,
            to=account.csm_email,
            review=build(table, account, period, now=now, published=published),
        )
        mailer.send_raw(account.csm_email, raw)
    except Exception:
        table.finish_once(account.account_id, f"REVIEW#{period.key}", give_back=True)
        raise
    table.note_once_sent(account.account_id, f"REVIEW#{period.key}", account.csm_email)
    table.finish_once(account.account_id, f"REVIEW#{period.key}")
    return "sent"
