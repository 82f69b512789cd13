"""End to end through the local stack (HTTP, ``patchctl``, the outbox): contracts from CSV, double opt-in,
one-click unsubscribe, beta for Elite only, the end of a support period, and SES simulator feedback."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from patchcast_tools.local import issuer
from patchcast_tools.local.stack import LocalStack
from patchcast_tools.outbox import Outbox, link
from tests.conftest import unique
from tests.e2e.conftest import patchctl

pytestmark = pytest.mark.e2e
HEADER = "account_id,name,tier,products,support_start,support_end,timezone,business_hours,csm_email,oncall_email\n"


def _bearer(stack: LocalStack, role: str, account: str | None = None, email: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(stack.state_dir, role=role, account=account, email=email)}"}


def _cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATCHCAST_STATE_DIR": str(stack.state_dir)}
    return subprocess.run([patchctl(), *args], env=env, capture_output=True, text=True, timeout=120)


def _import(stack: LocalStack, tmp: Path, rows: str, *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp / f"{unique('contracts')}.csv"
    path.write_text(HEADER + rows)
    return _cli(stack, "accounts", "import", "--api", stack.api_url, str(path), *extra)


def _product(stack: LocalStack) -> str:
    product = unique("P")
    resp = requests.put(
        f"{stack.api_url}/products/{product}",
        json={"name": product},
        headers=_bearer(stack, "support-admin"),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return product


def _wait(outbox: Outbox, match: Callable[[EmailMessage], bool], count: int = 1) -> list[EmailMessage]:
    found = outbox.wait_for(match, count=count, timeout=30)
    assert len(found) >= count, "the expected email did not arrive within 30 s"
    return found


def _to(address: str, subject_part: str) -> Callable[[EmailMessage], bool]:
    return lambda m: address in str(m["To"]) and subject_part in str(m["Subject"])


def _subscribe(
    stack: LocalStack,
    account: str,
    address: str,
    product: str,
    channels: list[str] | None = None,
    installed: list[str] | None = None,
) -> str:
    """Subscribe ``address`` to ``product``'s patches and confirm it with the button of its email."""
    body: dict[str, Any] = {"email": address, "products": [product], "kinds": ["patch"], "max_severity": 3}
    if channels:
        body["channels"] = channels
    if installed:
        body["installed"] = {product: installed}
    resp = requests.post(
        f"{stack.api_url}/subscriptions", json=body, headers=_bearer(stack, "customer", account), timeout=10
    )
    assert resp.status_code == 202, resp.text
    confirmation = _wait(Outbox(stack.outbox_dir), _to(address, "Confirm"))[-1]
    page = requests.post(link(confirmation, "/subscriptions/confirm"), timeout=10)
    assert page.status_code == 200 and "confirmed" in page.text
    return str(resp.json()["id"])


def _release(
    stack: LocalStack, product: str, channel: str = "ga", *, version: str = "", extra: tuple[str, ...] = ()
) -> str:
    """Publish a severity-2 patch of ``product`` with patchctl (``extra``: more of its options); its version."""
    version = version or unique("v")
    package = stack.state_dir / f"{version}.zip"
    package.write_bytes(os.urandom(2048))
    done = _cli(
        stack,
        "release",
        "create",
        "--api",
        stack.api_url,
        "--product",
        product,
        "--version",
        version,
        "--kind",
        "patch",
        "--severity",
        "2",
        "--channel",
        channel,
        "--title",
        "A fix",
        "--file",
        str(package),
        *extra,
    )
    assert done.returncode == 0, done.stderr
    return version


def _with_control(stack: LocalStack, tmp: Path, tier: str) -> tuple[str, tuple[str, str], tuple[str, str]]:
    """A fresh product and two confirmed subscribers on it, each in its own account of ``tier``: the one
    under test, and a control whose notice tells that a release's delivery batch has been sent."""
    product = _product(stack)
    pairs = [(unique(role), f"{unique(role)}@customer.example") for role in ("tested", "control")]
    rows = "".join(f"{a},{a.title()},{tier},{product},2026-01-01,2030-12-31,,,,\n" for a, _ in pairs)
    assert _import(stack, tmp, rows).returncode == 0
    for account, address in pairs:
        _subscribe(stack, account, address, product)
    return product, pairs[0], pairs[1]


def _none_after(outbox: Outbox, address: str, version: str) -> bool:
    time.sleep(1.0)  # the batch that reached the control address has been recorded; give the outbox a beat
    return outbox.wait_for(_to(address, version), timeout=0) == []


