"""Announcement emails (no AWS here): the advance notice of an upcoming release with its calendar
invitation (iCalendar, RFC 5545/5546, built by the ``icalendar`` library), its update when the planned
date or text moves, and its cancellation, each with an invitation to book the planning call with the CSM.

The calendar is one all-day VEVENT on the planned date, its UID the same for every email about one
announcement, SEQUENCE one higher for each change, METHOD:REQUEST (CANCEL and STATUS:CANCELLED for the
cancellation), ORGANIZER the account's CSM (the sender when it has none). It goes as a
``text/calendar; method=…`` alternative of the message, through ``mime.finish``: lines within 998 octets
(iCalendar folds at 75), headers ASCII.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING
from urllib.parse import quote

from chalicelib.domain.core import text as safe_text
from chalicelib.domain.mail import mime

if TYPE_CHECKING:
    from chalicelib.domain.core.records import Announcement

PRODID = "-//Patchcast//Announcements//EN"
REQUEST, CANCEL = "REQUEST", "CANCEL"


@dataclass(frozen=True)
class Invite:
    """One recipient's email about an announcement: who, in which role, and what it replies to."""

    to: str
    role: str  # subscriber | csm
    account_id: str
    csm: str | None  # the account's CSM: organizer, and whom to book the planning call with
    unsubscribe: str | None = None  # subscribers only
    in_reply_to: str | None = None  # the Message-ID of the announcement this update or cancellation follows
    notified: tuple[str, ...] = ()  # for a CSM: the account's contacts sent it


def uid(a: Announcement, sender: str) -> str:
    """The event's UID: stable per announcement, in the sender's domain (RFC 5545 3.8.4.7)."""
    return f"{a.announcement_id}@{parseaddr(sender)[1].rpartition('@')[2] or 'patchcast.local'}"


def what(a: Announcement) -> str:
    return f"{a.product} {a.kind} {a.version}"


def booking_link(csm: str, a: Announcement) -> str:
    return f"mailto:{quote(csm, safe='@')}?subject={quote(f'Planning call: {what(a)} on {a.planned_for}')}"


def calendar(a: Announcement, *, sender: str, invite: Invite, now: datetime | None = None) -> str:
    """The iCalendar object of ``a`` for one attendee, lines ending in LF (``mime.finish`` writes CRLF)."""
    from icalendar import Calendar, Event, vCalAddress, vText  # imported where used: cold start

    cancelled = a.status == "cancelled"
    clean = safe_text.clean
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", CANCEL if cancelled else REQUEST)
    event = Event()
    event.add("uid", uid(a, sender))
    event.add("dtstamp", now or datetime.now(UTC))
    day = date.fromisoformat(a.planned_for)
    event.add("dtstart", day)
    event.add("dtend", day + timedelta(days=1))  # all-day: DTEND is the next day (RFC 5545 3.6.1)
    event.add("sequence", a.sequence)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT")  # a planned date, not a meeting: it blocks no time
    event.add("summary", clean(f"{what(a)}: {a.title}"))
    lines = [a.summary, *([f"Known issues: {a.known_issues}"] if a.known_issues else [])]
    if invite.csm:
        lines.append(f"Book the planning call with your CSM: {booking_link(invite.csm, a)}")
    event.add("description", clean("\n\n".join(lines), multiline=True))
    organizer = vCalAddress(f"mailto:{invite.csm or parseaddr(sender)[1]}")
    # a person, not a role: the CSM by the contract's address (the only name a contract keeps for them)
    organizer.params["cn"] = vText(invite.csm or parseaddr(sender)[0] or "Patchcast")
    event.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{invite.to}")
    attendee.params.update({"role": "OPT-PARTICIPANT", "partstat": "NEEDS-ACTION", "rsvp": "FALSE"})
    event.add("attendee", attendee)
    cal.add_component(event)
    return cal.to_ical().decode("utf-8").replace("\r\n", "\n")


