"""``make demo``: one release end to end on a fresh local stack, told in a few lines.

A support admin puts a contract, a customer subscribes and confirms through the emailed link, a
release engineer runs ``patchctl release create --file``, the notices arrive, and the download link
is followed to S3 and its bytes checked against the SHA-256. Exits 0 only if all of it held.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

from patchcast_tools.local import issuer
from patchcast_tools.local.stack import LocalStack, StackError
from patchcast_tools.outbox import Outbox, link


class DemoFailed(Exception):
    pass


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise DemoFailed(what)


def run_scenario(stack: LocalStack, say: Any = print) -> dict[str, Any]:
    api, state = stack.api_url, stack.state_dir
    outbox = Outbox(stack.outbox_dir)

    def bearer(role: str, account: str | None = None, email: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {issuer.mint(state, role=role, account=account, email=email)}"}

    contract = {
        "name": "Northwind Traders",
        "tier": "premium",
        "products": ["M3"],
        "support_start": "2026-01-01",
        "support_end": "2027-12-31",
        "timezone": "Europe/London",
    }
    resp = requests.put(f"{api}/accounts/northwind", json=contract, headers=bearer("support-admin"), timeout=10)
    _check(resp.status_code == 200, f"PUT /accounts/northwind answered {resp.status_code}: {resp.text}")
    say("support admin   put contract northwind (premium, product M3)")

    address = "ops@northwind.example"
    sub: dict[str, Any] = {
        "email": address,
        "products": ["M3"],
        "kinds": ["patch", "critical-solution"],
        "max_severity": 3,
    }
    resp = requests.post(f"{api}/subscriptions", json=sub, headers=bearer("customer", "northwind", address), timeout=10)
    _check(resp.status_code == 202, f"POST /subscriptions answered {resp.status_code}: {resp.text}")
    confirmation = outbox.wait_for(lambda m: address in str(m["To"]) and "Confirm" in str(m["Subject"]))
    _check(bool(confirmation), "no confirmation email arrived")
    resp = requests.post(
        link(confirmation[0], "/subscriptions/confirm"), headers={"Accept": "application/json"}, timeout=10
    )
    _check(
        resp.status_code == 200 and resp.json()["status"] == "active",
        f"confirming answered {resp.status_code}: {resp.text}",
    )
    say(f"customer        {address} subscribed, got the confirmation email, clicked it: active")

    package = state / "demo" / "m3-13.5.0-fix.zip"
    package.parent.mkdir(parents=True, exist_ok=True)
    package.write_bytes(os.urandom(256 * 1024))
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    cli = [
        str(Path(sys.executable).with_name("patchctl")),
        "release",
        "create",
        "--api",
        api,
        "--product",
        "M3",
        "--version",
        "13.5.0",
        "--kind",
        "patch",
        "--severity",
        "2",
        "--title",
        "Invoice rounding fix",
        "--summary",
        "Totals on multi-currency invoices are rounded once, at the end.",
        "--file",
        str(package),
    ]
    done = subprocess.run(
        cli, env={**os.environ, "PATCHCAST_STATE_DIR": str(state)}, capture_output=True, text=True, timeout=120
    )
    _check(done.returncode == 0, f"patchctl failed: {done.stderr.strip()}")
    release_id = done.stdout.strip()
    say(
        f"release eng.    patchctl release create --file {package.name}: release {release_id} ({package.stat().st_size} bytes, sha256 {digest[:12]}…)"
    )

    expected = {
        "ops@acme.example": "elite",
        "it@globex.example": "premium",
        "admin@initech.example": "xtreme",
        address: "premium",
    }
    notices = outbox.wait_for(lambda m: "13.5.0" in str(m["Subject"]), count=len(expected))
    got = [str(m["To"]) for m in notices]
    width = max(len(to) for to in got)  # one column for every address, however long the demo's own one is
    for to in got:
        tier = f"({expected.get(to, '?')})"
        say(f"  emailed       {to:<{width}}  {tier:<9}  {notices[got.index(to)]['Subject']}")
    _check(sorted(got) == sorted(expected), f"expected one notice each for {sorted(expected)}, got {sorted(got)}")

    notice = next(m for m in notices if address in str(m["To"]))
    _check(notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", "the notice lacks RFC 8058 headers")
    resp = requests.get(link(notice, "/d/"), allow_redirects=False, timeout=10)
    _check(resp.status_code == 302, f"the download link answered {resp.status_code}: {resp.text}")
    body = requests.get(resp.headers["Location"], timeout=30).content
    _check(hashlib.sha256(body).hexdigest() == digest, "the downloaded bytes do not match the SHA-256")
    say(f"download        {address} followed the link: 302 to S3, {len(body)} bytes, SHA-256 matches")
    return {"release_id": release_id, "notified": got, "sha256": digest}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="patchcast-demo-") as tmp:
        # the demo's lines only; make run keeps EMF
        stack = LocalStack.on_free_ports(Path(tmp), extra_env={"POWERTOOLS_METRICS_DISABLED": "true"})
        try:
            print("starting a fresh local stack…", flush=True)
            with stack:
                run_scenario(stack)
        except (StackError, DemoFailed) as err:
            print(f"demo FAILED: {err}", file=sys.stderr)
            sys.exit(1)
    print("demo OK: every entitled subscriber was emailed once and the download checked out.")


if __name__ == "__main__":
    main()
