"""The recall's emails without AWS: the SES Message-ID they thread under, role recalls, the successor link."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default

import pytest

from chalicelib.domain.core.models import Release
from chalicelib.domain.mail import copies
from chalicelib.domain.mail import notices as mail

PARENT = "<0100018c-notice@email.amazonses.com>"
YANKED = Release(
    "r1",
    "M3",
    "13.4",
    "patch",
    1,
    "ga",
    "Fix",
    "Fixes",
    "yanked",
    "t",
    "u",
    filename="fix.zip",
    reason="corrupts ledgers",
    superseded_by="r2",
    superseded_version="13.5",
)


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("region", "header"),
    [("us-east-1", "<0100-abc@email.amazonses.com>"), ("eu-west-1", "<0100-abc@eu-west-1.amazonses.com>")],
)
def test_the_ses_message_id_header_is_what_ses_writes_for_its_region(region: str, header: str) -> None:
    assert mail.ses_message_id_header("0100-abc", region) == header


@pytest.mark.parametrize(
    ("role", "prefix"), [("oncall", "[RECALL] [On-call] [Sev 1] "), ("csm", "[RECALL] [CSM] [Sev 1] ")]
)
def test_a_role_recall_is_a_recall_of_its_kind_threaded_under_the_copy(role: str, prefix: str) -> None:
    msg = _parse(
        copies.recall_copy(
            sender="alerts@p.test", to="x@acme.example", release=YANKED, account_id="a1", role=role, in_reply_to=PARENT
        )
    )
    assert str(msg["Subject"]).startswith(prefix)
    assert msg["In-Reply-To"] == PARENT and msg["References"] == PARENT
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "corrupts ledgers" in text and "13.5" in text and "/d/" not in text
    assert msg["List-Unsubscribe"] is None


def test_a_subscriber_recall_offers_the_successor_download_it_is_given_and_threads_under_the_notice() -> None:
    links = mail.Links("https://p.test/d/next", "https://p.test/unsubscribe?token=u", datetime(2027, 1, 1, tzinfo=UTC))
    msg = _parse(
        mail.recall_notice(
            sender="alerts@p.test", to="ops@acme.example", release=YANKED, links=links, in_reply_to=PARENT
        )
    )
    assert str(msg["Subject"]).startswith("[RECALL] [Sev 1] ") and msg["In-Reply-To"] == PARENT
    assert "Download 13.5 instead: https://p.test/d/next" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = " ".join(msg.get_body(("html",)).get_content().split())  # type: ignore[union-attr]  # HTML: whitespace folds
    assert '<a href="https://p.test/d/next"> Download 13.5 instead</a>' in page
    without = _parse(
        mail.recall_notice(
            sender="alerts@p.test",
            to="ops@acme.example",
            release=YANKED,
            links=mail.Links(None, links.unsubscribe, links.expires),
        )
    )
    assert "/d/" not in without.get_body(("plain",)).get_content() and without["In-Reply-To"] is None  # type: ignore[union-attr]
