"""Role copies of a release notice (no AWS here): the on-call contact's copy of a severity-1 notice
outside business hours, the Elite CSM's copy listing which of the account's contacts were notified, and
each one's recall when the release is yanked."""

from __future__ import annotations

import html
from collections.abc import Sequence

from chalicelib.domain.core.models import Release
from chalicelib.domain.core.states import Role
from chalicelib.domain.mail import mime
from chalicelib.domain.mail import notices as mail


def _facts(release: Release) -> list[tuple[str, str]]:
    rows = [
        ("Product", release.product),
        ("Kind", release.kind),
        ("Version", release.version),
        ("Severity", str(release.severity)),
        ("Channel", release.channel),
    ]
    if release.article_url:
        rows.append(("Article", release.article_url))
    return rows


def _render(
    sender: str, to: str, release: Release, prefix: str, intro: str, extra: Sequence[str], parent: str | None = None
) -> bytes:
    # Role copies go to contract contacts, not subscribers: no unsubscribe link (the contract names them).
    msg = mime.headers(sender, to, mail.subject_for(release, prefix), None)
    mime.thread_under(msg, parent)
    rows = _facts(release)
    text = [intro, "", mime.header_safe(release.title, limit=500), "", release.summary, ""]
    text += [f"{k}: {v}" for k, v in rows] + [""] + list(extra)
    e = html.escape
    page = [f"<p>{e(intro)}</p>", f"<h1>{e(release.title)}</h1>", f"<p>{e(release.summary)}</p>"]
    page += [*mime.table_rows(rows), "<ul>", *(f"<li>{e(x)}</li>" for x in extra), "</ul>"]
    return mime.finish(msg, "\n".join(text) + "\n", mime.html_page(page))


def oncall_copy(*, sender: str, to: str, release: Release, account_id: str) -> bytes:
    intro = (
        f"You are the on-call contact of account {account_id}. This severity-1 notice was published outside "
        "your business hours; your subscribed colleagues received it with their download links."
    )
    return _render(sender, to, release, "[On-call] ", intro, [])


def csm_copy(*, sender: str, to: str, release: Release, account_id: str, notified: Sequence[str]) -> bytes:
    intro = f"CSM copy for account {account_id}: {len(notified)} contact(s) of the account were notified."
    return _render(sender, to, release, "[CSM] ", intro, [f"Notified: {n}" for n in notified] or ["Notified: none"])


_RECALLED: dict[str, tuple[str, str]] = {
    Role.ONCALL: ("[RECALL] [On-call] ", "You are the on-call contact of account {account}. The severity-{severity} "
               "notice you were sent about this release has been withdrawn: do not install it."),
    Role.CSM: ("[RECALL] [CSM] ", "CSM copy for account {account}: this release has been withdrawn; the account's "
            "contacts who received its notice are sent a recall."),
}  # fmt: skip


def recall_copy(
    *, sender: str, to: str, release: Release, account_id: str, role: str, in_reply_to: str | None = None
) -> bytes:
    """The recall of a role copy (``role``: oncall or csm), threaded under the copy it recalls."""
    prefix, intro = _RECALLED[role]
    extra = [f"Reason: {release.reason or 'no reason given'}", mail.superseded(release)]
    text = intro.format(account=account_id, severity=release.severity)
    return _render(sender, to, release, prefix, text, extra, parent=in_reply_to)
