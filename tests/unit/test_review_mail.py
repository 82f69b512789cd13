"""The CSM's review as CSV and as an email: one row per release, formulas defused, and a message SES accepts
(ASCII headers, lines within 998 octets) with user text escaped."""

from __future__ import annotations

import csv
import email
import io
from email.policy import default
from typing import Any

from chalicelib.domain.accounts.review import CSV_COLUMNS
from chalicelib.domain.accounts.review_mail import csv_text, review_email
from patchcast_tools.local.strict_ses import audit


def _release(title: str, **counts: int) -> dict[str, Any]:
    base = dict.fromkeys(CSV_COLUMNS[8:16], 0)
    base.update(counts)
    return {
        "id": "r1",
        "product": "M3",
        "version": "1.0",
        "kind": "patch",
        "severity": 1,
        "title": title,
        "published_at": "2026-11-03T10:00:00Z",
        "status": "published",
        "counts": base,
        "notified": [
            {"email": "ops@acme.example", "role": "subscriber", "status": "sent", "at": "2026-11-03T10:00:05Z"}
        ],
        "downloads": [],
        "recall": None,
    }


def _review(*releases: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_id": "acme",
        "name": "Acme <AB> ÅÄÖ",
        "period": {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        "days_left": 40,
        "support_end": "2027-01-09",
        "releases": list(releases),
        "not_downloaded": [{"id": "r1", "product": "M3", "version": "1.0", "severity": 1, "title": "x"}],
        "recalls": [],
        "contacts": {"suppressed": [], "bouncing": [], "subscribed": 1},
        "totals": {"releases": len(releases), **dict.fromkeys(CSV_COLUMNS[8:16], 0)},
    }


def test_the_csv_has_a_header_and_one_row_per_release_and_quotes_a_formula() -> None:
    rows = list(csv.reader(io.StringIO(csv_text(_review(_release("=HYPERLINK(1)", notified=3))))))
    assert rows[0] == list(CSV_COLUMNS)
    assert len(rows) == 2 and rows[1][5] == "'=HYPERLINK(1)" and rows[1][CSV_COLUMNS.index("notified")] == "3"


def test_the_review_email_is_fit_for_ses_with_the_csv_attached_and_user_text_escaped() -> None:
    raw = review_email(
        sender="alerts@patchcast.test",
        to="csm@vendor.example",
        review=_review(_release("<script>x</script> " + "long " * 400)),
    )
    assert audit(raw) == []
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = email.message_from_bytes(raw, policy=default)
    assert msg["Subject"].startswith("[Review] acme 2026-11-01")
    kinds = [p.get_content_type() for p in msg.walk()]
    assert kinds == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/csv"]
    html = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    attachment = next(p for p in msg.walk() if p.get_content_type() == "text/csv")
    assert attachment.get_filename() == "review-acme-2026-11-01.csv"
    assert attachment.get_content().splitlines()[0] == ",".join(CSV_COLUMNS)


def test_the_subject_and_attachment_name_the_period_in_the_accounts_dates() -> None:
    # Berlin's March 2026: 28 February 23:00 UTC to 31 March 22:00 UTC (summer time began on the 29th)
    review = {**_review(), "timezone": "Europe/Berlin"}
    review["period"] = {"from": "2026-02-28T23:00:00Z", "to": "2026-03-31T22:00:00Z"}
    msg = email.message_from_bytes(review_email(sender="a@p.test", to="c@v.example", review=review), policy=default)
    assert msg["Subject"] == "[Review] acme 2026-03-01 to 2026-04-01"
    assert (
        next(p for p in msg.walk() if p.get_content_type() == "text/csv").get_filename() == "review-acme-2026-03-01.csv"
    )
