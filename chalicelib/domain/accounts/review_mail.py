"""The CSM's review as an email: a readable text and HTML body, and the per-release table as a CSV attachment
(multipart/mixed around multipart/alternative). Pure (no AWS); what SES accepts, as ``chalicelib.domain.mail.mime``
makes it: ASCII headers, every line within 998 octets, user text cleaned and HTML-escaped."""

from __future__ import annotations

import csv
import html
import io
import secrets
from datetime import datetime
from typing import Any

from chalicelib.domain.accounts.periods import local_day
from chalicelib.domain.accounts.review_csv import csv_rows
from chalicelib.domain.core import text as safe_text
from chalicelib.domain.mail import mime

# A cell a spreadsheet would run as a formula starts with one of these: it is quoted (OWASP, CSV injection).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_text(review: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv_rows(review):
        writer.writerow([f"'{c}" if c.startswith(_FORMULA) else safe_text.clean(c) for c in row])
    return out.getvalue()


def _lines(review: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The body as (text lines, HTML lines)."""
    e, t = html.escape, review["totals"]
    period = f"{review['period']['from']} to {review['period']['to']}"
    head = (
        f"Review of account {review['account_id']} ({mime.header_safe(review['name'])}), {period}: "
        f"{t['releases']} release(s), {t['notified']} contact notice(s), {t['downloaders']} downloader(s). "
        f"{review['days_left']} day(s) left in the support period (it ends on {review['support_end']})."
    )
    text, page = [head, ""], [f"<p>{e(head)}</p>", "<h2>Releases</h2>", "<ul>"]
    for p in review["releases"]:
        c = p["counts"]
        line = (
            f"{p['product']} {p['kind']} {p['version']} (severity {p['severity']}, {p['status']}): "
            f"{mime.header_safe(p['title'], limit=300)}. Notified {c['notified']}, failed {c['failed']}, "
            f"suppressed {c['suppressed']}; {c['downloaders']} downloader(s), {c['downloaded']} download(s)."
        )
        who = [f"notified {n['email']} ({n['role']}, {n['status']}) at {n['at']}" for n in p["notified"]]
        who += [f"downloaded by {d['email']} first at {d['first_at']} ({d['clicks']} click(s))" for d in p["downloads"]]
        text += [f"- {line}", *(f"    {w}" for w in who)]
        page += [f"<li>{e(line)}<ul>", *(f"<li>{e(w)}</li>" for w in who), "</ul></li>"]
    page.append("</ul>")
    for title, items in _sections(review):
        text += ["", f"{title}:", *(f"- {i}" for i in items or ["none"])]
        page += [f"<h2>{e(title)}</h2>", "<ul>", *(f"<li>{e(i)}</li>" for i in items or ["none"]), "</ul>"]
    text += ["", "The attached CSV holds one row per release."]
    return text, page


def _sections(review: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The review's lists after its releases, each under its title: what nobody downloaded, the recalls, the
    suppressed and the bouncing contacts."""
    return [
        (
            "Nobody has downloaded yet",
            [
                f"severity {w['severity']}: {w['product']} {w['version']} {mime.header_safe(w['title'], limit=300)}"
                for w in review["not_downloaded"]
            ],
        ),
        (
            "Recalls",
            [
                f"{r['version']} ({r['id']}): {len(r['recalled'])} recall notice(s); the recalled build was "
                f"{'downloaded' if r['build_downloaded'] else 'not downloaded'}"
                for r in review["recalls"]
            ],
        ),
        ("Suppressed contacts", [f"{s['email']} ({s['role']})" for s in review["contacts"]["suppressed"]]),
        (
            "Bouncing contacts",
            [f"{b['email']}: {b['transient_bounces']} transient bounce(s)" for b in review["contacts"]["bouncing"]],
        ),
    ]


def _day(review: dict[str, Any], bound: str) -> str:
    """A bound of the review's period as a date of the account's zone (a Berlin March starts 28 February, 23:00 UTC)."""
    at = datetime.fromisoformat(review["period"][bound].replace("Z", "+00:00"))
    return local_day(at, review.get("timezone") or "UTC").isoformat()


def _part(content_type: str, body: str, extra: str = "") -> bytes:
    cte, data = mime.encode_body(safe_text.clean(body, multiline=True))
    return f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {cte}\r\n{extra}\r\n".encode() + data


def review_email(*, sender: str, to: str, review: dict[str, Any]) -> bytes:
    """The review of one account and period for its CSM."""
    start, end = (_day(review, bound) for bound in ("from", "to"))
    subject = f"[Review] {review['account_id']} {start} to {end}"
    msg = mime.headers(sender, to, subject, None)  # to the contract's CSM, not a subscriber: no unsubscribe
    text, page = _lines(review)
    mixed, alternative = (f"==============={secrets.token_hex(12)}==" for _ in range(2))
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = f'multipart/mixed; boundary="{mixed}"'
    filename = f"review-{review['account_id']}-{start}.csv"  # account ids are [A-Za-z0-9._-]
    out = [*(mime.POLICY.fold_binary(k, v) for k, v in msg.raw_items()), b"\r\n"]
    out += [f'--{mixed}\r\nContent-Type: multipart/alternative; boundary="{alternative}"\r\n\r\n'.encode()]
    for subtype, body in (("plain", "\n".join(text) + "\n"), ("html", mime.html_page(page))):
        out += [f"--{alternative}\r\n".encode(), _part(f'text/{subtype}; charset="utf-8"', body), b"\r\n"]
    out += [f"--{alternative}--\r\n--{mixed}\r\n".encode()]
    disposition = f'Content-Disposition: attachment; filename="{filename}"\r\n'
    out += [_part(f'text/csv; charset="utf-8"; name="{filename}"', csv_text(review), disposition), b"\r\n"]
    out.append(f"--{mixed}--\r\n".encode())
    return b"".join(out)
