"""Announcement emails and their calendar invitations without AWS: what a calendar program needs (parsed
back with icalendar), one UID per announcement, SEQUENCE and METHOD per change, the CSM as organizer, the
booking link, and a message the strict local SES accepts whatever the text."""

from __future__ import annotations

import dataclasses
import email
import html
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import default

import icalendar
import pytest

from chalicelib.domain.announcements import invites
from chalicelib.domain.announcements import plans as announcements
from chalicelib.domain.core.records import Announcement
from patchcast_tools.local import strict_ses

SENDER = "alerts@patchcast.test"
PLANNED = Announcement(
    "an-1",
    "M3",
    "service-pack",
    "14.0",
    "2027-01-15",
    "SP 14",
    "Speed-ups",
    "announced",
    "2026-12-01T00:00:00Z",
    "eng",
    3,
    known_issues="Reindex takes an hour",
)
TO = invites.Invite("ops@acme.example", "subscriber", "acme", "csm@vendor.example", "https://p.test/unsubscribe?t=1")
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _event(a: Announcement, invite: invites.Invite = TO) -> tuple[icalendar.Calendar, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(invites.calendar(a, sender=SENDER, invite=invite, now=NOW))
    return cal, cal.walk("VEVENT")[0]


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


def test_the_invitation_has_what_a_calendar_program_needs_for_an_all_day_event_on_the_planned_date() -> None:
    cal, event = _event(PLANNED)
    assert str(cal["VERSION"]) == "2.0" and str(cal["PRODID"]) and str(cal["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == "an-1@patchcast.test" and int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTAMP") == NOW
    assert event.decoded("DTSTART") == date(2027, 1, 15) and event.decoded("DTEND") == date(2027, 1, 16)
    assert (
        str(event["ORGANIZER"]) == "mailto:csm@vendor.example" and str(event["ATTENDEE"]) == "mailto:ops@acme.example"
    )
    assert str(event["STATUS"]) == "CONFIRMED" and "M3 service-pack 14.0" in str(event["SUMMARY"])
    assert str(event["TRANSP"]) == "TRANSPARENT"  # a planned date, not a meeting: it blocks no time
    assert "mailto:csm@vendor.example?subject=" in str(event["DESCRIPTION"])


def test_a_move_keeps_the_uid_and_raises_the_sequence_and_a_cancellation_cancels() -> None:
    moved = dataclasses.replace(PLANNED, planned_for="2027-02-01", sequence=1)
    cancelled = dataclasses.replace(moved, status="cancelled", sequence=2)
    (_, first), (_, update), (cal, cancel) = _event(PLANNED), _event(moved), _event(cancelled)
    assert first["UID"] == update["UID"] == cancel["UID"]
    assert int(update["SEQUENCE"]) == 1 and update.decoded("DTSTART") == date(2027, 2, 1)
    assert str(cal["METHOD"]) == "CANCEL" and str(cancel["STATUS"]) == "CANCELLED" and int(cancel["SEQUENCE"]) == 2


def test_without_a_csm_the_sender_organizes_and_no_booking_link_is_offered() -> None:
    alone = dataclasses.replace(TO, csm=None)
    _, event = _event(PLANNED, alone)
    assert str(event["ORGANIZER"]) == f"mailto:{SENDER}" and "mailto:" not in str(event["DESCRIPTION"])
    assert b"Book the planning call" not in invites.notice(sender=SENDER, a=PLANNED, invite=alone)


def test_the_email_carries_the_calendar_as_an_alternative_with_its_method_and_threads_a_change() -> None:
    parent = "<0100-first@email.amazonses.com>"
    moved = dataclasses.replace(PLANNED, sequence=1)
    msg = _parse(invites.notice(sender=SENDER, a=moved, invite=dataclasses.replace(TO, in_reply_to=parent)))
    assert msg.get_content_type() == "multipart/alternative"
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REQUEST"
    assert icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT")[0]["UID"] == "an-1@patchcast.test"
    assert msg["In-Reply-To"] == parent == msg["References"] and str(msg["Subject"]).startswith("[Updated] [M3]")
    plain = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "mailto:csm@vendor.example?subject=Planning%20call" in plain and "Unsubscribe: https://p.test" in plain


def test_the_organizer_is_named_as_the_csm_not_by_a_role() -> None:
    _, event = _event(PLANNED)
    assert event["ORGANIZER"].params["CN"] == "csm@vendor.example"
    _, alone = _event(PLANNED, dataclasses.replace(TO, csm=None))
    assert alone["ORGANIZER"].params["CN"] == "Patchcast"


def _plain(a: Announcement, invite: invites.Invite = TO) -> str:
    return _parse(invites.notice(sender=SENDER, a=a, invite=invite)).get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_each_kind_of_mail_says_what_its_invitation_does_to_the_calendar() -> None:
    moved = dataclasses.replace(PLANNED, planned_for="2027-02-01", sequence=1)
    cancelled = dataclasses.replace(moved, status="cancelled", sequence=2)
    assert "holds the planned date; it follows any change" in _plain(PLANNED)
    assert "moves the planned date in your calendar" in _plain(moved) and "holds" not in _plain(moved)
    assert "removes the planned date from your calendar" in _plain(cancelled)
    assert "follows any change" not in _plain(cancelled) and "holds" not in _plain(cancelled)


@pytest.mark.parametrize(
    ("notified", "a", "said"),
    [
        (("ops@acme.example",), PLANNED, "1 of its contacts was told."),
        (("a@acme.example", "b@acme.example"), PLANNED, "2 of its contacts were told."),
        (("a@acme.example",), dataclasses.replace(PLANNED, sequence=1), "1 of its contacts was told of the change."),
        (
            (),
            dataclasses.replace(PLANNED, status="cancelled", sequence=2),
            "0 of its contacts were told of the cancellation.",
        ),
    ],
)
def test_the_csm_is_told_how_many_contacts_heard_in_good_grammar(
    notified: tuple[str, ...], a: Announcement, said: str
) -> None:
    csm = dataclasses.replace(TO, to="csm@vendor.example", role="csm", unsubscribe=None, notified=notified)
    assert said in " ".join(_plain(a, csm).split())


@pytest.mark.parametrize("title", ["Überarbeitung der Buchhaltung " * 8, "x" * 200, "Zeichen\u202e\x07 verboten"])
def test_any_text_makes_a_message_the_strict_ses_accepts(title: str) -> None:
    # GIVEN long, non-ASCII and (old, stored) unsafe text in every field
    a = dataclasses.replace(PLANNED, title=title, summary=("ä" * 3000) + " " + "y" * 990, known_issues="z" * 4000)
    for invite in (
        TO,
        dataclasses.replace(TO, role="csm", unsubscribe=None, notified=("ops@acme.example (subscriber)",)),
    ):
        raw = invites.notice(sender=SENDER, a=a, invite=invite)
        # THEN no line passes 998 octets, the headers are ASCII and every part decodes
        assert strict_ses.audit(raw) == []
        cal = next(p for p in _parse(raw).walk() if p.get_content_type() == "text/calendar")
        assert "\u202e" not in cal.get_content() and "\x07" not in cal.get_content()
        alone = invites.calendar(a, sender=SENDER, invite=invite)
        assert "\u202e" not in alone and "\x07" not in alone


def test_critical_solutions_cannot_be_announced_and_each_announceable_kind_has_a_usual_severity() -> None:
    assert "critical-solution" not in announcements.ANNOUNCEABLE
    assert set(announcements.USUAL_SEVERITY) == set(announcements.ANNOUNCEABLE)
    assert announcements.tiers_with_notice() == [1]  # Elite only, from the matrix


CSM = dataclasses.replace(
    TO, to="csm@vendor.example", role="csm", unsubscribe=None, notified=("a@acme.example", "b@acme.example")
)
MOVED = dataclasses.replace(PLANNED, planned_for="2027-02-01", sequence=1)
CANCELLED = dataclasses.replace(MOVED, status="cancelled", sequence=2)


@pytest.mark.parametrize(
    ("a", "invite", "expected"),
    [
        (PLANNED, TO, "[Planned] [M3] SP 14 (service-pack 14.0) planned for 2027-01-15"),
        (PLANNED, CSM, "[CSM] [Planned] [M3] SP 14 (service-pack 14.0) planned for 2027-01-15"),
        (MOVED, TO, "[Updated] [M3] SP 14 (service-pack 14.0) planned for 2027-02-01"),
        (CANCELLED, TO, "[Cancelled] [M3] SP 14 (service-pack 14.0) was planned for 2027-02-01"),
        (
            dataclasses.replace(PLANNED, status="released"),
            CSM,
            "[CSM] [M3] SP 14 (service-pack 14.0) planned for 2027-01-15",
        ),
    ],
)
def test_the_subject_says_the_role_the_state_and_the_date(
    a: Announcement, invite: invites.Invite, expected: str
) -> None:
    assert invites.subject(a, invite) == expected


@pytest.mark.parametrize(
    ("a", "invite", "intro"),
    [
        (PLANNED, TO, "M3 service-pack 14.0 is planned for 2027-01-15: an advance notice, so that you can plan the update."),
        (MOVED, TO, "M3 service-pack 14.0 has changed: it is now planned for 2027-02-01."),
        (CANCELLED, TO, "M3 service-pack 14.0, planned for 2027-02-01, is cancelled: nothing needs planning."),
        (PLANNED, CSM, "M3 service-pack 14.0 is planned for 2027-01-15: an advance notice, so that you can plan the "
                       "update. You are the CSM of account acme: 2 of its contacts were told."),
    ],
)  # fmt: skip
def test_the_email_opens_with_what_changed_and_lists_the_facts(
    a: Announcement, invite: invites.Invite, intro: str
) -> None:
    msg = _parse(invites.notice(sender=SENDER, a=a, invite=invite, now=NOW))
    plain = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    page = " ".join(msg.get_body(("html",)).get_content().split())  # type: ignore[union-attr]  (lines folded)
    assert plain.startswith(f"{intro}\n\nSP 14\n\nSpeed-ups\n\nKnown issues:\nReindex takes an hour\n\nProduct: M3\n")
    assert "Kind: service-pack\nVersion: 14.0\n" in plain and f"Planned for: {a.planned_for}\n" in plain
    assert f"<p>{html.escape(intro)}</p>" in page and "<h2>Known issues</h2> <p>Reindex takes an hour</p>" in page
    assert ("Notified: a@acme.example\nNotified: b@acme.example" in plain) == (invite.role == "csm")
    assert ("<p>Notified: a@acme.example</p>" in page) == (invite.role == "csm")
    booking = "Book the planning call with your Customer Success Manager (csm@vendor.example): mailto:"
    assert (booking in plain) == (invite.role != "csm" and a.status != "cancelled")
    assert invites._calendar_line(a) in plain  # each kind's own words (the test above tells them apart)
    assert plain.rstrip().endswith("Unsubscribe: https://p.test/unsubscribe?t=1") == (invite.unsubscribe is not None)
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == ("CANCEL" if a.status == "cancelled" else "REQUEST")


def test_an_announcement_without_known_issues_says_none() -> None:
    plain = _parse(invites.notice(sender=SENDER, a=dataclasses.replace(PLANNED, known_issues=None), invite=TO))
    assert "Known issues" not in plain.get_body(("plain",)).get_content()  # type: ignore[union-attr]
