"""The session's local SES refuses, with SES's error code, each raw message SES would refuse, and stamps what
it accepts with SES's Message-ID and Date (``patchcast_tools/local/strict_ses.py``, installed by the
``moto_server`` fixture)."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.mailer import Mailer, Rejected
from chalicelib.domain.mail import notices as mail
from patchcast_tools.local import strict_ses
from tests.conftest import SENDER
from tests.unit.test_mail import _release


def _raw(*, sender: str = SENDER, to: str = "ops@acme.example", subject: str = "hello", body: bytes = b"hi") -> bytes:
    return (
        (
            f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <ours@patchcast.test>\r\n"
            "Date: Thu, 01 Jan 2015 00:00:00 +0000\r\nContent-Type: text/plain\r\n\r\n"
        ).encode()
        + body
        + b"\r\n"
    )


def _send(client: Any, raw: bytes, *, sender: str = SENDER, to: list[str] | None = None) -> str:
    destination = {"ToAddresses": to if to is not None else ["ops@acme.example"]}
    return client.send_email(FromEmailAddress=sender, Destination=destination, Content={"Raw": {"Data": raw}})[  # type: ignore[no-any-return]
        "MessageId"
    ]


@pytest.fixture
def sesv2(provisioned: str) -> Any:
    return boto3.client("sesv2", region_name="us-east-1")


def _stored(message_id: str) -> str:
    from moto.ses.models import ses_backends

    for regions in ses_backends.values():
        for backend in regions.values():
            for m in backend.sent_messages:
                if m.id == message_id:
                    return str(m.raw_data)
    raise AssertionError(f"{message_id} not stored")


@pytest.mark.parametrize(
    ("shape", "kwargs", "code", "says"),
    [
        ("a line of 999 octets", {"raw": _raw(body=b"x" * 999)}, "MessageRejected", "line of 999 octets"),
        ("8-bit bytes in a header", {"raw": _raw(subject="Größe")}, "MessageRejected", "8-bit"),
        ("an unverified From", {"raw": _raw(sender="x@unverified.example"), "sender": "x@unverified.example"},
         "MessageRejected", "Email address is not verified. The following identities failed the check in region "
                            "US-EAST-1: x@unverified.example"),
        ("a From header not verified", {"raw": _raw(sender="Boss <ceo@unverified.example>")}, "MessageRejected",
         "ceo@unverified.example"),
        ("a Subject twice", {"raw": _raw(subject="a\r\nSubject: b")}, "MessageRejected", "Duplicate header 'subject'"),
        ("51 recipients", {"raw": _raw(), "to": [f"r{n}@acme.example" for n in range(51)]}, "BadRequestException",
         "Recipient count exceeds 50."),
    ],
)  # fmt: skip
def test_the_local_ses_refuses_what_ses_refuses(
    sesv2: Any, shape: str, kwargs: dict[str, Any], code: str, says: str
) -> None:
    raw = kwargs.pop("raw")
    with pytest.raises(ClientError) as refused:
        _send(sesv2, raw, **kwargs)
    assert refused.value.response["Error"]["Code"] == code, shape
    assert says in refused.value.response["Error"]["Message"], shape


def test_a_message_over_the_sesv2_size_limit_is_refused(sesv2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strict_ses, "MAX_MESSAGE_BYTES", 4096)  # the same check as at 40 MB, without 40 MB
    with pytest.raises(ClientError) as refused:
        _send(sesv2, _raw(body=b"x\r\n" * 1200))
    assert refused.value.response["Error"]["Code"] == "MessageRejected"
    assert "Message length is more than 4096 bytes long" in refused.value.response["Error"]["Message"]
    _send(sesv2, _raw())  # within the limit: accepted


def test_fifty_recipients_and_a_domain_identity_are_accepted(sesv2: Any) -> None:
    sesv2.create_email_identity(EmailIdentity="verified-domain.example")
    _send(
        sesv2,
        _raw(sender="anyone@verified-domain.example"),
        sender="anyone@verified-domain.example",
        to=[f"r{n}@acme.example" for n in range(50)],
    )


def test_a_refused_message_reaches_the_mailer_as_a_permanent_rejection(sesv2: Any) -> None:
    with pytest.raises(Rejected, match="MessageRejected"):
        Mailer(sesv2, sender=SENDER).send_raw("ops@acme.example", _raw(body=b"x" * 1200))


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_an_accepted_message_carries_the_message_id_and_date_ses_gives_it(provisioned: str, region: str) -> None:
    client = boto3.client("sesv2", region_name=region)
    client.create_email_identity(EmailIdentity=SENDER)
    before = datetime.now(UTC).replace(microsecond=0)
    links = mail.Links("https://p.test/d/tok", "https://p.test/unsubscribe?token=u", datetime(2027, 1, 1, tzinfo=UTC))
    raw = mail.release_notice(sender=SENDER, to="ops@acme.example", release=_release(), links=links)
    message_id = Mailer(client, sender=SENDER).send_raw("ops@acme.example", raw)
    stored = email.message_from_string(_stored(message_id), policy=default)
    assert stored["Message-ID"] == mail.ses_message_id_header(message_id, region)
    assert len(stored.get_all("Message-ID")) == 1 and len(stored.get_all("Date")) == 1
    assert stored["Date"].datetime >= before  # the time SES accepted it, not ours
    assert (
        stored.get_body(("plain",)).get_content()
        == email.message_from_bytes(raw, policy=default)
        .get_body(  # type: ignore[union-attr]
            ("plain",)
        )
        .get_content()
    )
