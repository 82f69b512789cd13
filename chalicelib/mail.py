"""Building the emails: one MIME message per recipient, text and HTML, RFC 8058 unsubscribe headers.

Pure (no AWS). Every message is what Amazon SES accepts: headers pure ASCII (non-ASCII text RFC 2047-encoded,
folded at 78), no line over 998 octets, and each part in the lightest transfer encoding that keeps it so
(7bit, else quoted-printable or base64, whichever is shorter). User text is cleaned at render by
``chalicelib.text`` (old stored data cannot poison a message) and HTML-escaped on every interpolated value.
"""

from __future__ import annotations

import base64
import binascii
import email
import html
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid, parseaddr
from functools import cached_property
from typing import Any, Protocol

from chalicelib import text as safe_text
from chalicelib.models import Release
from chalicelib.states import Notice, ReleaseStatus

SEVERITY_NAMES = {1: "critical", 2: "high", 3: "medium", 4: "low"}
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


_POLICY = _Policy(linesep="\r\n", max_line_length=78)


def header_safe(value: str, *, limit: int = 200) -> str:
    """User text fit for a header: unsafe characters (``chalicelib.text``) and runs of whitespace become one space."""
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
    """``msg`` (headers from ``_base``) as multipart/alternative of ``plain`` and the HTML ``page``, as bytes;
    ``also``: further alternatives as (the text, its subtype and parameters after ``text/``), e.g. a calendar.

    The email package writes the headers (folding, RFC 2047); the two parts are written here, laid out as it
    would, because its per-part header objects cost more CPU than everything else in a notice."""
    boundary = f"==============={secrets.token_hex(12)}=="  # random: no user text holds it; "==": never filled in
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    out = [*(_POLICY.fold_binary(k, v) for k, v in msg.raw_items()), b"\r\n"]
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


def ses_message_id_header(message_id: str, region: str) -> str:
    """The Message-ID header SES gives a message it accepts (it overrides any we set), from SendEmail's
    ``MessageId``: ``<id@email.amazonses.com>`` in us-east-1, ``<id@{region}.amazonses.com>`` elsewhere.
    In-Reply-To/References of a follow-up must use this, not the Message-ID we wrote."""
    host = "email" if region == "us-east-1" else region
    return f"<{message_id}@{host}.amazonses.com>"


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({size} bytes)"
        value /= 1024
    return f"{size} bytes"


@dataclass(frozen=True)
class Links:
    download: str | None
    unsubscribe: str
    expires: datetime


def message_id(sender: str) -> str:
    """A fresh Message-ID in the sender's domain (a display name around the address is allowed)."""
    return make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or "patchcast.local")


def thread_under(msg: EmailMessage, parent: str | None) -> None:
    """Make ``msg`` a reply to the message whose Message-ID is ``parent`` (RFC 5322 section 3.6.4)."""
    if parent:
        msg["In-Reply-To"] = parent
        msg["References"] = parent


def superseded(release: Release) -> str:
    """What replaces a yanked release, as a sentence."""
    if release.superseded_by:
        return (
            f"It is superseded by {release.product} {release.kind} {release.superseded_version} "
            f"(release {release.superseded_by})."
        )
    return "No replacement has been named yet; a new notice will follow when there is one."


def _base(sender: str, to: str, subject: str, unsubscribe: str | None) -> EmailMessage:
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = header_safe(subject, limit=250)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id(sender)
    if unsubscribe:
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return msg


def headers(sender: str, to: str, subject: str, unsubscribe: str | None) -> EmailMessage:
    """The headers every email starts with (a digest builds its own body on them): From, To, a safe Subject,
    Date, Message-ID, and RFC 8058's List-Unsubscribe pair when there is an unsubscribe link."""
    return _base(sender, to, subject, unsubscribe)


def subject_for(release: Release, prefix: str = "") -> str:
    return f"{prefix}[Sev {release.severity}] [{release.product}] {release.title} ({release.kind} {release.version})"


