"""The CSM's review and the support-period warnings on the whole local stack: a run of the review schedule
delivers a report whose counts match the release report, and an account 30 days from its end gets exactly
one warning per contact however often the schedule runs (the local runner fires schedules every 5 s)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from patchcast_tools.local import issuer
from patchcast_tools.local.stack import LocalStack
from patchcast_tools.outbox import Outbox, link
from tests.conftest import unique
from tests.e2e.conftest import patchctl

pytestmark = pytest.mark.e2e
# Reviews of one-minute periods, so that the period just ended is a minute ago, not last month.
STACK_ENV = {"PATCHCAST_REVIEW_PERIOD": "1min"}
HEADER = "account_id,name,tier,products,support_start,support_end,timezone,business_hours,csm_email,oncall_email\n"
COUNTED = ("notified", "failed", "suppressed", "oncall_copies", "csm_copies", "downloaded", "downloaders", "recalled")


def _cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATCHCAST_STATE_DIR": str(stack.state_dir)}
    return subprocess.run(
        [patchctl(), *args, "--api", stack.api_url], env=env, capture_output=True, text=True, timeout=120
    )


def _bearer(stack: LocalStack, role: str, account: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(stack.state_dir, role=role, account=account)}"}


def _contract(stack: LocalStack, tmp: Path, tier: str, end: str) -> tuple[str, str, str, str]:
    """A fresh product, a contract for it with a CSM and one confirmed subscriber: (product, account, csm, address)."""
    product, account = unique("P"), unique("acct")
    csm, address = f"{unique('csm')}@vendor.example", f"{unique('ops')}@customer.example"
    resp = requests.put(
        f"{stack.api_url}/products/{product}",
        json={"name": product},
        headers=_bearer(stack, "support-admin"),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    path = tmp / f"{account}.csv"
    path.write_text(HEADER + f"{account},Tested,{tier},{product},2026-01-01,{end},,,{csm},\n")
    assert _cli(stack, "accounts", "import", str(path)).returncode == 0
    body = {"email": address, "products": [product], "kinds": ["patch"], "max_severity": 3}
    resp = requests.post(
        f"{stack.api_url}/subscriptions", json=body, headers=_bearer(stack, "customer", account), timeout=10
    )
    assert resp.status_code == 202, resp.text
    confirmation = Outbox(stack.outbox_dir).wait_for(lambda m: address in str(m["To"]), timeout=30)
    assert requests.post(link(confirmation[-1], "/subscriptions/confirm"), timeout=10).status_code == 200
    return product, account, csm, address


def _csv(msg: EmailMessage) -> list[dict[str, str]]:
    part: Any = next(p for p in msg.walk() if p.get_content_type() == "text/csv")
    return list(csv.DictReader(io.StringIO(part.get_content())))


def test_a_run_of_the_review_schedule_delivers_a_report_whose_counts_match_the_release_report(
    stack: LocalStack, tmp_path: Path
) -> None:
    outbox = Outbox(stack.outbox_dir)
    product, _, csm, address = _contract(stack, tmp_path, "elite", "2030-12-31")
    if datetime.now(UTC).second > 20:  # publish, deliver and download within one review period (a minute)
        time.sleep(61 - datetime.now(UTC).second)
    # GIVEN a release of the product, delivered to the subscriber, who downloads it
    package = tmp_path / "fix.zip"
    package.write_bytes(os.urandom(2048))
    done = _cli(
        stack,
        "release",
        "create",
        "--product",
        product,
        "--version",
        "1.0",
        "--kind",
        "patch",
        "--severity",
        "2",
        "--title",
        "A fix",
        "--file",
        str(package),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    release_id = json.loads(done.stdout)["id"]
    notice = outbox.wait_for(lambda m: address in str(m["To"]) and "[Sev 2]" in str(m["Subject"]), timeout=30)
    assert notice, "the notice did not arrive"
    assert requests.get(link(notice[0], "/d/"), allow_redirects=False, timeout=10).status_code == 302
    # WHEN the schedule reviews the period (the minute) it was published in
    reviews = outbox.wait_for(
        lambda m: (
            csm in str(m["To"])
            and str(m["Subject"]).startswith("[Review]")
            and any(r["release_id"] == release_id for r in _csv(m))
        ),
        timeout=120,
    )
    # THEN the CSM got one review of it, whose counts are the release report's (the account is Elite's only one)
    assert len(reviews) == 1
    row = next(r for r in _csv(reviews[0]) if r["release_id"] == release_id)
    report = json.loads(_cli(stack, "release", "report", release_id, "--json").stdout)
    assert {c: int(row[c]) for c in COUNTED} == {c: report["tiers"]["elite"][c] for c in COUNTED}
    assert (int(row["notified"]), int(row["downloaders"])) == (1, 1)
    # AND patchctl shows the same review as JSON
    period_from = str(reviews[0]["Subject"]).split()[2]
    shown = _cli(stack, "accounts", "review", _account_of(reviews[0]), "--from", period_from, "--json")
    assert shown.returncode == 0, shown.stderr
    part = next(r for r in json.loads(shown.stdout)["releases"] if r["id"] == release_id)
    assert {c: part["counts"][c] for c in COUNTED} == {c: int(row[c]) for c in COUNTED}


def _account_of(review: EmailMessage) -> str:
    return str(review["Subject"]).split()[1]


def test_an_account_30_days_from_its_end_gets_exactly_one_warning_however_often_the_schedule_runs(
    stack: LocalStack, tmp_path: Path
) -> None:
    outbox = Outbox(stack.outbox_dir)
    # GIVEN a contract with a subscribed contact, then imported again to end in 30 days (before that, a run
    # could warn the CSM alone: a contact who subscribes after a warning went out gets the next one), in a
    # zone where it is now 08:00 to 11:59 of today's UTC date, so that its warning is due (from 07:00 there)
    end = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    offset = min(max(8 - datetime.now(UTC).hour, -12), 14)
    zone = f"Etc/GMT{-offset:+d}" if offset else "UTC"  # Etc/GMT-8 is 8 hours east of UTC
    product, account, csm, address = _contract(stack, tmp_path, "premium", "2030-12-31")
    path = tmp_path / "ending.csv"
    path.write_text(HEADER + f"{account},Tested,premium,{product},2026-01-01,{end},{zone},,{csm},\n")
    assert _cli(stack, "accounts", "import", str(path)).returncode == 0

    def warnings() -> list[EmailMessage]:
        return [
            m
            for m in outbox.messages()
            if str(m["Subject"]).startswith("[Support ending]") and (csm in str(m["To"]) or address in str(m["To"]))
        ]

    # WHEN the schedule has run several times (every 5 s locally) after the first warning
    first = outbox.wait_for(lambda m: address in str(m["To"]) and "[Support ending]" in str(m["Subject"]), timeout=60)
    assert first, "no warning within 60 s"
    time.sleep(16)
    # THEN the contact and the CSM got one each
    assert sorted(str(m["To"]) for m in warnings()) == sorted([address, csm])
    assert end in str(first[0]["Subject"]) and "in 30 days" in str(first[0]["Subject"])
