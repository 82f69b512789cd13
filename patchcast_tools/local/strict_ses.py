"""The local SES as strict as Amazon SES with a raw message, and doing to it what SES does.

moto accepts raw messages SES refuses. ``install()`` (before the moto server serves; idempotent) makes SESv2
``SendEmail`` with ``Content.Raw`` refuse, with SES's error code, a message SES would refuse: over SESv2's size
limit, a header with 8-bit bytes, a line over 998 octets, a From that is not a verified identity (address or
domain), more than 50 recipients. A message it accepts gets SES's own ``Message-ID``
(``chalicelib.domain.mail.notices.ses_message_id_header`` of the ``MessageId`` SendEmail returns) and the time of acceptance
as ``Date``, as SES overrides both. What only AWS can show is listed in docs/delivery.md.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import UTC, datetime
from email.utils import format_datetime, getaddresses
from typing import Any

from chalicelib.domain.mail.mime import MAX_LINE
from chalicelib.domain.mail.notices import ses_message_id_header

MAX_RECIPIENTS = 50  # To + Cc + Bcc of one message
MAX_MESSAGE_BYTES = 40 * 1024 * 1024  # SESv2: 40 MB per message, measured after base64 encoding
_SENDERS = ("from", "sender", "return-path")  # header addresses SES checks against the verified identities
# "Amazon SES header fields": fields that can't appear more than once in the header section of a message.
# fmt: off
_ONCE = frozenset({
    "accept-language", "acceptlanguage", "archived-at", "auto-submitted", "bounces-to", "comments",
    "content-alternative", "content-base", "content-class", "content-description", "content-disposition",
    "content-duration", "content-id", "content-language", "content-length", "content-location", "content-md5",
    "content-transfer-encoding", "content-type", "date", "delivered-to", "disposition-notification-options",
    "disposition-notification-to", "dkim-signature", "domainkey-signature", "errors-to", "from", "importance",
    "in-reply-to", "keywords", "list-archive", "list-help", "list-id", "list-owner", "list-post", "list-subscribe",
    "list-unsubscribe", "list-unsubscribe-post", "message-context", "message-id", "mime-version", "organization",
    "original-from", "original-message-id", "original-recipient", "original-subject", "precedence", "priority",
    "references", "reply-to", "return-path", "return-receipt-to", "sender", "solicitation", "sensitivity", "subject",
    "thread-index", "thread-topic", "user-agent", "vbr-info",
})
# fmt: on


class Refused(Exception):
    """What SES answers: its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _header_block(raw: bytes) -> bytes:
    end = re.search(rb"\r?\n\r?\n", raw)
    return raw if end is None else raw[: end.start()]


def _header_values(head: str, names: tuple[str, ...]) -> list[str]:
    unfolded = re.sub(r"\r?\n[ \t]", " ", head)
    return [
        value.strip()
        for name, _, value in (line.partition(":") for line in unfolded.splitlines())
        if name.strip().lower() in names
    ]


def _shape(raw: bytes) -> None:
    if not _header_block(raw).isascii():
        raise Refused("MessageRejected", "The message header contains 8-bit bytes; encode non-ASCII text (RFC 2047).")
    longest = max(len(line.rstrip(b"\r")) for line in raw.split(b"\n"))
    if longest > MAX_LINE:
        raise Refused(
            "MessageRejected",
            f"The message has a line of {longest} octets; a line may not exceed 1,000 characters with CRLF (RFC 5321).",
        )


def audit(raw: bytes) -> list[str]:
    """What SES or a reader would object to in a raw message (its shape, and each part parsing and decoding
    without defects); empty when it is fit to send."""
    import email
    from email.policy import default

    try:
        _shape(raw)
    except Refused as exc:
        return [exc.message]
    problems = []
    for part in email.message_from_bytes(raw, policy=default).walk():
        problems += [f"{part.get_content_type()}: {type(d).__name__} {d}" for d in part.defects]
        if not part.is_multipart():
            try:
                part.get_content()  # type: ignore[attr-defined]
            except (LookupError, ValueError) as exc:
                problems.append(f"{part.get_content_type()}: does not decode: {exc}")
    return problems


