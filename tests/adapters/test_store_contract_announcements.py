"""The store contract (tests/adapters/test_store_contract.py; its ``store`` fixture in tests/adapters/conftest.py)
for what ``announcements`` asks of the store: the in-memory store (tests/memory_announcements.py) and the real table
answer these scenarios the same way. Each uses fresh ids and products: the real table is shared by the session."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.core.errors import AlreadyExists, BadRequest
from chalicelib.domain.core.models import DeliveryOutcome, Recipient
from chalicelib.domain.core.records import Announcement
from chalicelib.domain.core.states import DeliveryStatus
from tests.adapters.test_store_contract import _world
from tests.conftest import unique


def _announcement(
    product: str, version: str = "2.0", created_at: str = "2026-03-01T00:00:00Z", **kw: Any
) -> Announcement:
    fields: dict[str, Any] = {"planned_for": "2026-04-01", "status": "announced", **kw}
    return Announcement(
        unique("an-"), product, "service-pack", version, title="SP2", summary="Soon", created_at=created_at,
        created_by="re", severity=3, **fields,
    )  # fmt: skip


def test_one_announcement_per_version_moved_only_from_what_was_read_and_freed_when_cancelled(store: Any) -> None:
    # GIVEN an announcement of a product's version
    a = _announcement(unique("P"))
    store.create_announcement(a)
    # WHEN the version is announced again, it is moved from the read, then from the stale read, then cancelled
    with pytest.raises(AlreadyExists):
        store.create_announcement(_announcement(a.product))
    moved = store.change_announcement(a, planned_for="2026-05-01")
    stale = store.change_announcement(a, planned_for="2026-06-01")
    store.set_announcement(a.announcement_id, queued=1)
    cancelled = store.change_announcement(
        store.get_announcement(a.announcement_id, consistent=True), status="cancelled"
    )
    # THEN each move counts one sequence, the stale one writes nothing, bookkeeping counts none, and the version is free
    assert (moved.sequence, moved.planned_for, stale) == (1, "2026-05-01", None)
    assert (cancelled.sequence, cancelled.status, cancelled.queued) == (2, "cancelled", 1)
    assert store.announcement_of(a.product, a.version) is None
    again = _announcement(a.product)
    store.create_announcement(again)
    assert store.announcement_of(a.product, a.version) == again


def test_announcements_list_newest_first_and_by_product_in_planned_order(store: Any) -> None:
    product = unique("P")
    made = [
        _announcement(product, f"{n}.0", created_at=f"2999-01-01T00:00:0{n}Z", planned_for=f"2026-0{9 - n}-01")
        for n in range(3)
    ]
    for a in made:
        store.create_announcement(a)
    first, cursor = store.list_announcements(limit=2, cursor=None)
    second, _ = store.list_announcements(limit=2, cursor=cursor)
    assert [a.announcement_id for a in first + second][:3] == [a.announcement_id for a in reversed(made)]
    assert [a.version for a in store.product_announcements([product, unique("none")])] == ["2.0", "1.0", "0.0"]
    with pytest.raises(BadRequest):
        store.list_announcements(limit=2, cursor="bm90IGEgY3Vyc29y")


def test_one_tier_s_audience_is_read_a_page_at_a_time(store: Any) -> None:
    product, accounts, _ = _world(store, "premium", "elite", subscribers=2)
    elite, premium = accounts[1].account_id, accounts[0].account_id
    seen, cursor = [], None
    while True:
        page, cursor = store.tier_audience_page(product, 1, limit=1, cursor=cursor)
        seen += [(e.account_id, e.subscription_id) for e in page]
        if cursor is None:
            break
    premiums, _ = store.tier_audience_page(product, 2, limit=10, cursor=None)
    assert seen == [(elite, "s0"), (elite, "s1")]
    assert [(e.account_id, e.subscription_id) for e in premiums] == [(premium, "s0"), (premium, "s1")]


def test_a_notice_threads_under_the_announcement_its_recipient_was_sent(store: Any) -> None:
    product, (acct,), subs = _world(store, "elite", subscribers=2)
    a = _announcement(product)
    store.create_announcement(a)
    got, missed = (Recipient(s.account_id, s.subscription_id, s.email, "elite") for s in subs)
    store.record_deliveries(
        a.announcement_id,
        "announce",
        [DeliveryOutcome(got, DeliveryStatus.SENT, message_id="m-1"), DeliveryOutcome(missed, DeliveryStatus.FAILED)],
    )
    assert store.announcement_parents(a.announcement_id, [got, missed]) == {got.key: "m-1"}
    found, contracts, parents = store.announcement_context(a.announcement_id, [got, missed])
    assert (found, set(contracts), parents) == (a, {acct.account_id}, {got.key: "m-1"})