def test_a_csv_import_reports_rows_by_line_writes_no_bad_row_and_changes_nothing_the_second_time(
    stack: LocalStack, tmp_path: Path
) -> None:
    ok1, bad_date, bad_tier, ok2 = (unique("csv") for _ in range(4))
    rows = (
        f"{ok1},Good One,elite,M3;XA,2026-01-01,2027-12-31,Europe/Stockholm,8-17,csm@vendor.example,oncall@c.example\n"
        f"{bad_date},Bad Date,premium,M3,2026-01-01,2027-02-30,,,,\n"
        f"{bad_tier},Bad Tier,gold,M3,2026-01-01,2027-12-31,,,,\n"
        f'{ok2},"Good, Two",xtreme,M3,2026-01-01,2027-12-31,UTC,,,\n'
    )
    path = tmp_path / "contracts.csv"
    path.write_text(HEADER + rows)
    first = _cli(stack, "accounts", "import", "--api", stack.api_url, str(path))
    assert first.returncode == 1 and "Traceback" not in first.stderr
    out = first.stdout
    assert f"line 2: {ok1} created" in out and f"line 5: {ok2} created" in out
    assert f"line 3: rejected {bad_date}:" in out and "support_end" in out.split("line 3:")[1].split("line 4:")[0]
    assert f"line 4: rejected {bad_tier}:" in out and "tier" in out.split("line 4:")[1].split("line 5:")[0]
    admin = _bearer(stack, "support-admin")
    for rejected in (bad_date, bad_tier):
        assert requests.get(f"{stack.api_url}/accounts/{rejected}", headers=admin, timeout=10).status_code == 404
    got = requests.get(f"{stack.api_url}/accounts/{ok1}", headers=admin, timeout=10).json()
    assert got["business_hours"] == {"start": 8, "end": 17} and got["oncall_email"] == "oncall@c.example"

    # WHEN the same file is imported again
    second = _cli(stack, "accounts", "import", "--api", stack.api_url, "--json", str(path))
    report = json.loads(second.stdout)
    assert [(a["line"], a["changed"]) for a in report["accepted"]] == [(2, False), (5, False)]
    assert [r["line"] for r in report["rejected"]] == [3, 4]


def test_a_csv_row_with_an_encoded_word_address_or_a_line_separator_is_rejected_by_line_and_field(
    stack: LocalStack, tmp_path: Path
) -> None:
    # GIVEN rows whose on-call address hides another in an RFC 2047 encoded word, or whose name has U+2028
    encoded, separator = unique("csv"), unique("csv")
    rows = (
        f"{encoded},Encoded,xtreme,M3,2026-01-01,2027-12-31,,,,=?utf-8?q?ceo=40bank.example?=@x.example\n"
        f"{separator},Line\u2028Break,xtreme,M3,2026-01-01,2027-12-31,,,,\n"
    )
    # WHEN imported  THEN each is rejected naming its field, and neither contract exists
    out = _import(stack, tmp_path, rows).stdout
    assert f"line 2: rejected {encoded}" in out and "oncall_email" in out.split("line 2:")[1].split("line 3:")[0]
    assert f"line 3: rejected {separator}" in out and "U+2028" in out.split("line 3:")[1]
    admin = _bearer(stack, "support-admin")
    for rejected in (encoded, separator):
        assert requests.get(f"{stack.api_url}/accounts/{rejected}", headers=admin, timeout=10).status_code == 404