_PREFIX = {"announced": "[Planned] ", "cancelled": "[Cancelled] "}


def subject(a: Announcement, invite: Invite) -> str:
    moved = a.status == "announced" and a.sequence > 0
    prefix = ("[CSM] " if invite.role == "csm" else "") + ("[Updated] " if moved else _PREFIX.get(a.status, ""))
    when = "was planned for" if a.status == "cancelled" else "planned for"
    return f"{prefix}[{a.product}] {a.title} ({a.kind} {a.version}) {when} {a.planned_for}"


def _intro(a: Announcement, invite: Invite) -> str:
    if a.status == "cancelled":
        lead = f"{what(a)}, planned for {a.planned_for}, is cancelled: nothing needs planning."
    elif a.sequence > 0:
        lead = f"{what(a)} has changed: it is now planned for {a.planned_for}."
    else:
        lead = f"{what(a)} is planned for {a.planned_for}: an advance notice, so that you can plan the update."
    if invite.role == "csm":
        told = len(invite.notified)
        change = {"cancelled": " of the cancellation"}.get(a.status, " of the change" if a.sequence > 0 else "")
        lead += (
            f" You are the CSM of account {invite.account_id}: {told} of its contacts "
            f"{'was' if told == 1 else 'were'} told{change}."
        )
    return lead


def _calendar_line(a: Announcement) -> str:
    """What the invitation in this email does to the recipient's calendar, in the words of this kind of mail."""
    if a.status == "cancelled":
        return "The calendar invitation in this email removes the planned date from your calendar."
    if a.sequence > 0:
        return "The calendar invitation in this email moves the planned date in your calendar; it follows any further change."
    return "The calendar invitation in this email holds the planned date; it follows any change."


def notice(*, sender: str, a: Announcement, invite: Invite, now: datetime | None = None) -> bytes:
    """The email of announcement ``a`` (as it is now) to one recipient, as raw RFC 5322 bytes for SES."""
    msg = mime.headers(sender, invite.to, subject(a, invite), invite.unsubscribe)
    mime.thread_under(msg, invite.in_reply_to)
    rows = [("Product", a.product), ("Kind", a.kind), ("Version", a.version), ("Planned for", a.planned_for)]
    intro = _intro(a, invite)
    text = [intro, "", mime.header_safe(a.title, limit=500), "", a.summary, ""]
    e = html.escape
    page = [f"<p>{e(intro)}</p>", f"<h1>{e(a.title)}</h1>", f"<p>{e(a.summary)}</p>"]
    if a.known_issues:
        text += ["Known issues:", a.known_issues, ""]
        page += ["<h2>Known issues</h2>", f"<p>{e(a.known_issues)}</p>"]
    text += [f"{k}: {v}" for k, v in rows] + [""]
    page += mime.table_rows(rows)
    text += [f"Notified: {n}" for n in invite.notified]
    page += [f"<p>Notified: {e(n)}</p>" for n in invite.notified]
    if invite.csm and invite.role != "csm" and a.status != "cancelled":
        link = booking_link(invite.csm, a)
        text += [f"Book the planning call with your Customer Success Manager ({invite.csm}): {link}"]
        page += mime.link_lines(
            link, "Book the planning call", f" with your Customer Success Manager ({e(invite.csm)})"
        )
    text += ["", _calendar_line(a)]
    page += [f"<p>{e(_calendar_line(a))}</p>"]
    if invite.unsubscribe:
        text += ["", f"Unsubscribe: {invite.unsubscribe}"]
        page += mime.link_lines(invite.unsubscribe, "Unsubscribe")
    method = CANCEL if a.status == "cancelled" else REQUEST
    ics = calendar(a, sender=sender, invite=invite, now=now)
    also = ((ics, f'calendar; charset="utf-8"; method={method}'),)
    return mime.finish(msg, "\n".join(text) + "\n", mime.html_page(page), also=also)
