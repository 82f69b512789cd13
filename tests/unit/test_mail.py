from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default

from chalicelib import mail
from chalicelib.models import Release


def _release(**kw: object) -> Release:
    base = dict(
        release_id="r1", product="M3", version="13.4", kind="patch", severity=1, channel="ga",
        title="Fix <script>alert(1)</script>", summary="Rounding & totals", status="published",
        created_at="t", created_by="u", filename="fix.zip", size=2048, sha256="ab" * 32, object_key="uploads/r1/fix.zip",
    )  # fmt: skip
    base.update(kw)
    return Release(**base)  # type: ignore[arg-type]


def _notice(release: Release) -> email.message.EmailMessage:
    links = mail.Links("https://p.test/d/tok", "https://p.test/unsubscribe?token=u", datetime(2027, 1, 1, tzinfo=UTC))
    raw = mail.release_notice(sender="alerts@p.test", to="ops@acme.example", release=release, links=links)
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


def test_notice_has_rfc8058_headers_and_severity_product_subject() -> None:
    msg = _notice(_release())
    assert msg["List-Unsubscribe"] == "<https://p.test/unsubscribe?token=u>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Subject"].startswith("[Sev 1] [M3] ")


def test_notice_carries_every_field_in_text_and_escapes_html() -> None:
    msg = _notice(_release())
    text = msg.get_body(("plain",)).get_content()
    page = msg.get_body(("html",)).get_content()
    for value in ("M3", "patch", "13.4", "fix.zip", "ab" * 32, "https://p.test/d/tok", "2027-01-01"):
        assert value in text
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "Rounding &amp; totals" in page


def test_crlf_in_a_title_never_reaches_a_header() -> None:
    msg = _notice(_release(title="Fix\r\nBcc: victim@example.com"))
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
