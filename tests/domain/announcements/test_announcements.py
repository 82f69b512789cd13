"""Announcements on the in-memory store: one per product and version (a retried create finishes what it started),
heard in advance only by the tiers whose matrix has the notice (Elite), an account's CSM copied, and a move sent
only to who got the announcement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.announcements import delivery as announce_delivery
from chalicelib.domain.announcements import plans
from chalicelib.domain.core.errors import AlreadyExists
from chalicelib.domain.core.messages import FanoutPage, recipient_from_json
from chalicelib.domain.core.models import DeliveryOutcome
from chalicelib.domain.core.states import DeliveryStatus, Role
from tests.domain.world import ENGINEER, NAMES, PRODUCT, Queues, account, store_with
from tests.memory_store import MemoryStore

PLANNED = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()


def _body(**over: Any) -> dict[str, Any]:
    return {"product": PRODUCT, "kind": "patch", "version": "2.0", "planned_for": PLANNED, "title": "SP2",
            "summary": "Coming", **over}  # fmt: skip


def _plan_all(store: MemoryStore, queues: Queues) -> list[Any]:
    """Every fan-out page queued so far, planned until none is left; the recipients batched, in order."""
    done = 0
    while done < len(queues.on(NAMES.fanout_queue)):
        announce_delivery.plan_page(store, queues, FanoutPage.from_json(queues.on(NAMES.fanout_queue)[done]))
        done += 1
    return [recipient_from_json(r) for b in queues.on(NAMES.deliver_queue) for r in b["recipients"]]


def test_only_elite_hears_of_an_announcement_and_its_csm_is_copied() -> None:
    # GIVEN an elite account with a CSM and two subscribers, and a premium account with two
    store = store_with(account("elite1", "elite", csm_email="csm@vendor.example"), account("prem1", "premium"))
    queues = Queues()
    # WHEN a release engineer announces a patch, twice (a retried request), and its pages are planned
    first = plans.create(store, queues, ENGINEER, _body())
    again = plans.create(store, queues, ENGINEER, _body())
    people = _plan_all(store, queues)
    # THEN one announcement, heard by Elite's subscribers and CSM only
    assert first.announcement_id == again.announcement_id and len(store.announcements) == 1
    assert sorted((r.account_id, r.role) for r in people) == [
        ("elite1", Role.CSM),
        ("elite1", Role.SUBSCRIBER),
        ("elite1", Role.SUBSCRIBER),
    ]
    with pytest.raises(AlreadyExists):
        plans.create(store, queues, ENGINEER, _body(title="Another"))


def test_a_move_goes_only_to_who_got_the_announcement() -> None:
    # GIVEN an announcement two elite subscribers were sent, one of whose sends failed
    store, queues = store_with(account("elite1", "elite")), Queues()
    a = plans.create(store, queues, ENGINEER, _body())
    got, missed = [r for r in _plan_all(store, queues) if r.role == Role.SUBSCRIBER]
    store.record_deliveries(
        a.announcement_id,
        "announce",
        [DeliveryOutcome(got, DeliveryStatus.SENT, message_id="m-1"), DeliveryOutcome(missed, DeliveryStatus.FAILED)],
    )
    queues.sent.clear()
    # WHEN it is moved a week on and the update's pages are planned
    later = (datetime.now(UTC) + timedelta(days=37)).date().isoformat()
    moved = plans.move(store, queues, ENGINEER, a.announcement_id, {"planned_for": later})
    people = _plan_all(store, queues)
    # THEN the update (one more sequence) goes to the one the announcement reached
    assert moved.sequence == 1 and [r.key for r in people] == [got.key]
