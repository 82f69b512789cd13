"""End to end through the local stack: a release for the 13.4 line (``patchctl release create --applies-to``)
reaches the contact who runs 13.4 and those who did not say, and not the one on 13.5."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from patchcast_tools.local.stack import LocalStack
from patchcast_tools.outbox import Outbox, link
from tests.conftest import unique
from tests.e2e.test_subscriptions import _bearer, _cli, _import, _none_after, _product, _to, _wait

pytestmark = pytest.mark.e2e


def _subscribe(stack: LocalStack, account: str, address: str, product: str, lines: list[str] | None) -> None:
    body: dict[str, Any] = {"email": address, "products": [product], "kinds": ["patch"], "max_severity": 3}
    if lines:
        body["installed"] = {product: lines}
    resp = requests.post(
        f"{stack.api_url}/subscriptions", json=body, headers=_bearer(stack, "customer", account), timeout=10
    )
    assert resp.status_code == 202, resp.text
    confirmation = _wait(Outbox(stack.outbox_dir), _to(address, "Confirm"))[-1]
    assert requests.post(link(confirmation, "/subscriptions/confirm"), timeout=10).status_code == 200


def test_a_release_for_13_4_reaches_the_13_4_contact_and_those_who_did_not_say_not_the_13_5_one(
    stack: LocalStack, tmp_path: Path
) -> None:
    # GIVEN four contacts of one product, each in an account of its own: on 13.4, on 13.5, and two who did not say
    product = _product(stack)
    runs: dict[str, list[str] | None] = {"on134": ["13.4"], "on135": ["13.5"], "silent1": None, "silent2": None}
    contacts = {name: (unique(name), f"{unique(name)}@customer.example") for name in runs}
    rows = "".join(f"{a},{a.title()},premium,{product},2026-01-01,2030-12-31,,,,\n" for a, _ in contacts.values())
    assert _import(stack, tmp_path, rows).returncode == 0
    for name, (account, address) in contacts.items():
        _subscribe(stack, account, address, product, runs[name])
    # WHEN a release for the 13.4 line is published with patchctl
    version = unique("13.4.")
    package = stack.state_dir / f"{version}.zip"
    package.write_bytes(b"fix for 13.4")
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
        "--title",
        "A 13.4 fix",
        "--file",
        str(package),
        "--applies-to",
        "13.4",
    )
    assert done.returncode == 0, done.stderr
    # THEN the 13.4 contact and both who did not say get the notice, and the 13.5 contact does not
    outbox = Outbox(stack.outbox_dir)
    for name in ("on134", "silent1", "silent2"):
        _wait(outbox, _to(contacts[name][1], version))
    assert _none_after(outbox, contacts["on135"][1], version)
