"""The digest email: one per subscription and window, listing each release with its own download link,
size and SHA-256, built on ``chalicelib.domain.mail.mime``'s helpers (ASCII headers, lines within 998 octets,
RFC 8058 List-Unsubscribe as on every notice)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.access.links import stated
from chalicelib.domain.core.models import Release
from chalicelib.domain.mail import mime
from chalicelib.domain.mail import notices as mail


@dataclass(frozen=True)
class Entry:
    """A release as the digest lists it, with the recipient's own download link (None: no package)."""

    release: Release
    download: str | None


def _rows(release: Release) -> list[tuple[str, str]]:
    rows = [
        ("Product", release.product),
        ("Kind", release.kind),
        ("Version", release.version),
        ("Severity", f"{release.severity} ({mail.SEVERITY_NAMES.get(release.severity, '?')})"),
    ]
    if release.filename:
        rows += [
            ("File", release.filename),
            ("Size", mail.human_size(release.size)),
            ("SHA-256", release.sha256 or "-"),
        ]
    if release.article_url:
        rows.append(("Article", release.article_url))
    return rows


def digest(
    *, sender: str, to: str, frequency: str, window: str, entries: list[Entry], unsubscribe: str, expires: datetime
) -> bytes:
    """``window``: the window's end in the account's time zone, as the subject and heading show it."""
    count = f"{len(entries)} release{'s' if len(entries) != 1 else ''}"
    title = f"Your {frequency} Patchcast digest: {count} ({window})"
    msg = mime.headers(sender, to, title, unsubscribe)
    until = stated(expires)
    e = html.escape
    text = [title, ""]
    page = [f"<h1>{e(title)}</h1>"]
    for entry in entries:
        r = entry.release
        heading = mime.header_safe(mail.subject_for(r), limit=500)
        text += [heading, "", r.summary, "", *(f"{k}: {v}" for k, v in _rows(r))]
        page += [f"<h2>{e(heading)}</h2>", f"<p>{e(r.summary)}</p>", *mime.table_rows(_rows(r))]
        if entry.download:
            text.append(f"Download: {entry.download}")
            page += mime.link_lines(entry.download, f"Download {e(r.filename or 'the package')}")
        text.append("")
    note = f"Each download link works until {until} while your support contract is active."
    text += [note, "", f"Unsubscribe: {unsubscribe}", ""]
    page += [f"<p>{e(note)}</p>", *mime.link_lines(unsubscribe, "Unsubscribe")]
    return mime.finish(msg, "\n".join(text), mime.html_page(page))