def release_notice(
    *, sender: str, to: str, release: Release, links: Links, note: str | None = None, in_reply_to: str | None = None
) -> bytes:
    """The notice of one release to one recipient, as raw RFC 5322 bytes for SES ``Content.Raw``; sent again
    later (a fresh link), it replies to the first (``in_reply_to``: that one's Message-ID)."""
    msg = _base(sender, to, subject_for(release), links.unsubscribe)
    thread_under(msg, in_reply_to)
    rows: list[tuple[str, str]] = [
        ("Product", release.product),
        ("Kind", release.kind),
        ("Version", release.version),
        ("Severity", f"{release.severity} ({SEVERITY_NAMES.get(release.severity, '?')})"),
        ("Channel", release.channel),
    ]
    if release.filename:
        rows += [("File", release.filename), ("Size", human_size(release.size)), ("SHA-256", release.sha256 or "-")]
    if release.article_url:
        rows.append(("Article", release.article_url))
    expires = links.expires.strftime("%Y-%m-%d %H:%M UTC")
    text = [header_safe(release.title, limit=500), ""]
    if note:
        text += [note, ""]
    text += [release.summary, ""]
    text += [f"{k}: {v}" for k, v in rows]
    if links.download:
        text += [
            "",
            f"Download: {links.download}",
            f"This link works until {expires} while your support contract is active.",
        ]
    text += ["", f"Unsubscribe: {links.unsubscribe}", ""]

    e = html.escape
    page = [f"<h1>{e(release.title)}</h1>"]
    if note:
        page.append(f"<p><strong>{e(note)}</strong></p>")
    page += [f"<p>{e(release.summary)}</p>", *table_rows(rows)]
    if links.download:
        page += link_lines(
            links.download,
            f"Download {e(release.filename or 'the package')}",
            f" (the link works until {e(expires)} while your support contract is active)",
        )
    page += link_lines(links.unsubscribe, "Unsubscribe")
    return finish(msg, "\n".join(text), html_page(page))


def link_lines(url: str, label_html: str, after_html: str = "") -> list[str]:
    """A paragraph holding one link, its ``href="..."`` on a line of its own: a link's length then never
    moves where the rest of the page wraps (and the template's fill of a link stays within its line)."""
    return ["<p><a", f'href="{html.escape(url)}">', f"{label_html}</a>{after_html}</p>"]


def table_rows(rows: Iterable[tuple[str, str]]) -> list[str]:
    """An HTML table of label/value rows, one line each."""
    e = html.escape
    return ["<table>", *(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows), "</table>"]


def recall_notice(*, sender: str, to: str, release: Release, links: Links, in_reply_to: str | None = None) -> bytes:
    """The recall of a yanked release, to one recipient of its notice: why, and what replaces it.

    ``links.download`` is the successor's download, for a recipient entitled to it; ``in_reply_to`` the
    Message-ID of the notice recalled, which the recall threads under.
    """
    msg = _base(sender, to, subject_for(release, "[RECALL] "), links.unsubscribe)
    thread_under(msg, in_reply_to)
    reason = release.reason or "no reason given"
    instead = superseded(release)
    get = f"Download {release.superseded_version} instead: {links.download}" if links.download else ""
    text = [
        f"WITHDRAWN: {header_safe(release.title, limit=500)}",
        "",
        f"{release.product} {release.kind} {release.version} (file {release.filename or '-'}, SHA-256 "
        f"{release.sha256 or '-'}) has been withdrawn. Do not install it; its download links no longer work.",
        "",
        f"Reason: {reason}",
        instead,
        *([get] if get else []),
        "",
        f"Unsubscribe: {links.unsubscribe}",
        "",
    ]
    e = html.escape
    page = [
        f"<h1>Withdrawn: {e(release.title)}</h1>",
        f"<p>{e(release.product)} {e(release.kind)} {e(release.version)} ({e(release.filename or '-')}) has been "
        "withdrawn. Do not install it; its download links no longer work.</p>",
        f"<p><strong>Reason:</strong> {e(reason)}</p>",
        f"<p>{e(instead)}</p>",
    ]
    if links.download:
        page += link_lines(links.download, f"Download {e(release.superseded_version or '')} instead")
    page += link_lines(links.unsubscribe, "Unsubscribe")
    return finish(msg, "\n".join(text), html_page(page))


class NoticeBuilder(Protocol):
    def __call__(self, *, sender: str, to: str, release: Release, links: Links) -> bytes: ...


# The notices delivery can send about a release, by the ``notice`` field of a delivery message, and the
# release states in which each may still go out (a release yanked mid fan-out stops its notices).
RELEASE = Notice.RELEASE
RECALL = Notice.RECALL
NOTICES: dict[str, NoticeBuilder] = {RELEASE: release_notice, RECALL: recall_notice}
SENDABLE: dict[str, tuple[str, ...]] = {RELEASE: (ReleaseStatus.PUBLISHED,), RECALL: (ReleaseStatus.YANKED,)}
# An announcement's notices (chalicelib/invites.py renders them): its calendar invitation, each move
# ("announce-update.<sequence>": one notice per revision) and its cancellation, in the announcement's states.
ANNOUNCE, UPDATE, CANCEL = Notice.ANNOUNCE, Notice.ANNOUNCE_UPDATE, Notice.ANNOUNCE_CANCEL
SENDABLE.update({ANNOUNCE: ("announced",), UPDATE: ("announced",), CANCEL: ("cancelled",)})


# What may be dropped into a rendered notice for a placeholder: what the email package would itself have written
# verbatim in a header and what needs no escaping in HTML (printable ASCII without spaces, quotes or HTML
# specials), and never the "===...==" of the template's part boundary.
_FILLABLE = re.compile(rb"[A-Za-z0-9._~:/?=#@+%-]{1,900}")
_MESSAGE_ID = re.compile(rb"^Message-ID: <[^>\r\n]*>", re.MULTILINE)


@dataclass(frozen=True)
class _Encoded:
    """A quoted-printable or base64 part of the template: its text split at the placeholders (slot numbers)."""

    encode: Callable[[bytes], bytes]
    pieces: tuple[str | int, ...]

    def fill(self, values: list[str]) -> bytes:
        return self.encode("".join([p if isinstance(p, str) else values[p] for p in self.pieces]).encode())


class NoticeTemplate:
    """One release's notice rendered once by its builder, then filled in for each recipient.

    Rendering MIME with the email package costs more CPU than the SES call that sends it (~1 ms), and
    all but four values are the same for every recipient of a batch. The template is the builder's own
    output for placeholder values (random, so no user text can contain them), cut at the placeholders once:
    the headers and 7bit parts as bytes, each quoted-printable or base64 part as its decoded text, encoded
    again per recipient after the values are in (an encoded line can break anywhere, a placeholder too).
    Each recipient gets it with their address, links and a fresh Message-ID. A value the email package
    would not have written verbatim (an internationalized address, say), or one so long that a 7bit line
    would pass 998 octets, is rendered in full instead.
    """

    def __init__(self, build: NoticeBuilder, *, sender: str, release: Release, expires: datetime, download: bool):
        tag = secrets.token_hex(12)
        self._to, self._download, self._unsubscribe = (f"{tag}.{k}@patchcast.invalid" for k in ("to", "dl", "un"))
        self._msgid = f"<{tag}.id@patchcast.invalid>"
        self._build, self._sender, self._release = build, sender, release
        self._domain = parseaddr(sender)[1].rpartition("@")[2] or "patchcast.local"
        self.expires, self.download = expires, download

    @cached_property
    def _plan(self) -> tuple[tuple[bytes | int | _Encoded, ...], int] | None:
        """(the message as fixed bytes, slots and encoded parts; the longest value a slot may take), rendered at
        the first recipient (a batch of only on-call and CSM copies never needs it); None: render each in full."""
        links = Links(self._download if self.download else None, self._unsubscribe, self.expires)
        raw = self._build(sender=self._sender, to=self._to, release=self._release, links=links)
        raw = _MESSAGE_ID.sub(lambda _: b"Message-ID: " + self._msgid.encode(), raw, count=1)
        marks = (self._to, self._unsubscribe, self._download, self._msgid)
        split = re.compile("(" + "|".join(re.escape(m) for m in marks) + ")")
        slot = {m: n for n, m in enumerate(marks)}
        plan: list[bytes | int | _Encoded] = []
        pos = 0
        for part in _leaves(email.message_from_bytes(raw, policy=_POLICY)):
            cte = str(part.get("Content-Transfer-Encoding", "7bit")).lower()
            if cte == "7bit" or cte not in ENCODERS:
                continue  # written verbatim: cut at the placeholders as bytes below
            body = part.get_content().replace("\r\n", "\n")
            encoded = ENCODERS[cte](body.encode("utf-8"))
            at = raw.find(encoded, pos)
            if at < 0:
                return None
            plan += _cut(raw[pos:at], split, slot)
            plan += _encoded(ENCODERS[cte], body, encoded, split, slot)
            pos = at + len(encoded)
        plan += _cut(raw[pos:], split, slot)
        return tuple(plan), _room(raw, marks)

    def render(self, to: str, links: Links) -> bytes:
        values = [to, links.unsubscribe, *([links.download] if links.download else [])]
        encoded = [v.encode("utf-8") for v in values]
        plan = self._plan
        if (
            plan is None
            or (links.download is not None) != self.download
            or links.expires != self.expires
            or not all(_FILLABLE.fullmatch(v) and b"==" not in v for v in encoded)  # "==": never a part boundary
            or max(map(len, encoded)) > plan[1]
        ):
            return self._build(sender=self._sender, to=to, release=self._release, links=links)
        if not self.download:  # slot 2 never occurs in the plan
            values.append("")
            encoded.append(b"")
        values.append(make_msgid(domain=self._domain))
        encoded.append(values[3].encode())
        out: list[bytes] = []
        for item in plan[0]:
            if isinstance(item, bytes):
                out.append(item)
            elif isinstance(item, int):
                out.append(encoded[item])
            else:
                out.append(item.fill(values))
        return b"".join(out)


