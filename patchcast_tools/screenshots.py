"""``python -m patchcast_tools.screenshots``: the portal's screenshots in docs/screenshots/, made on a fresh
local stack with the same Chromium and Playwright as the browser tests (sign-in page, home, alerts and
fixes on a desktop, fixes on a phone)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from patchcast_tools.browser import launch, sign_in
from patchcast_tools.local.stack import ROOT, LocalStack
from patchcast_tools.outbox import Outbox

OUT = ROOT / "docs" / "screenshots"


def _release(stack: LocalStack) -> None:
    package = stack.state_dir / "m3-13.5.0.zip"
    package.write_bytes(os.urandom(300 * 1024))
    cli = [
        str(Path(sys.executable).with_name("patchctl")),
        "release",
        "create",
        "--api",
        stack.api_url,
        "--product",
        "M3",
        "--version",
        "13.5.0",
        "--kind",
        "critical-solution",
        "--severity",
        "1",
        "--title",
        "Ledger lock on month-end close",
        "--file",
        str(package),
    ]
    env = {**os.environ, "PATCHCAST_STATE_DIR": str(stack.state_dir)}
    subprocess.run(cli, env=env, check=True, capture_output=True, timeout=120)
    Outbox(stack.outbox_dir).wait_for(lambda m: "13.5.0" in str(m["Subject"]), count=3, timeout=60)


def shoot(stack: LocalStack, out: Path = OUT) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    _release(stack)
    shots: list[Path] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.goto(f"{stack.api_url}/portal")
        page.wait_for_url("**/portal/local/authorize?**")
        shots.append(out / "portal-sign-in.png")
        page.screenshot(path=shots[-1], full_page=True)
        sign_in(page, stack.api_url, "acme", "ops@acme.example", demo=True)
        for name, path in (
            ("portal-home.png", "/portal"),
            ("portal-alerts.png", "/portal/alerts"),
            ("portal-fixes.png", "/portal/fixes"),
        ):
            page.goto(f"{stack.api_url}{path}")
            shots.append(out / name)
            page.screenshot(path=shots[-1], full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{stack.api_url}/portal/fixes")
        shots.append(out / "portal-fixes-phone.png")
        phone.screenshot(path=shots[-1], full_page=True)
        browser.close()
    return shots


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="patchcast-shots-") as tmp:
        stack = LocalStack.on_free_ports(Path(tmp), extra_env={"POWERTOOLS_METRICS_DISABLED": "true"})
        with stack:
            for path in shoot(stack):
                print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
