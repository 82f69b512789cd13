"""Recall planning without AWS: who a page of delivery records shows the notice reached, once per address."""

from __future__ import annotations

from chalicelib.domain.core.models import Recipient
from chalicelib.domain.core.records import DeliveryRecord
from chalicelib.domain.core.states import DeliveryStatus, Role
from chalicelib.domain.releases import recall


def _record(account: str, sub: str, email: str, role: str = "subscriber", status: str = "sent") -> DeliveryRecord:
    return DeliveryRecord(Recipient(account, sub, email, "elite", Role(role)), DeliveryStatus(status))


def test_a_recall_goes_once_per_address_and_account_across_pages_preferring_the_subscriber() -> None:
    # GIVEN records of a notice sent before addresses were deduplicated: an on-call copy to a subscriber's
    # address (its record sorts first), the address again on the next page, a failed send, another account
    page0 = [
        _record("a", "oncall", "ops@A.example", "oncall"),
        _record("a", "s1", "ops@a.example"),
        _record("a", "s2", "bad@a.example", status="failed"),
    ]
    page1 = [_record("a", "s3", "ops@a.EXAMPLE"), _record("b", "s1", "ops@a.example")]

    # WHEN both pages are planned
    first, carry = recall.reached(page0, {}, more=True)
    second, last = recall.reached(page1, carry, more=False)

    # THEN account a's address once, as the subscriber; account b's once; nobody who was not sent it
    assert [(r.account_id, r.role, r.email) for r in first + second] == [
        ("a", "subscriber", "ops@a.example"),
        ("b", "subscriber", "ops@a.example"),
    ]
    assert carry["account"] == "a" and last == {}


def test_every_account_of_a_page_is_recalled() -> None:
    page = [_record("a", "s1", "ops@a.example"), _record("b", "s1", "ops@b.example"), _record("c", "s1", "x@c.example")]
    people, carry = recall.reached(page, {}, more=False)
    assert [(r.account_id, r.email) for r in people] == [
        ("a", "ops@a.example"),
        ("b", "ops@b.example"),
        ("c", "x@c.example"),
    ]
    assert carry == {}
