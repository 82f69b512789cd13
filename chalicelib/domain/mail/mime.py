"""What Amazon SES accepts of an email, and the parts every Patchcast email is built of.

Pure (no AWS). Headers pure ASCII (non-ASCII text RFC 2047-encoded, folded at 78; user text through
``header_safe``), no line over 998 octets, and each part in the lightest transfer encoding that keeps it so
(7bit, else quoted-printable or base64, whichever is shorter); the headers an email starts with
(``headers``, ``thread_under``), its HTML page (``html_page``, ``link_lines``, ``table_rows``) and the
multipart/alternative it ends as (``finish``). The notices themselves are ``chalicelib.domain.mail.notices``'s.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid, parseaddr

from chalicelib.domain.core import text as safe_text

MAX_LINE = 998  # RFC 5322 2.1.1 (and SES): octets per line, CRLF excluded
_WIDTH = 76  # where HTML is wrapped and quoted-printable/base64 lines end (RFC 2045)
# Headers whose value must reach readers verbatim (RFC 8058 readers parse the URL; a msg-id is one token):
# the email package would RFC 2047-encode a long URL to fold it.
_VERBATIM = frozenset({"list-unsubscribe", "list-unsubscribe-post", "message-id", "in-reply-to", "references"})


class _Policy(EmailPolicy):
    """SMTP's policy folding at 78 (RFC 2047 words stay within 75), except the headers in ``_VERBATIM``."""

    def _verbatim(self, name: str, value: str) -> str | None:
        line = f"{name}: {value}"
        if name.lower() in _VERBATIM and line.isascii() and len(line) <= MAX_LINE and "\n" not in line:
            return line + self.linesep
        return None

    def _ascii_subject(self, name: str, value: str) -> str | None:
        """An ASCII Subject folded at spaces, its first word on the first line: the email package moves a value
        that fits a continuation line wholly onto it, and readers then see the subject with a leading space."""
        if name.lower() != "subject" or not str(value).isascii() or "\n" in value:
            return None
        lines, line = [], f"{name}:"
        for word in str(value).split(" "):
            if len(line) + 1 + len(word) > (self.max_line_length or MAX_LINE) and line != f"{name}:":
                lines.append(line)
                line = ""
            line += f" {word}"
        return self.linesep.join([*lines, line]) + self.linesep

    def fold(self, name: str, value: str) -> str:
        return self._verbatim(name, value) or self._ascii_subject(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        line = self._verbatim(name, value) or self._ascii_subject(name, value)
        return line.encode("ascii") if line else super().fold_binary(name, value)


POLICY = _Policy(linesep="\r\n", max_line_length=78)


def header_safe(value: str, *, limit: int = 200) -> str:
    """User text fit for a header: unsafe characters (``chalicelib.domain.core.text``) and runs of whitespace become one space."""
    return " ".join(safe_text.clean(value).split())[:limit]


def _wrap_line(match: re.Match[str]) -> str:
    line, out = match.group(), []
    while len(line) > _WIDTH:
        cut = line.rfind(" ", 1, _WIDTH + 1)
        if cut < 0:
            cut = line.find(" ", _WIDTH + 1)
            if cut < 0:
                break  # an unbreakable run: the part is quoted-printable if it passes 998
        out.append(line[:cut])
        line = line[cut + 1 :]
    out.append(line)
    return "\n".join(out)


_LONG_LINE = re.compile(f"[^\n]{{{_WIDTH + 1},}}")


def html_page(lines: Iterable[str]) -> str:
    """An HTML document from its lines, each wrapped at spaces to 76 columns (HTML ignores where whitespace
    breaks). A line without spaces (put ``href="...">`` on one of its own) is never broken, so a link's length
    cannot move where its neighbours wrap: a template filled in with longer links stays the same page."""
    return _LONG_LINE.sub(_wrap_line, "\n".join(["<html><body>", *lines, "</body></html>"]) + "\n")


def link_lines(url: str, label_html: str, after_html: str = "") -> list[str]:
    """A paragraph holding one link, its ``href="..."`` on a line of its own: a link's length then never
    moves where the rest of the page wraps (and the template's fill of a link stays within its line)."""
    return ["<p><a", f'href="{html.escape(url)}">', f"{label_html}</a>{after_html}</p>"]


def table_rows(rows: Iterable[tuple[str, str]]) -> list[str]:
    """An HTML table of label/value rows, one line each."""
    e = html.escape
    return ["<table>", *(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows), "</table>"]


def _seven_bit(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def _quoted_printable(data: bytes) -> bytes:
    return binascii.b2a_qp(data).replace(b"\n", b"\r\n")


def _base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")  # 76-character lines


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "7bit": _seven_bit,
    "quoted-printable": _quoted_printable,
    "base64": _base64,
}


def encode_body(body: str) -> tuple[str, bytes]:
    """A part's (Content-Transfer-Encoding, encoded CRLF bytes): 7bit when ASCII with lines within 998 octets,
    else the shorter of quoted-printable and base64 (C-accelerated ``binascii`` either way)."""
    data = body.encode("utf-8")
    if data.isascii() and max(map(len, data.split(b"\n"))) <= MAX_LINE:
        return "7bit", _seven_bit(data)
    qp, b64 = _quoted_printable(data), _base64(data)
    return ("base64", b64) if len(b64) < len(qp) else ("quoted-printable", qp)


def finish(msg: EmailMessage, plain: str, page: str, *, also: tuple[tuple[str, str], ...] = ()) -> bytes:
    """``msg`` (from ``headers``) as multipart/alternative of ``plain`` and the HTML ``page``, as bytes;
    ``also``: further alternatives as (the text, its subtype and parameters after ``text/``), e.g. a calendar.

    The email package writes the headers (folding, RFC 2047); the two parts are written here, laid out as it
    would, because its per-part header objects cost more CPU than everything else in a notice."""
    boundary = f"==============={secrets.token_hex(12)}=="  # random: no user text holds it; "==": never filled in
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    out = [*(POLICY.fold_binary(k, v) for k, v in msg.raw_items()), b"\r\n"]
    delimiter = f"--{boundary}\r\n".encode()
    parts = (
        (plain if plain.endswith("\n") else plain + "\n", 'plain; charset="utf-8"'),
        (page, 'html; charset="utf-8"'),
    )
    for body, subtype in (*parts, *also):
        cte, data = encode_body(safe_text.clean(body, multiline=True))
        head = f"Content-Type: text/{subtype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
        out += [delimiter, head.encode(), data, b"\r\n"]
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def message_id(sender: str) -> str:
    """A fresh Message-ID in the sender's domain (a display name around the address is allowed)."""
    return make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or "patchcast.local")


def thread_under(msg: EmailMessage, parent: str | None) -> None:
    """Make ``msg`` a reply to the message whose Message-ID is ``parent`` (RFC 5322 section 3.6.4)."""
    if parent:
        msg["In-Reply-To"] = parent
        msg["References"] = parent


def headers(sender: str, to: str, subject: str, unsubscribe: str | None) -> EmailMessage:
    """The headers every email starts with: From, To, a safe Subject, Date, Message-ID, and RFC 8058's
    List-Unsubscribe pair when there is an unsubscribe link."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = header_safe(subject, limit=250)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id(sender)
    if unsubscribe:
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return msg
