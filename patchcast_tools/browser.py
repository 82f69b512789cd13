"""Debian's Chromium driven by Playwright, as the browser tests and the screenshot script launch it: the
system browser (Playwright's own builds cannot be downloaded here), headless, and without the background
connections this machine's closed network refuses."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def executable() -> str:
    """The system Chromium (``make test`` installs it with apt when it is missing)."""
    found = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if not found:
        raise RuntimeError("no Chromium at /usr/bin/chromium: apt-get install -y --no-install-recommends chromium")
    return str(found)


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=executable(), args=ARGS, headless=True)


def sign_in(page: Any, api: str, account: str, email: str, *, demo: bool = False) -> None:
    """Through the portal's sign-in as a person would: the portal sends the browser to the local sign-in
    page, which sends it back with a code; the portal's home page is where it lands."""
    page.goto(f"{api}/portal")
    page.wait_for_url("**/portal/local/authorize?**")
    if demo:
        page.get_by_role("button", name=f"Sign in as {email} ({account}").click()
    else:
        page.get_by_label("Account id").fill(account)
        page.get_by_label("Email address").fill(email)
        page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{api}/portal")
