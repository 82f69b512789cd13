"""Who is a customer (issue 27 item 1) and which address an identity carries (item 11), from the claims."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.access.auth import Identity, verified_email
from chalicelib.domain.core.errors import Forbidden


def _who(groups: set[str], account: str | None) -> Identity:
    return Identity(subject="s", email="a@b.example", account_id=account, groups=frozenset(groups))


def test_a_customer_is_an_account_without_a_staff_group() -> None:
    assert _who(set(), "acme").require_customer() == "acme"
    assert _who(set(), "acme").is_customer


@pytest.mark.parametrize(
    ("groups", "account"),
    [({"release-engineers"}, "acme"), ({"support-admins"}, "acme"), ({"release-engineers", "support-admins"}, "acme"),
     (set(), None), ({"support-admins"}, None)],
)  # fmt: skip
def test_staff_or_no_account_is_no_customer_even_with_an_account_id(groups: set[str], account: str | None) -> None:
    who = _who(groups, account)
    assert not who.is_customer
    with pytest.raises(Forbidden):
        who.require_customer()


@pytest.mark.parametrize(
    ("claims", "email"),
    [({"email": "a@b.example", "email_verified": True}, "a@b.example"),
     ({"email": "a@b.example", "email_verified": "true"}, "a@b.example"),
     ({"email": "a@b.example", "email_verified": False}, None),
     ({"email": "a@b.example", "email_verified": "false"}, None),
     ({"email": "a@b.example"}, None),
     ({"email": ["a@b.example"], "email_verified": True}, None),
     ({"email_verified": True}, None)],
)  # fmt: skip
def test_only_a_verified_email_claim_is_the_identitys_address(claims: dict[str, Any], email: str | None) -> None:
    assert verified_email(claims) == email
