"""End to end through the local stack: a release for the 13.4 line (``patchctl release create --applies-to``)
reaches the contact who runs 13.4 and those who did not say, and not the one on 13.5."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchcast_tools.local.stack import LocalStack
from patchcast_tools.outbox import Outbox
from tests.conftest import unique
from tests.e2e.test_subscriptions import _import, _none_after, _product, _release, _subscribe, _to, _wait

pytestmark = pytest.mark.e2e


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
        _subscribe(stack, account, address, product, installed=runs[name])
    # WHEN a release for the 13.4 line is published with patchctl
    version = _release(stack, product, version=unique("13.4."), extra=("--applies-to", "13.4"))
    # THEN the 13.4 contact and both who did not say get the notice, and the 13.5 contact does not
    outbox = Outbox(stack.outbox_dir)
    for name in ("on134", "silent1", "silent2"):
        _wait(outbox, _to(contacts[name][1], version))
    assert _none_after(outbox, contacts["on135"][1], version)
