"""Fan-out on the in-memory store: who a page plans, in which batches, and that a page is planned once."""

from __future__ import annotations

import dataclasses

from chalicelib.domain import fanout
from chalicelib.domain.messages import FanoutPage, recipient_from_json
from chalicelib.domain.models import Recipient
from chalicelib.domain.states import Role, SubscriptionStatus
from tests.domain.world import NAMES, PRODUCT, Queues, account, store_with, subscription


def _recipients(queues: Queues, name: str) -> list[Recipient]:
    return [recipient_from_json(row) for b in queues.on(name) for row in b["recipients"]]


def test_a_page_plans_the_wanting_and_entitled_elite_first_and_queues_its_successor() -> None:
    # GIVEN an elite and a premium account, two subscribers each, one premium subscriber not wanting patches,
    # and an account whose contract lacks the product
    elite, premium, lapsed = account("elite1", "elite"), account("prem1", "premium"), account("gone1", "premium")
    store = store_with(premium, elite, subscribers=2)
    store.put_subscription(subscription(premium, 1, kinds=("update",)))
    store.put_account(dataclasses.replace(lapsed, products=()))
    store.put_subscription(subscription(lapsed, 0))
    queues = Queues()

    # WHEN the first page (of three entries per page) is planned
    fanout.PAGE_SIZE, saved = 3, fanout.PAGE_SIZE
    try:
        planned = fanout.run(store, queues, FanoutPage.from_json({"release_id": "r1", "page": 0, "cursor": None}))
    finally:
        fanout.PAGE_SIZE = saved

    # THEN elite's two come first, the premium one wanting patches follows, and page 1 is queued after them
    people = [
        (r.account_id, r.subscription_id) for r in _recipients(queues, NAMES.deliver_queue) if r.role == Role.SUBSCRIBER
    ]
    assert people == [("elite1", "s0"), ("elite1", "s1"), ("prem1", "s0")] and planned >= 3
    (successor,) = queues.on(NAMES.fanout_queue)
    assert successor["page"] == 1 and successor["cursor"]


def test_a_page_delivered_twice_is_planned_once() -> None:
    store = store_with(account("prem1", "premium"), subscribers=3)
    queues = Queues()
    message = {"release_id": "r1", "page": 0, "cursor": None}
    assert fanout.run(store, queues, FanoutPage.from_json(message)) == 3
    assert fanout.run(store, queues, FanoutPage.from_json(message)) == 0
    assert len(_recipients(queues, NAMES.deliver_queue)) == 3 and queues.on(NAMES.fanout_queue) == []


def test_batches_hold_at_most_49_and_an_elite_csm_copy_waits_for_the_account_batches() -> None:
    elite = account("elite1", "elite", csm_email="csm@vendor.example")
    store = store_with(elite, subscribers=60)
    queues = Queues()
    fanout.run(store, queues, FanoutPage.from_json({"release_id": "r1", "page": 0, "cursor": None}))
    batches = queues.on(NAMES.deliver_queue)
    sizes = [len(b["recipients"]) for b in batches if not b["batch_id"].startswith("csm-")]
    (csm,) = [b for b in batches if b["batch_id"].startswith("csm-")]
    assert sizes == [49, 11]
    assert csm["after"] == [b["batch_id"] for b in batches if b is not csm]
    assert [recipient_from_json(r) for r in csm["recipients"]] == [
        Recipient("elite1", Role.CSM, "csm@vendor.example", "elite", Role.CSM)
    ]


def test_an_unsubscribed_subscription_is_not_in_the_audience() -> None:
    prem = account("prem1", "premium")
    store = store_with(prem, subscribers=2)
    store.put_subscription(subscription(prem, 0, status=SubscriptionStatus.UNSUBSCRIBED))
    entries, cursor = store.audience_page(PRODUCT, limit=10, cursor=None)
    assert [e.subscription_id for e in entries] == ["s1"] and cursor is None
