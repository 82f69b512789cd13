"""The emails about a release: its notice and its recall (``NOTICES``: what delivery sends, ``SENDABLE``: in
which states), the Message-ID a follow-up threads under, and the subscription's confirmation.

Pure (no AWS), written by ``chalicelib.domain.mail.mime``'s rules (what SES accepts). User text is cleaned at render by
``chalicelib.domain.core.text`` (old stored data cannot poison a message) and HTML-escaped on every interpolated value.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.domain.access.links import stated
from chalicelib.domain.core.models import Release
from chalicelib.domain.core.states import Notice, ReleaseStatus
from chalicelib.domain.mail.mime import finish, header_safe, headers, html_page, link_lines, table_rows, thread_under

SEVERITY_NAMES = {1: "critical", 2: "high", 3: "medium", 4: "low"}


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


def superseded(release: Release) -> str:
    """What replaces a yanked release, as a sentence."""
    successor = release.successor_name()
    if successor:
        return f"It is superseded by {successor}."
    return "No replacement has been named yet; a new notice will follow when there is one."


def subject_for(release: Release, prefix: str = "") -> str:
    return f"{prefix}[Sev {release.severity}] [{release.product}] {release.title} ({release.kind} {release.version})"


def release_notice(
    *, sender: str, to: str, release: Release, links: Links, note: str | None = None, in_reply_to: str | None = None
) -> bytes:
    """The notice of one release to one recipient, as raw RFC 5322 bytes for SES ``Content.Raw``; sent again
    later (a fresh link), it replies to the first (``in_reply_to``: that one's Message-ID)."""
    msg = headers(sender, to, subject_for(release), links.unsubscribe)
    thread_under(msg, in_reply_to)
    rows = _facts(release)
    works, works_html = _works_until(links)
    text = [header_safe(release.title, limit=500), ""]
    if note:
        text += [note, ""]
    text += [release.summary, ""]
    text += [f"{k}: {v}" for k, v in rows]
    if links.download:
        text += ["", f"Download: {links.download}", works]
    text += ["", f"Unsubscribe: {links.unsubscribe}", ""]

    e = html.escape
    page = [f"<h1>{e(release.title)}</h1>"]
    if note:
        page.append(f"<p><strong>{e(note)}</strong></p>")
    page += [f"<p>{e(release.summary)}</p>", *table_rows(rows)]
    if links.download:
        page += link_lines(links.download, f"Download {e(release.filename or 'the package')}", works_html)
    page += link_lines(links.unsubscribe, "Unsubscribe")
    return finish(msg, "\n".join(text), html_page(page))


def _facts(release: Release) -> list[tuple[str, str]]:
    """The release's facts a notice tabulates: what it is, and its file or article."""
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
    return rows


def recall_notice(*, sender: str, to: str, release: Release, links: Links, in_reply_to: str | None = None) -> bytes:
    """The recall of a yanked release, to one recipient of its notice: why, and what replaces it.

    ``links.download`` is the successor's download, for a recipient entitled to it; ``in_reply_to`` the
    Message-ID of the notice recalled, which the recall threads under.
    """
    msg = headers(sender, to, subject_for(release, "[RECALL] "), links.unsubscribe)
    thread_under(msg, in_reply_to)
    reason = release.reason or "no reason given"
    instead = superseded(release)
    e = html.escape
    page = [
        f"<h1>Withdrawn: {e(release.title)}</h1>",
        f"<p>{e(release.product)} {e(release.kind)} {e(release.version)} ({e(release.filename or '-')}) has been "
        "withdrawn. Do not install it; its download links no longer work.</p>",
        f"<p><strong>Reason:</strong> {e(reason)}</p>",
        f"<p>{e(instead)}</p>",
    ]
    if links.download:
        page += link_lines(
            links.download, f"Download {e(release.superseded_version or '')} instead", _works_until(links)[1]
        )
    page += link_lines(links.unsubscribe, "Unsubscribe")
    return finish(msg, "\n".join(_recall_text(release, links, reason, instead)), html_page(page))


def _recall_text(release: Release, links: Links, reason: str, instead: str) -> list[str]:
    """The text part of a recall: the same as its HTML, line by line."""
    get = f"Download {release.superseded_version} instead: {links.download}" if links.download else ""
    return [
        f"WITHDRAWN: {header_safe(release.title, limit=500)}",
        "",
        f"{release.product} {release.kind} {release.version} (file {release.filename or '-'}, SHA-256 "
        f"{release.sha256 or '-'}) has been withdrawn. Do not install it; its download links no longer work.",
        "",
        f"Reason: {reason}",
        instead,
        *([get, _works_until(links)[0]] if get else []),
        "",
        f"Unsubscribe: {links.unsubscribe}",
        "",
    ]


def _works_until(links: Links) -> tuple[str, str]:
    """Until when a download link works: the sentence of the text part, and what follows the link in HTML."""
    until = stated(links.expires)
    return (
        f"This link works until {until} while your support contract is active.",
        f" (the link works until {html.escape(until)} while your support contract is active)",
    )


class NoticeBuilder(Protocol):
    def __call__(self, *, sender: str, to: str, release: Release, links: Links) -> bytes: ...


# The notices delivery can send about a release, by the ``notice`` field of a delivery message, and the
# release states in which each may still go out (a release yanked mid fan-out stops its notices).
RELEASE = Notice.RELEASE
RECALL = Notice.RECALL
NOTICES: dict[str, NoticeBuilder] = {RELEASE: release_notice, RECALL: recall_notice}
SENDABLE: dict[str, tuple[str, ...]] = {RELEASE: (ReleaseStatus.PUBLISHED,), RECALL: (ReleaseStatus.YANKED,)}
# An announcement's notices (chalicelib/domain/announcements/invites.py renders them): its calendar invitation, each move
# ("announce-update.<sequence>": one notice per revision) and its cancellation, in the announcement's states.
ANNOUNCE, UPDATE, CANCEL = Notice.ANNOUNCE, Notice.ANNOUNCE_UPDATE, Notice.ANNOUNCE_CANCEL
SENDABLE.update({ANNOUNCE: ("announced",), UPDATE: ("announced",), CANCEL: ("cancelled",)})


def confirmation(
    *, sender: str, to: str, account_name: str, products: list[str], confirm_url: str, hours: int
) -> bytes:
    msg = headers(sender, to, "Confirm your Patchcast alert subscription", None)
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