def test_over_http_a_second_subscription_of_an_address_is_409_and_chalices_refusals_are_in_our_shape(
    stack: LocalStack, tmp_path: Path
) -> None:
    product, account = _product(stack), unique("dup")
    assert _import(stack, tmp_path, f"{account},Dup,premium,{product},2026-01-01,2030-12-31,,,,\n").returncode == 0
    address = f"{unique('dup')}@customer.example"
    sub_id = _subscribe(stack, account, address, product)
    body = {"email": address, "products": [product], "kinds": ["patch"], "max_severity": 3}
    again = requests.post(
        f"{stack.api_url}/subscriptions", json=body, headers=_bearer(stack, "customer", account), timeout=10
    )
    assert again.status_code == 409 and again.json()["error"] == "already_subscribed" and again.json()["id"] == sub_id
    wrong_method = requests.delete(f"{stack.api_url}/health", timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"


def test_a_csv_without_required_columns_is_one_error_line_and_writes_nothing(stack: LocalStack, tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    account = unique("short")
    path.write_text(f"account_id,name,tier\n{account},X,elite\n")
    done = _cli(stack, "accounts", "import", "--api", stack.api_url, str(path))
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "line 1: missing column(s) products, support_start, support_end" in done.stderr


def test_subscribe_confirm_notice_one_click_unsubscribe_then_the_next_release_is_not_received(
    stack: LocalStack, tmp_path: Path
) -> None:
    outbox = Outbox(stack.outbox_dir)
    product, (_, address), (_, control_address) = _with_control(stack, tmp_path, "premium")

    first = _release(stack, product)
    notice = _wait(outbox, _to(address, first))[0]
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(notice["List-Unsubscribe"]).strip("<>")
    # a link scanner's GET changes nothing; the mail client's POST (no auth, no cookie) unsubscribes
    page = requests.get(url, timeout=10).text
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action and urljoin(url, html.unescape(action[1])) == url  # the button posts to the same link
    resp = requests.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert resp.status_code == 200 and not resp.cookies

    second = _release(stack, product)
    _wait(outbox, _to(control_address, second))
    assert _none_after(outbox, address, second)


def test_an_elite_account_receives_a_beta_release_that_premium_and_xtreme_with_the_same_preferences_do_not(
    stack: LocalStack, tmp_path: Path
) -> None:
    outbox = Outbox(stack.outbox_dir)
    product = _product(stack)
    accounts = {tier: unique(tier) for tier in ("elite", "premium", "xtreme")}
    # GIVEN three Elite contracts whose subscribers all opt in to beta builds
    rows = "".join(f"{a},{t} co,elite,{product},2026-01-01,2030-12-31,,,,\n" for t, a in accounts.items())
    assert _import(stack, tmp_path, rows).returncode == 0
    addresses = {tier: f"{unique(tier)}@customer.example" for tier in accounts}
    for tier, account in accounts.items():
        _subscribe(stack, account, addresses[tier], product, ["ga", "beta"])
    # WHEN two of them are renewed as Premium and Xtreme (same preferences kept)
    rows = "".join(f"{a},{t} co,{t},{product},2026-01-01,2030-12-31,,,,\n" for t, a in accounts.items())
    assert _import(stack, tmp_path, rows).returncode == 0
    # AND a beta build is released
    version = _release(stack, product, channel="beta")
    # THEN only the Elite subscriber is told
    _wait(outbox, _to(addresses["elite"], version))
    assert _none_after(outbox, addresses["premium"], version) and _none_after(outbox, addresses["xtreme"], version)
    # AND a new Premium subscription asking for beta is refused with the reason
    body = {
        "email": addresses["premium"],
        "products": [product],
        "kinds": ["patch"],
        "max_severity": 3,
        "channels": ["beta"],
    }
    resp = requests.post(
        f"{stack.api_url}/subscriptions", json=body, headers=_bearer(stack, "customer", accounts["premium"]), timeout=10
    )
    assert resp.status_code == 403 and "Elite only" in resp.json()["message"]


def test_when_the_support_period_ends_notices_stop_and_old_download_links_answer_403_with_the_reason(
    stack: LocalStack, tmp_path: Path
) -> None:
    outbox = Outbox(stack.outbox_dir)
    product, (account, address), (_, control_address) = _with_control(stack, tmp_path, "xtreme")
    first = _release(stack, product)
    download = link(_wait(outbox, _to(address, first))[0], "/d/")
    assert requests.get(download, allow_redirects=False, timeout=10).status_code == 302

    # WHEN the contract's support period ended yesterday
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    assert _import(stack, tmp_path, f"{account},Tested,xtreme,{product},2025-01-01,{yesterday},,,,\n").returncode == 0
    # THEN the next release reaches the control account only
    second = _release(stack, product)
    _wait(outbox, _to(control_address, second))
    assert _none_after(outbox, address, second)
    # AND the old link answers 403 with a reason a person can read
    resp = requests.get(download, allow_redirects=False, headers={"Accept": "application/json"}, timeout=10)
    assert resp.status_code == 403 and resp.json()["error"] == "support_period_ended"
    assert yesterday in resp.json()["message"]
    page = requests.get(download, allow_redirects=False, timeout=10)
    assert page.status_code == 403 and "ended on" in page.text
    ent = requests.get(f"{stack.api_url}/entitlements", headers=_bearer(stack, "customer", account), timeout=10).json()
    assert ent["active"] is False and ent["reason"] == "support_period_ended"


@pytest.mark.parametrize(("address", "reason"), [("bounce@simulator.amazonses.com", "bounce"),
                                                 ("complaint@simulator.amazonses.com", "complaint")])  # fmt: skip
def test_ses_simulator_feedback_suppresses_the_address_and_turns_its_subscription_off(
    stack: LocalStack, tmp_path: Path, address: str, reason: str
) -> None:
    product, account = _product(stack), unique("sim")
    assert _import(stack, tmp_path, f"{account},Sim,premium,{product},2026-01-01,2030-12-31,,,,\n").returncode == 0
    body = {"email": address, "products": [product], "kinds": ["patch"], "max_severity": 3}
    headers = _bearer(stack, "customer", account)
    assert requests.post(f"{stack.api_url}/subscriptions", json=body, headers=headers, timeout=10).status_code == 202
    # the confirmation email itself bounces (or is complained about): SES -> SNS -> the feedback handler
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        subs = requests.get(f"{stack.api_url}/subscriptions", headers=headers, timeout=10).json()["subscriptions"]
        if subs and subs[0]["status"] == "suppressed":
            break
        time.sleep(0.3)
    assert [s["status"] for s in subs] == ["suppressed"], reason
