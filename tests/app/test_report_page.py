"""The report page: the same bearer token, HTML by ``Accept: text/html`` or ``/report.html``, every text
escaped, no script, and a server-drawn SVG of emails accepted per tier over time."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.domain.mail.pacing import QuotaCache, SendQuota
from chalicelib.names import ResourceNames
from tests.app.delivery_world import load_world
from tests.conftest import auth

NAMES = ResourceNames("local")
HOSTILE = "<script>alert(1)</script> & \"quoted\" 'single'"


@pytest.fixture
def delivered(wired: Any, runner: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A release with a hostile title, published 2 s ago and delivered to one subscriber per tier."""
    monkeypatch.setitem(wired.__dict__, "quota", QuotaCache(lambda: SendQuota(0.0)))
    world = load_world(wired.table, per_tier=1)
    published = (datetime.now(UTC) - timedelta(seconds=2)).isoformat(timespec="seconds").replace("+00:00", "Z")
    release = dataclasses.replace(
        world.release, release_id=world.release.release_id + "h", version="2.0", title=HOSTILE, published_at=published
    )
    wired.table.create_release(release)
    wired.queues.send(NAMES.fanout_queue, {"release_id": release.release_id})
    for _ in range(3):
        runner.pump()
    return release.release_id


def test_the_report_page_draws_delivery_per_tier_and_escapes_every_text(app_client: Client, delivered: str) -> None:
    headers = {**auth("release-engineer"), "Accept": "text/html,application/xhtml+xml"}
    resp = app_client.http.get(f"/releases/{delivered}/report", headers=headers)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    page = resp.body.decode()
    # THEN the hostile title is text, and there is no script at all
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;" in page
    # AND the chart has a line per tier, Elite first, each up to its one accepted email
    assert page.count("<svg") == 1 and page.count("<polyline") == 3
    assert [m for m in re.findall(r"<title>(\w+): (\d+) accepted</title>", page)] == [
        ("elite", "1"),
        ("premium", "1"),
        ("xtreme", "1"),
    ]
    # AND the table has the downloaders column
    assert "downloaders" in page and "time to notice" in page
    # AND the same page at report.html; JSON stays the default
    same = app_client.http.get(f"/releases/{delivered}/report.html", headers=auth("release-engineer"))
    assert same.status_code == 200 and "<svg" in same.body.decode()
    plain = app_client.http.get(f"/releases/{delivered}/report", headers=auth("release-engineer"))
    assert plain.headers["Content-Type"] == "application/json"


def test_the_report_page_needs_a_release_engineer(app_client: Client, delivered: str) -> None:
    assert app_client.http.get(f"/releases/{delivered}/report.html").status_code == 401
    customer = auth("customer", "acct")
    assert app_client.http.get(f"/releases/{delivered}/report.html", headers=customer).status_code == 403
