"""The portal in a real browser against the local stack: a customer signs in, pre-registers, confirms with
the button, gets a notice, downloads the fix from the fixes page (SHA-256 checked), changes preferences,
unsubscribes and signs out; a lapsed account meets the refusal page."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from patchcast_tools.browser import sign_in
from patchcast_tools.local import issuer
from patchcast_tools.local.stack import LocalStack
from patchcast_tools.outbox import Outbox, link
from tests.conftest import unique
from tests.e2e.conftest import patchctl

pytestmark = pytest.mark.e2e


def _contract(stack: LocalStack, tier: str, end: str = "2030-12-31") -> str:
    account = unique("web")
    body = {
        "name": f"Web {tier} & <Co>",
        "tier": tier,
        "products": ["M3"],
        "support_start": "2026-01-01",
        "support_end": end,
    }
    admin = {"Authorization": f"Bearer {issuer.mint(stack.state_dir, role='support-admin')}"}
    resp = requests.put(f"{stack.api_url}/accounts/{account}", json=body, headers=admin, timeout=10)
    assert resp.status_code == 200, resp.text
    return account


def _mail(stack: LocalStack, address: str, subject: str) -> Any:
    found = Outbox(stack.outbox_dir).wait_for(
        lambda m: address in str(m["To"]) and subject in str(m["Subject"]), timeout=30
    )
    assert found, f"no email to {address} with {subject!r} within 30 s"
    return found[-1]


def _publish(stack: LocalStack, data: bytes) -> str:
    version = unique("13.9.")
    package = stack.state_dir / f"{version}.zip"
    package.write_bytes(data)
    done = subprocess.run(
        [
            patchctl(),
            "release",
            "create",
            "--api",
            stack.api_url,
            "--product",
            "M3",
            "--version",
            version,
            "--kind",
            "critical-solution",
            "--severity",
            "1",
            "--title",
            "Ledger <b>lock</b> fix",
            "--file",
            str(package),
        ],
        env={**os.environ, "PATCHCAST_STATE_DIR": str(stack.state_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return version


# Every visible control labelled (or named, for buttons and links), and headings that never skip a level.
_A11Y = """() => {
  const unlabelled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(e => e.labels.length === 0).map(e => e.outerHTML);
  const unnamed = [...document.querySelectorAll('button, a')].filter(e => !e.textContent.trim()).map(e => e.outerHTML);
  const levels = [...document.querySelectorAll('h1, h2, h3, h4')].map(h => +h.tagName[1]);
  const skips = levels.filter((l, i) => i === 0 ? l !== 1 : l > levels[i - 1] + 1);
  return {unlabelled, unnamed, skips};
}"""


def _accessible(page: Any) -> None:
    assert page.evaluate(_A11Y) == {"unlabelled": [], "unnamed": [], "skips": []}, page.url


def test_every_page_labels_its_controls_keeps_headings_in_order_and_is_keyboard_reachable(
    stack: LocalStack, page: Any
) -> None:
    page.goto(f"{stack.api_url}/portal")
    _accessible(page)  # the local sign-in page
    sign_in(page, stack.api_url, "globex", "it@globex.example", demo=True)
    for path in ("/portal", "/portal/alerts", "/portal/fixes", "/portal/signed-out"):
        page.goto(f"{stack.api_url}{path}")
        _accessible(page)
    # the subscribe button is reached from the address field with the keyboard alone
    page.goto(f"{stack.api_url}/portal/alerts")
    page.locator("#new-email").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Subscribe":
            break
    else:
        raise AssertionError("the Subscribe button is not reachable with Tab")


def test_a_customer_does_everything_in_the_browser(stack: LocalStack, page: Any, tmp_path: Path) -> None:
    api, account, address = stack.api_url, _contract(stack, "premium"), f"{unique('web')}@customer.example"
    # sign in
    sign_in(page, api, account, address)
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, Web premium & <Co>"  # escaped, shown as text
    assert "Xtreme Premium" in page.content() and "days left" in page.content()
    # pre-register for critical-solution alerts
    page.get_by_role("link", name="Alerts").click()
    page.get_by_label("Email address").fill(address)
    page.locator("#new-kind-critical-solution").check()
    page.get_by_label("Alert me up to severity").select_option("2")
    page.get_by_role("button", name="Subscribe").click()
    assert "check the inbox" in page.get_by_role("status").inner_text()
    assert "pending" in page.locator("article").inner_text()
    # the confirmation email; its link opens a page, and only the button confirms
    confirm = link(_mail(stack, address, "Confirm"), "/subscriptions/confirm")
    page.goto(confirm)
    assert page.get_by_role("heading", level=1).inner_text() == "Confirm your subscription"
    page.goto(f"{api}/portal/alerts")
    assert "pending" in page.locator("article").inner_text()  # the GET confirmed nothing
    page.goto(confirm)
    page.get_by_role("button", name="Confirm my subscription").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Subscription confirmed"
    page.goto(f"{api}/portal/alerts")
    assert "active" in page.locator("article h3").inner_text()
    # a release notice arrives
    data = os.urandom(64 * 1024)
    version = _publish(stack, data)
    notice = _mail(stack, address, version)
    # find it in fixes and download it: the bytes match the SHA-256 the page shows
    page.goto(f"{api}/portal/fixes")
    page.get_by_label("Kind").select_option("critical-solution")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("tr", has_text=version)
    assert "Ledger <b>lock</b> fix" in row.inner_text()
    shown = re.search(r"SHA-256 ([0-9a-f]{64})", row.inner_text()).group(1)  # type: ignore[union-attr]
    with page.expect_download() as download:
        row.get_by_role("link", name=f"Download M3 {version}").click()
    got = Path(download.value.path()).read_bytes()
    assert hashlib.sha256(got).hexdigest() == shown == hashlib.sha256(data).hexdigest()
    # change preferences
    page.goto(f"{api}/portal/alerts")
    page.locator("details summary").click()
    page.locator("article input[value='patch']").check()
    page.get_by_role("button", name="Save changes").click()
    assert page.get_by_role("status").inner_text() == "Preferences saved."
    assert (
        "critical-solution, patch" in page.locator("article").inner_text()
        or "patch, critical-solution" in page.locator("article").inner_text()
    )
    # unsubscribe with the notice's link (a page with a button, as the notice says)
    page.goto(link(notice, "/unsubscribe"))
    page.get_by_role("button", name="Unsubscribe").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Unsubscribed"
    page.goto(f"{api}/portal/alerts")
    assert "unsubscribed" in page.locator("article h3").inner_text()
    # sign out: the session is gone, the portal asks to sign in again
    page.get_by_role("button", name=re.compile("^Sign out")).click()
    assert page.get_by_role("heading", level=1).inner_text() == "Signed out"
    page.goto(f"{api}/portal/alerts")
    page.wait_for_url("**/portal/local/authorize?**")


def test_a_lapsed_account_sees_the_refusal_page(stack: LocalStack, page: Any) -> None:
    account = _contract(stack, "xtreme", end="2026-01-31")
    sign_in(page, stack.api_url, account, f"{unique('late')}@customer.example")
    assert "support period" in page.content() and "ended" in page.content()
    page.get_by_role("link", name="Fixes").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Not available to you"
    assert "renew the support contract" in page.content()
    assert page.get_by_role("link", name="Back to the portal").is_visible()


def test_the_local_sign_in_page_offers_the_demo_users(stack: LocalStack, page: Any) -> None:
    sign_in(page, stack.api_url, "acme", "ops@acme.example", demo=True)
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome, Acme Industries"
    assert "Xtreme Elite" in page.content()
