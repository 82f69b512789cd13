"""State-changing domain functions check the caller's identity themselves, before they read or write
anything: called directly (no route in front) with the wrong role, each refuses (403) and touches nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.domain.accounts import contracts as accounts
from chalicelib.domain.core.errors import Forbidden
from chalicelib.domain.core.models import Account
from chalicelib.domain.releases import editing as releases
from chalicelib.domain.releases import publishing, recall, uploads
from chalicelib.domain.subscriptions import preregistration as subscriptions
from tests.helpers import ADMIN, CUSTOMER, ENGINEER


class Untouchable:
    """A table, queues, blobs or mailer that fails the test on any use: the check must come first."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"used {name} before checking the caller")


NOTHING: Any = Untouchable()
RELEASE_BODY = {"product": "M3", "version": "1.0", "kind": "patch", "severity": 2, "channel": "ga", "title": "t"}
ACCOUNT_BODY = {"name": "Acme", "tier": "elite", "products": ["M3"], "support_start": "2026-01-01",
                "support_end": "2027-01-01"}  # fmt: skip
ACCOUNT: Any = object.__new__(Account)  # never read: the check comes first

CALLS: dict[str, Callable[[Any], object]] = {
    "create release": lambda who: releases.create(NOTHING, NOTHING, NOTHING, who, RELEASE_BODY),
    "edit release": lambda who: releases.edit(NOTHING, who, "r1", {"title": "new"}),
    "publish release": lambda who: publishing.publish_as(NOTHING, NOTHING, who, "r1"),
    "yank release": lambda who: recall.yank(NOTHING, NOTHING, who, "r1", {"reason": "broken"}),
    "upload parts": lambda who: uploads.part_urls(NOTHING, NOTHING, who, "r1", {"parts": [1]}),
    "complete upload": lambda who: uploads.complete(NOTHING, NOTHING, NOTHING, who, "r1", {"sha256": "0" * 64}),
    "upsert product": lambda who: accounts.upsert_product(NOTHING, who, "M3", {"name": "Suite"}),
    "put contract": lambda who: accounts.put_account(NOTHING, NOTHING, who, "acme", ACCOUNT_BODY),
    "upsert contract": lambda who: accounts.upsert(NOTHING, NOTHING, who, ACCOUNT),
    "subscribe": lambda who: subscriptions.create(
        NOTHING, NOTHING, NOTHING, who, {"email": "a@b.example"}, confirm_hours=1
    ),
    "change subscription": lambda who: subscriptions.change(NOTHING, who, "s1", {"max_severity": 2}),
    "delete subscription": lambda who: subscriptions.remove(NOTHING, who, "s1"),
}
RIGHT = {"release": ENGINEER, "upload": ENGINEER, "product": ADMIN, "contract": ADMIN, "subscri": CUSTOMER}
WRONG = {a: [w for w in (ENGINEER, ADMIN, CUSTOMER) if w is not r] for a in CALLS for k, r in RIGHT.items() if k in a}


def test_every_action_has_its_right_role() -> None:
    assert set(WRONG) == set(CALLS)


@pytest.mark.parametrize(("action", "who"), [(a, w) for a, ws in WRONG.items() for w in ws])
def test_a_state_changing_domain_function_refuses_the_wrong_role_before_touching_anything(
    action: str, who: Any
) -> None:
    with pytest.raises(Forbidden):
        CALLS[action](who)