def check(
    raw: bytes, *, encoded_size: int, from_address: str | None, destinations: list[str], region: str, verified: Any
) -> None:
    """Raise ``Refused`` as SES would for this raw message; ``verified(address)`` says whether SES may send as it."""
    if encoded_size > MAX_MESSAGE_BYTES:
        raise Refused(
            "MessageRejected", f"Message length is more than {MAX_MESSAGE_BYTES} bytes long: '{encoded_size}'."
        )
    _shape(raw)
    text = _header_block(raw).decode("ascii")
    names = [line.partition(":")[0].strip().lower() for line in text.splitlines() if line[:1] not in (" ", "\t")]
    twice = sorted({n for n in names if n in _ONCE and names.count(n) > 1})
    if twice:
        raise Refused("MessageRejected", f"Duplicate header '{twice[0]}'.")
    senders = [from_address] if from_address else []
    senders += [address for _, address in getaddresses(_header_values(text, _SENDERS)) if address]
    unverified = sorted({address for address in senders if not verified(address)})
    if unverified:
        raise Refused(
            "MessageRejected",
            "Email address is not verified. The following identities failed the check in region "
            f"{region.upper()}: {', '.join(unverified)}",
        )
    recipients = destinations or [a for _, a in getaddresses(_header_values(text, ("to", "cc", "bcc"))) if a]
    if len(recipients) > MAX_RECIPIENTS:
        raise Refused("BadRequestException", f"Recipient count exceeds {MAX_RECIPIENTS}.")


def stamp(raw: str, message_id: str, region: str) -> str:
    """``raw`` with SES's Message-ID and Date in place of ours (SES overrides both on every message it accepts)."""
    end = re.search(r"\r?\n\r?\n", raw)
    head, rest = (raw, "") if end is None else (raw[: end.start()], raw[end.start() :])
    nl = "\r\n" if "\r\n" in head else "\n"
    head = re.sub(r"^(?:message-id|date):[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*(?:\r?\n)?", "", head, flags=re.I | re.M)
    ours = f"Date: {format_datetime(datetime.now(UTC))}{nl}Message-ID: {ses_message_id_header(message_id, region)}"
    return f"{head.rstrip(chr(13) + chr(10))}{nl}{ours}{rest}"


# Every raw message accepted in this process, in the order SES accepted it: moto keeps one list per account
# and Region, so a concatenation of its lists is not in sending order once a second Region has sent.
_ACCEPTED: list[Any] = []
_ACCEPTED_LOCK = threading.Lock()


def accepted() -> list[Any]:
    """The messages accepted so far, oldest first (moto's message objects: ``destinations``, ``raw_data``)."""
    with _ACCEPTED_LOCK:
        return list(_ACCEPTED)


def install() -> None:
    """Patch moto's SESv2 in this process (the server's request threads run it)."""
    from moto.core.exceptions import ServiceException
    from moto.ses import models as ses_models
    from moto.ses.utils import get_random_message_id
    from moto.sesv2.models import SESV2Backend
    from moto.sesv2.responses import SESV2Response

    if getattr(SESV2Response.send_email, "strict", False):
        return
    send_email, send_raw_email = SESV2Response.send_email, SESV2Backend.send_raw_email

    class SesError(ServiceException):
        def __init__(self, refused: Refused) -> None:
            self.code = refused.code
            super().__init__(refused.message)

    def strict_send_email(self: SESV2Response) -> str:
        params = json.loads(self.body)
        raw = (params.get("Content") or {}).get("Raw")
        if raw is not None:
            destination = params.get("Destination") or {}
            core = self.sesv2_backend.core_backend
            try:
                check(
                    base64.b64decode(raw["Data"]),
                    encoded_size=len(raw["Data"]),
                    from_address=params.get("FromEmailAddress"),
                    destinations=[
                        a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destination.get(key, [])
                    ],
                    region=self.region,
                    verified=core._is_verified_address,
                )
            except Refused as exc:
                raise SesError(exc) from exc
        return send_email(self)

    def stamped_send_raw_email(self: SESV2Backend, source: str, destinations: list[str], raw_data: str) -> Any:
        message_id = get_random_message_id()
        message = send_raw_email(self, source, destinations, stamp(raw_data, message_id, self.region_name))
        message.id = message_id  # the id SendEmail returns is the one in the stored Message-ID
        with _ACCEPTED_LOCK:
            _ACCEPTED.append(message)
        return message

    # moto counts the Destination and the message's To/Cc/Bcc together (one recipient twice); SES counts the
    # Destination when given, else the headers, as ``check`` does.
    ses_models.RECIPIENT_LIMIT = 1 << 30
    strict_send_email.strict = True  # type: ignore[attr-defined]
    SESV2Response.send_email = strict_send_email  # type: ignore[method-assign]
    SESV2Backend.send_raw_email = stamped_send_raw_email  # type: ignore[method-assign]
