"""The local outbox's web page over HTTP: newest first, each message rendered with its links clickable, the
HTML part sandboxed, everything from a message escaped, the raw .eml one click away."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from patchcast_tools.outbox import handler

INJECTED = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _eml(folder: Path, n: int, subject: str, when: datetime) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "alerts@patchcast.test", f"ops{n}@acme.example", subject
    msg["Date"] = format_datetime(when)
    msg.set_content(f"Download: https://api.test/d/tok{n}?a=1&b=2\nNot a link: javascript:alert(3)\n")
    msg.add_alternative(
        f"<p><a href='https://api.test/d/tok{n}'>Download</a></p><script>alert(4)</script>", subtype="html"
    )
    (folder / f"{n}.eml").write_bytes(msg.as_bytes())


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[str]:
    _eml(tmp_path, 1, "[Sev 2] [M3] the older", datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    _eml(tmp_path, 2, f"[Sev 1] [M3] {INJECTED}", datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    web = ThreadingHTTPServer(("127.0.0.1", 0), handler(tmp_path))
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{web.server_address[1]}"
    finally:
        web.shutdown()
        web.server_close()


def test_the_list_shows_time_to_and_subject_newest_first(outbox: str) -> None:
    page = requests.get(outbox, timeout=5).text
    assert page.index("ops2@acme.example") < page.index("ops1@acme.example")
    assert "2026-03-01T10:00:00+00:00" in page and "the older" in page
    assert "href='/messages/2'" in page and "href='/messages/2.eml'" in page


def test_a_subject_carrying_html_is_shown_escaped_everywhere(outbox: str) -> None:
    for path in ("/", "/messages/2"):
        page = requests.get(outbox + path, timeout=5).text
        assert "<script>" not in page and "<img" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


def test_a_message_is_rendered_with_clickable_links_and_headers_on_demand(outbox: str) -> None:
    resp = requests.get(outbox + "/messages/1", timeout=5)
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in resp.headers["Content-Security-Policy"]  # default-src 'none': no scripts at all
    page = resp.text
    assert "<a href='https://api.test/d/tok1?a=1&amp;b=2' target='_blank' rel='noopener'>" in page
    assert "javascript:alert(3)" in page and "href='javascript" not in page
    assert "<details><summary>All headers</summary>" in page and "From: alerts@patchcast.test" in page
    assert "<iframe sandbox='allow-popups allow-popups-to-escape-sandbox' src='/messages/1/html'" in page


def test_the_html_part_is_served_sandboxed(outbox: str) -> None:
    resp = requests.get(outbox + "/messages/1/html", timeout=5)
    csp = resp.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox ") and "allow-scripts" not in csp and "allow-same-origin" not in csp
    assert "default-src 'none'" in csp
    assert "href='https://api.test/d/tok1'" in resp.text and resp.text.startswith("<base target='_blank'>")


def test_the_raw_message_is_one_click_away_and_json_lists_them(outbox: str) -> None:
    raw = requests.get(outbox + "/messages/1.eml", timeout=5)
    assert raw.headers["Content-Type"] == "message/rfc822" and b"Subject: [Sev 2] [M3] the older" in raw.content
    listing = requests.get(outbox, headers={"Accept": "application/json"}, timeout=5).json()
    assert [i["n"] for i in listing] == [2, 1] and listing[0]["subject"].endswith(INJECTED)  # newest first


@pytest.mark.parametrize("path", ["/messages/3", "/messages/../1.eml", "/messages/1.txt", "/nope", "/messages/x"])
def test_anything_else_is_a_404(outbox: str, path: str) -> None:
    assert requests.get(outbox + path, timeout=5).status_code == 404