def _leaves(msg: Any) -> list[Any]:
    return [p for p in msg.walk() if not p.is_multipart()]


def _encoded(
    encode: Callable[[bytes], bytes], body: str, encoded: bytes, split: re.Pattern[str], slot: dict[str, int]
) -> list[bytes | _Encoded]:
    """An encoded part of the plan. Quoted-printable encodes line by line, so only the lines holding a
    placeholder are encoded per recipient (checked: the lines encoded one by one must be the part as encoded)."""

    def filled(chunk: str) -> _Encoded:
        return _Encoded(encode, tuple(slot.get(p, p) for p in split.split(chunk) if p))

    if encode is not _quoted_printable:
        return [filled(body)]
    out: list[bytes | _Encoded] = []
    for line in body.splitlines(keepends=True):
        if split.search(line):
            out.append(filled(line))
        elif out and isinstance(out[-1], bytes):
            out[-1] += encode(line.encode("utf-8"))
        else:
            out.append(encode(line.encode("utf-8")))
    marks = {n: m for m, n in slot.items()}
    whole = b"".join(p if isinstance(p, bytes) else p.fill([marks[n] for n in range(len(marks))]) for p in out)
    return out if whole == encoded else [filled(body)]


def _cut(raw: bytes, split: re.Pattern[str], slot: dict[str, int]) -> list[bytes | int]:
    """Verbatim bytes cut at the placeholders (surrogateescape: an 8bit part some builder wrote survives intact)."""
    text = raw.decode("ascii", "surrogateescape")
    return [slot[p] if p in slot else p.encode("ascii", "surrogateescape") for p in split.split(text) if p]


def _room(raw: bytes, marks: tuple[str, ...]) -> int:
    """The longest value a slot may take while every line holding a placeholder stays within 998 octets
    (lines of an encoded part are encoded again, so counting them only makes the bound safer)."""
    room = MAX_LINE
    for line in raw.split(b"\r\n"):
        counts = [line.count(m.encode()) for m in marks]
        if any(counts):
            fixed = len(line) - sum(len(m) * c for m, c in zip(marks, counts, strict=True))
            room = min(room, (MAX_LINE - fixed) // sum(counts))
    return room


def confirmation(
    *, sender: str, to: str, account_name: str, products: list[str], confirm_url: str, hours: int
) -> bytes:
    msg = _base(sender, to, "Confirm your Patchcast alert subscription", None)
    product_list = ", ".join(products)
    plain = (
        f"Someone (hopefully you) asked for release alerts for {product_list} on behalf of {account_name}.\n\n"
        f"Confirm within {hours} hours: {confirm_url}\n\nIf this was not you, ignore this email; nothing will be sent.\n"
    )
    e = html.escape
    page = [
        f"<p>Someone (hopefully you) asked for release alerts for {e(product_list)} on behalf of {e(account_name)}.</p>",
        *link_lines(confirm_url, "Confirm the subscription", f" within {hours} hours."),
        "<p>If this was not you, ignore this email; nothing will be sent.</p>",
    ]
    return finish(msg, plain, html_page(page))
