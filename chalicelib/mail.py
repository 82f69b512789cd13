"""Building the emails: one MIME message per recipient, text and HTML, RFC 8058 unsubscribe headers.

Pure (no AWS). User text never reaches a header unescaped (control characters are dropped and the
email package folds and encodes) nor HTML unescaped (``html.escape`` on every interpolated value).
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from functools import cached_property
from typing import Protocol

from chalicelib.models import Release

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# Long header lines (the List-Unsubscribe URL) stay unfolded and unencoded, as RFC 8058 readers expect;
# 998 is RFC 5322's hard limit.
_POLICY = SMTP.clone(max_line_length=998)
SEVERITY_NAMES = {1: "critical", 2: "high", 3: "medium", 4: "low"}


def header_safe(value: str, *, limit: int = 200) -> str:
    return _CONTROL.sub(" ", value).strip()[:limit]


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


def ses_message_id_header(message_id: str, region: str) -> str:
    """The Message-ID header SES gives a message it accepted (it replaces any we set), from the MessageId
    that SendEmail returned: what a later message about it must reference to thread under it."""
    domain = "email.amazonses.com" if region == "us-east-1" else f"{region}.amazonses.com"
    return f"<{message_id}@{domain}>"


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
    msg.set_content("\n".join(text), cte="8bit")

    e = html.escape
    table = "".join(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    parts = [f"<h1>{e(release.title)}</h1>"]
    if note:
        parts.append(f"<p><strong>{e(note)}</strong></p>")
    parts.append(f"<p>{e(release.summary)}</p><table>{table}</table>")
    if links.download:
        parts.append(
            f'<p><a href="{e(links.download)}">Download {e(release.filename or "the package")}</a>'
            f" (the link works until {e(expires)} while your support contract is active)</p>"
        )
    parts.append(f'<p><a href="{e(links.unsubscribe)}">Unsubscribe</a></p>')
    msg.add_alternative("<html><body>" + "".join(parts) + "</body></html>", subtype="html", cte="8bit")
    return msg.as_bytes()


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
    msg.set_content("\n".join(text), cte="8bit")
    e = html.escape
    msg.add_alternative(
        f"<html><body><h1>Withdrawn: {e(release.title)}</h1><p>{e(release.product)} {e(release.kind)} "
        f"{e(release.version)} ({e(release.filename or '-')}) has been withdrawn. Do not install it; its download "
        f"links no longer work.</p><p><strong>Reason:</strong> {e(reason)}</p><p>{e(instead)}</p>"
        + (
            f'<p><a href="{e(links.download)}">Download {e(release.superseded_version or "")} instead</a></p>'
            if links.download
            else ""
        )
        + f'<p><a href="{e(links.unsubscribe)}">Unsubscribe</a></p></body></html>',
        subtype="html",
        cte="8bit",
    )
    return msg.as_bytes()


class NoticeBuilder(Protocol):
    def __call__(self, *, sender: str, to: str, release: Release, links: Links) -> bytes: ...


# The notices delivery can send about a release, by the ``notice`` field of a delivery message, and the
# release states in which each may still go out (a release yanked mid fan-out stops its notices).
NOTICES: dict[str, NoticeBuilder] = {"release": release_notice}
SENDABLE: dict[str, tuple[str, ...]] = {"release": ("published",)}
NOTICES["recall"] = recall_notice
SENDABLE["recall"] = ("yanked",)


# What may be dropped into a rendered notice byte for byte: what the email package would itself have written
# verbatim in a header and in both parts (printable ASCII without spaces, quotes or HTML specials), and
# never the "===...==" of the template's part boundary.
_FILLABLE = re.compile(rb"[A-Za-z0-9._~:/?=#@+%-]{1,900}")
_MESSAGE_ID = re.compile(rb"^Message-ID: <[^>\r\n]*>", re.MULTILINE)


class NoticeTemplate:
    """One release's notice rendered once by its builder, then filled in for each recipient.

    Rendering MIME with the email package costs more CPU than the SES call that sends it (~1.3 ms), and
    all but four values are the same for every recipient of a batch. The template is the builder's own
    output for placeholder values (random, so no user text can contain them); each recipient gets it
    with its address, links and a fresh Message-ID substituted. A value the email package would not
    have written verbatim (an internationalized address, say) is rendered in full instead.
    """

    def __init__(self, build: NoticeBuilder, *, sender: str, release: Release, expires: datetime, download: bool):
        tag = secrets.token_hex(12)
        self._to, self._download, self._unsubscribe = (f"{tag}.{k}@patchcast.invalid" for k in ("to", "dl", "un"))
        self._build, self._sender, self._release = build, sender, release
        self.expires, self.download = expires, download

    @cached_property
    def _raw(self) -> bytes:
        """Rendered at the first recipient (a batch of only on-call and CSM copies never needs it)."""
        links = Links(self._download if self.download else None, self._unsubscribe, self.expires)
        return self._build(sender=self._sender, to=self._to, release=self._release, links=links)

    def render(self, to: str, links: Links) -> bytes:
        values = [to, links.unsubscribe, *([links.download] if links.download else [])]
        encoded = [v.encode("utf-8") for v in values]
        if (
            (links.download is not None) != self.download
            or links.expires != self.expires
            or not all(_FILLABLE.fullmatch(v) and b"==" not in v for v in encoded)  # "==": never a part boundary
        ):
            return self._build(sender=self._sender, to=to, release=self._release, links=links)
        raw = self._raw.replace(self._to.encode(), encoded[0]).replace(self._unsubscribe.encode(), encoded[1])
        if self.download:
            raw = raw.replace(self._download.encode(), encoded[2])
        fresh = message_id(self._sender).encode()
        return _MESSAGE_ID.sub(lambda _: b"Message-ID: " + fresh, raw, count=1)


def confirmation(
    *, sender: str, to: str, account_name: str, products: list[str], confirm_url: str, hours: int
) -> bytes:
    msg = _base(sender, to, "Confirm your Patchcast alert subscription", None)
    product_list = ", ".join(products)
    msg.set_content(
        f"Someone (hopefully you) asked for release alerts for {product_list} on behalf of {account_name}.\n\n"
        f"Confirm within {hours} hours: {confirm_url}\n\nIf this was not you, ignore this email; nothing will be sent.\n",
        cte="8bit",
    )
    e = html.escape
    msg.add_alternative(
        f"<html><body><p>Someone (hopefully you) asked for release alerts for {e(product_list)} on behalf of "
        f'{e(account_name)}.</p><p><a href="{e(confirm_url)}">Confirm the subscription</a> within {hours} hours.</p>'
        "<p>If this was not you, ignore this email; nothing will be sent.</p></body></html>",
        subtype="html",
        cte="8bit",
    )
    return msg.as_bytes()
