"""Digests end to end on the local stack: two daily-digest contacts get a severity-1 release at once and, when
the day's window ends, one digest each with the day's three low-severity releases (the first replaced by its
successor), and nothing twice when the digest run is interrupted and run again.

The stack's own schedule runs the digest runner with the real clock (tomorrow's window is not due yet); the
test runs the same runner against the stack's AWS with the clock at the window's end.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from patchcast_tools.local import issuer
from patchcast_tools.local.stack import LocalStack
from patchcast_tools.outbox import Outbox, link
from tests.conftest import unique
from tests.e2e.conftest import patchctl

pytestmark = pytest.mark.e2e
DAILY = {"2": "daily", "3": "daily", "4": "daily"}


def _bearer(stack: LocalStack, role: str, account: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(stack.state_dir, role=role, account=account)}"}


def _cli(stack: LocalStack, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PATCHCAST_STATE_DIR": str(stack.state_dir)}
    done = subprocess.run(
        [patchctl(), *args, "--api", stack.api_url, "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return dict(json.loads(done.stdout)) if done.stdout.strip() else {}


def _release(stack: LocalStack, product: str, severity: int, version: str | None = None) -> tuple[str, str]:
    version = version or unique("v")
    package = stack.state_dir / f"{version}.zip"
    package.write_bytes(os.urandom(2048))
    made = _cli(
        stack,
        "release",
        "create",
        "--product",
        product,
        "--version",
        version,
        "--kind",
        "patch",
        "--severity",
        str(severity),
        "--title",
        f"Fix {version}",
        "--file",
        str(package),
    )
    return str(made["id"]), version


def _world(stack: LocalStack) -> tuple[str, str, list[str]]:
    admin = _bearer(stack, "support-admin")
    product, account = unique("P"), unique("acct")
    assert (
        requests.put(
            f"{stack.api_url}/products/{product}", json={"name": product}, headers=admin, timeout=10
        ).status_code
        == 200
    )
    contract = {
        "name": "Acme",
        "tier": "premium",
        "products": [product],
        "support_start": "2026-01-01",
        "support_end": "2030-12-31",
        "timezone": "UTC",
    }
    resp = requests.put(f"{stack.api_url}/accounts/{account}", json=contract, headers=admin, timeout=10)
    assert resp.status_code in (200, 201), resp.text
    outbox, addresses = Outbox(stack.outbox_dir), [f"{unique(p)}@customer.example" for p in ("daily", "also")]
    for address in addresses:
        body = {"email": address, "products": [product], "kinds": ["patch"], "max_severity": 4, "digest": DAILY}
        resp = requests.post(
            f"{stack.api_url}/subscriptions", json=body, headers=_bearer(stack, "customer", account), timeout=10
        )
        assert resp.status_code == 202, resp.text
        found = outbox.wait_for(lambda m, a=address: a in str(m["To"]) and "Confirm" in str(m["Subject"]), timeout=30)
        assert requests.post(link(found[-1], "/subscriptions/confirm"), timeout=10).status_code == 200
    return product, account, addresses


class _Interrupted(Exception):
    pass


def test_a_daily_digest_holds_the_days_low_releases_once_and_severity_1_goes_at_once(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters import settings, wiring
    from chalicelib.domain.digests import windows as digests
    from chalicelib.routes import link_maker
    from patchcast_tools.digests import drain

    product, _account, addresses = _world(stack)
    outbox = Outbox(stack.outbox_dir)
    # GIVEN three low-severity releases, the first replaced by a successor, and a severity-1 release
    low = [_release(stack, product, 3) for _ in range(3)]
    critical = _release(stack, product, 1)
    for address in addresses:  # THEN severity 1 arrives at once, before any window ends
        assert outbox.wait_for(
            lambda m, a=address: a in str(m["To"]) and f"{critical[1]})" in str(m["Subject"]), timeout=60
        )
    for key, value in stack.env().items():
        monkeypatch.setenv(key, value)
    settings.get.cache_clear()
    monkeypatch.setattr(wiring, "_current", None)
    w = wiring.get()
    due = digests.due_after("daily", "UTC", datetime.now(UTC))
    table = w.table

    def queued() -> int:
        got = table._db.query(
            TableName=table.name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"DIGEST#{digests.bucket(due)}"}},
            ConsistentRead=True,
        )
        return sum(1 for i in got["Items"] if i.get("email", {}).get("S") in addresses)

    successor = _release(stack, product, 3, version=unique("w"))  # a successor is newer: w… after v…
    _wait_until(lambda: queued() == 2 * 4)
    resp = requests.post(
        f"{stack.api_url}/releases/{low[0][0]}/yank",
        headers=_bearer(stack, "release-engineer"),
        json={"reason": "breaks totals", "superseded_by": successor[0]},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    assert not [m for m in outbox.messages() if "digest" in str(m["Subject"]) and str(m["To"]) in addresses]

    # WHEN the digests of the window's end are sent, the batch interrupted after the first digest
    calls = {"n": 0}
    real_send = w.mailer.send_raw

    def interrupted(to: str, raw: bytes) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise _Interrupted("the run dies")
        return real_send(to, raw)

    # (the schedule, its pages and batches driven inline; the batch that dies is received again, as SQS would)
    monkeypatch.setattr(w.mailer, "send_raw", interrupted)
    table.set_digest_cursor(digests.bucket(due))
    first = drain(table, w.mailer, link_maker(), due + timedelta(minutes=10))
    assert [type(e) for e in first.errors] == [_Interrupted] and first.dead == []
    table.set_digest_cursor(digests.bucket(due))
    assert drain(table, w.mailer, link_maker(), due + timedelta(minutes=25)).sent == 0

    # THEN each contact has exactly one digest (the outbox is written as the stack sees SES accept: a copy
    # would show within the wait for one more than expected): the successor and the other two, not the yanked
    def ours(m: Any) -> bool:
        return str(m["To"]) in addresses and "digest" in str(m["Subject"])

    found = outbox.wait_for(ours, count=len(addresses) + 1, timeout=10)
    for address in addresses:
        got = [m for m in found if address in str(m["To"])]
        assert len(got) == 1, [str(m["Subject"]) for m in got]
        text = got[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert "3 releases" in str(got[0]["Subject"])
        assert f"Fix {low[0][1]}" not in text
        for _, version in (successor, low[1], low[2]):
            assert text.count(f"Fix {version}") == 1
        assert text.count("Download: ") == 3


def _wait_until(done: Any, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "fan-out did not queue the digest items in time"
        time.sleep(0.5)
