"""An announcement end to end on the local stack, through ``patchctl``: it reaches the Elite contact and
the CSM with a calendar invitation a calendar program reads, and no Premium or Xtreme contact; the release
published later threads its notice under it, and the announcement is listed as released."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import pytest

from patchcast_tools.local.stack import LocalStack
from patchcast_tools.outbox import Outbox
from tests.e2e.conftest import patchctl

pytestmark = pytest.mark.e2e
ELITE = sorted(["ops@acme.example", "csm.acme@vendor.example"])
OTHERS = ("it@globex.example", "admin@initech.example")


def _cli(stack: LocalStack, *args: str) -> Any:
    env = {**os.environ, "PATCHCAST_STATE_DIR": str(stack.state_dir)}
    done = subprocess.run(
        [patchctl(), *args, "--api", stack.api_url, "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def _event(msg: EmailMessage) -> Any:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REQUEST"
    cal = icalendar.Calendar.from_ical(part.get_content())
    assert str(cal["METHOD"]) == "REQUEST" and str(cal["VERSION"]) == "2.0"
    return cal.walk("VEVENT")[0]


def test_an_announcement_reaches_elite_only_and_the_release_threads_under_it(stack: LocalStack, tmp_path: Path) -> None:
    outbox, version = Outbox(stack.outbox_dir), f"14.{uuid.uuid4().hex[:6]}"
    planned = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()

    # WHEN a release engineer announces an M3 service pack
    created = _cli(
        stack,
        "announce",
        "create",
        "--product",
        "M3",
        "--kind",
        "service-pack",
        "--version",
        version,
        "--planned-for",
        planned,
        "--title",
        "Service pack 14",
        "--summary",
        "Ledger speed-ups.",
    )

    # THEN the elite contact and the CSM get it, each with a calendar invitation, and nobody else
    def about(m: EmailMessage) -> bool:
        return f" {version})" in str(m["Subject"]) and "[Planned]" in str(m["Subject"])

    sent = outbox.wait_for(about, count=len(ELITE), timeout=60)
    assert sorted(str(m["To"]) for m in sent) == ELITE
    for msg in sent:
        event = _event(msg)
        assert str(event["UID"]).startswith(created["id"]) and int(event["SEQUENCE"]) == 0 and "DTSTAMP" in event
        assert event.decoded("DTSTART").isoformat() == planned
        assert str(event["ORGANIZER"]) == "mailto:csm.acme@vendor.example"

    # WHEN the release of that version is published
    fix = tmp_path / "sp.zip"
    fix.write_bytes(os.urandom(4096))
    _cli(
        stack,
        "release",
        "create",
        "--product",
        "M3",
        "--version",
        version,
        "--kind",
        "service-pack",
        "--severity",
        "3",
        "--title",
        "Service pack 14",
        "--file",
        str(fix),
    )

    # THEN the elite contact's notice replies to the announcement it got; premium and xtreme get only the notice
    notices = outbox.wait_for(
        lambda m: str(m["Subject"]).startswith("[Sev 3]") and f" {version})" in str(m["Subject"]), count=3, timeout=60
    )
    by_address = {str(m["To"]): m for m in notices}
    announced = next(m for m in sent if str(m["To"]) == "ops@acme.example")
    assert by_address["ops@acme.example"]["In-Reply-To"] == announced["Message-ID"]
    assert all(by_address[a]["In-Reply-To"] is None for a in OTHERS)
    assert not [m for m in outbox.messages() if about(m) and str(m["To"]) in OTHERS]
    listed = _cli(stack, "announce", "list")["items"]
    assert next(a for a in listed if a["id"] == created["id"])["status"] == "released"
