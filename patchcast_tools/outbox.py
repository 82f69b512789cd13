"""The local outbox (``<state>/outbox/<n>.eml``): reading it (the demo, the end-to-end tests and the
benchmark all wait on it the same way) and its web page, where each message is shown rendered.

The page escapes everything it shows from a message; the HTML part is served on its own URL under a
CSP ``sandbox`` (no scripts, no same origin) inside an ``<iframe sandbox>``, its links opening a new tab.
"""

from __future__ import annotations

import email
import html
import json
import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

_LINK = re.compile(r"https?://[^\s\"'<>]+")
_MESSAGE = re.compile(r"/messages/(\d{1,9})(\.eml|/html)?")
_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src data:"
# The HTML part is someone's markup: no scripts, no forms, no same-origin; popups only, for its links.
_PART_CSP = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
)
_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{padding:.3em .8em;"
    "text-align:left;border-bottom:1px solid #ddd}pre{white-space:pre-wrap}iframe{width:100%;height:32em;"
    "border:1px solid #ccc}"
)


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def messages(self) -> list[EmailMessage]:
        return [read(p) for p in self.paths()]

    def paths(self) -> list[Path]:
        return sorted(self.dir.glob("*.eml"), key=lambda p: int(p.stem)) if self.dir.exists() else []

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address in str(m["To"])]

    def wait_for(
        self, match: Callable[[EmailMessage], bool], *, count: int = 1, timeout: float = 30
    ) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages() if match(m)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def listing(self) -> list[dict[str, object]]:
        """Every message, newest first (the page and its JSON alike): number, to, subject, time, file."""
        items: list[dict[str, object]] = []
        for path in reversed(self.paths()):
            msg = read(path)
            items.append(
                {
                    "n": int(path.stem),
                    "to": str(msg["To"] or ""),
                    "subject": str(msg["Subject"] or ""),
                    "date": _date(msg),
                    "file": str(path),
                }
            )
        return items


def read(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=default)  # type: ignore[return-value]


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    return body.get_content() if body is not None else ""


def link(msg: EmailMessage, marker: str) -> str:
    for url in _LINK.findall(text_of(msg)):
        if marker in url:
            return url
    raise LookupError(f"no link containing {marker!r} in the message to {msg['To']}")


def _date(msg: EmailMessage) -> str:
    try:
        return parsedate_to_datetime(str(msg["Date"])).isoformat() if msg["Date"] else ""
    except (TypeError, ValueError):
        return str(msg["Date"])


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _linked(text: str) -> str:
    """Plain text as HTML: escaped, its http(s) links clickable (no other scheme becomes a link)."""
    out, last = [], 0
    for match in _LINK.finditer(text):
        out += [
            _e(text[last : match.start()]),
            f"<a href='{_e(match[0])}' target='_blank' rel='noopener'>{_e(match[0])}</a>",
        ]
        last = match.end()
    return "".join([*out, _e(text[last:])])


def _page(title: str, inner: str) -> bytes:
    return f"<!doctype html><meta charset='utf-8'><title>{_e(title)}</title><style>{_STYLE}</style>{inner}".encode()


def index_page(items: list[dict[str, object]]) -> bytes:
    rows = "".join(
        f"<tr><td>{_e(i['date'])}</td><td>{_e(i['to'])}</td><td><a href='/messages/{i['n']}'>{_e(i['subject'])}</a>"
        f"</td><td><a href='/messages/{i['n']}.eml'>.eml</a></td></tr>"
        for i in sorted(items, key=lambda i: int(str(i["n"])), reverse=True)  # newest first
    )
    head = "<tr><th>time</th><th>to</th><th>subject</th><th>raw</th></tr>"
    return _page("Patchcast outbox", f"<h1>Outbox ({len(items)})</h1><table>{head}{rows}</table>")


def message_page(n: int, msg: EmailMessage) -> bytes:
    summary = "".join(f"<tr><th>{h}</th><td>{_e(msg[h] or '')}</td></tr>" for h in ("From", "To", "Subject", "Date"))
    headers = "".join(f"{_e(k)}: {_e(v)}\n" for k, v in msg.items())
    parts = [
        f"<p><a href='/'>&larr; outbox</a> &middot; <a href='/messages/{n}.eml'>raw .eml</a></p>",
        f"<table>{summary}</table>",
        f"<details><summary>All headers</summary><pre>{headers}</pre></details>",
    ]
    if msg.get_body(("html",)) is not None:
        parts.append(
            f"<h2>HTML part</h2><iframe sandbox='allow-popups allow-popups-to-escape-sandbox' "
            f"src='/messages/{n}/html' title='the HTML part'></iframe>"
        )
    if msg.get_body(("plain",)) is not None:
        parts.append(f"<h2>Text part</h2><pre>{_linked(text_of(msg))}</pre>")
    return _page(str(msg["Subject"] or f"message {n}"), "".join(parts))


def html_part(msg: EmailMessage) -> bytes:
    body = msg.get_body(("html",))
    content = body.get_content() if body is not None else ""
    return ("<base target='_blank'>" + content).encode()  # its links open a tab, not inside the frame


Answer = tuple[int, str, bytes, dict[str, str]]  # status, content type, body, more headers


def respond(outbox: Outbox, path: str, accept: str = "") -> Answer:
    """The outbox's web pages: ``/`` (HTML, or JSON with ``Accept: application/json`` or ``/messages.json``),
    ``/messages/<n>`` rendered, ``/messages/<n>/html`` its HTML part, ``/messages/<n>.eml`` as sent."""
    path = path.split("?", 1)[0]
    if path in ("/", "/messages.json"):
        items = outbox.listing()
        if path.endswith(".json") or "json" in accept:
            return 200, "application/json", json.dumps(items).encode(), {}
        return 200, "text/html; charset=utf-8", index_page(items), {"Content-Security-Policy": _PAGE_CSP}
    match = _MESSAGE.fullmatch(path)
    file = outbox.dir / f"{match[1]}.eml" if match else None
    if match is None or file is None or not file.is_file():
        return 404, "text/plain; charset=utf-8", b"no such message", {}
    if match[2] == ".eml":
        return 200, "message/rfc822", file.read_bytes(), {"Content-Disposition": f"inline; filename={match[1]}.eml"}
    if match[2] == "/html":
        return 200, "text/html; charset=utf-8", html_part(read(file)), {"Content-Security-Policy": _PART_CSP}
    page = message_page(int(match[1]), read(file))
    return 200, "text/html; charset=utf-8", page, {"Content-Security-Policy": _PAGE_CSP}


def handler(directory: Path, before: Callable[[], None] = lambda: None) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler serving ``respond``; ``before`` runs first on each request (the local AWS writes out
    what SES accepted since)."""
    outbox = Outbox(directory)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet: the stack prints what matters
            pass

        def do_GET(self) -> None:  # noqa: N802
            before()
            status, ctype, body, headers = respond(outbox, self.path, self.headers.get("Accept", ""))
            self.send_response(status)
            for name, value in {
                "Content-Type": ctype,
                "Content-Length": str(len(body)),
                "X-Content-Type-Options": "nosniff",
                **headers,
            }.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler
