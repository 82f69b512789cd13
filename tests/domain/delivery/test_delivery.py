"""Delivery on the in-memory store: a batch is sent once, re-checked against opt-outs and suppressions,
its transient failures retried alone, and a stuck batch re-driven once however many reconcilers race."""

from __future__ import annotations

import threading
import time

from chalicelib.domain.core.messages import DeliveryBatch, retry_batch_id
from chalicelib.domain.core.models import Recipient
from chalicelib.domain.core.states import DeliveryStatus, Role, SubscriptionStatus
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.delivery import reconcile as delivery_reconcile
from chalicelib.domain.fanout import plan as fanout_plan
from tests.domain.world import NAMES, Mailer, Queues, account, deps, store_with, subscription
from tests.memory_store import MemoryStore


def _message(store: MemoryStore, *roles: Recipient) -> DeliveryBatch:
    people = [Recipient(s.account_id, s.subscription_id, s.email, "premium") for s in store.subscriptions.values()]
    return fanout_plan.batches("r1", people + list(roles), 0)[0]


def _csm_waiting_for(people: DeliveryBatch) -> DeliveryBatch:
    csm = Recipient("elite1", Role.CSM, "csm@vendor.example", "elite", Role.CSM)
    return DeliveryBatch("r1", "csm-elite1", (csm,), after=(people.batch_id,))


def _elite_people() -> DeliveryBatch:
    return fanout_plan.batches(
        "r1", [Recipient("elite1", f"s{n}", f"u{n}@elite1.example", "elite") for n in range(2)], 0
    )[0]


def _statuses(store: MemoryStore) -> dict[str, DeliveryStatus]:
    return {r.email: r.status for r in store.deliveries[("r1", "release")].values()}


def test_a_batch_is_sent_once_and_recorded_and_counted_once() -> None:
    store, mailer, queues = store_with(account("prem1", "premium"), subscribers=3), Mailer(), Queues()
    message = _message(store)
    counts = delivery.run(deps(store, mailer, queues), message)
    again = delivery.run(deps(store, mailer, queues), message)
    assert counts["sent"] == 3 and again == {} and len(mailer.accepted) == 3
    assert set(_statuses(store).values()) == {DeliveryStatus.SENT}
    assert store.tally[("r1", "release")]["premium#subscriber#sent"] == 3


def test_the_recheck_skips_who_opted_out_since_fan_out_and_never_emails_a_suppressed_role_copy() -> None:
    prem = account("prem1", "premium")
    store, mailer, queues = store_with(prem, subscribers=3), Mailer(), Queues()
    oncall = Recipient("prem1", Role.ONCALL, "pager@prem1.example", "premium", Role.ONCALL)
    message = _message(store, oncall)
    store.put_subscription(subscription(prem, 1, status=SubscriptionStatus.UNSUBSCRIBED))
    store.put_subscription(subscription(prem, 2, status=SubscriptionStatus.SUPPRESSED))  # feedback turned it off
    store.suppress("pager@prem1.example")
    delivery.run(deps(store, mailer, queues), message)
    assert mailer.to() == ["u0@prem1.example"]
    assert _statuses(store) == {
        "u0@prem1.example": "sent",
        "u1@prem1.example": "skipped",
        "u2@prem1.example": "suppressed",
        "pager@prem1.example": "suppressed",
    }


def test_throttled_recipients_go_back_alone_as_a_retry_batch() -> None:
    store, queues = store_with(account("prem1", "premium"), subscribers=3), Queues()
    mailer = Mailer(throttle={"u1@prem1.example"})
    message = _message(store)
    counts = delivery.run(deps(store, mailer, queues), message)
    (retry,) = [DeliveryBatch.from_json(m) for m in queues.on(NAMES.deliver_queue)]
    assert counts["retry"] == 1 and retry.batch_id == retry_batch_id(message.batch_id)
    assert [r.email for r in retry.recipients] == ["u1@prem1.example"]
    mailer.throttle.clear()
    delivery.run(deps(store, mailer, queues), retry)
    assert sorted(mailer.to()) == ["u0@prem1.example", "u1@prem1.example", "u2@prem1.example"]


def test_a_stuck_batch_is_re_driven_once_when_two_reconcilers_race() -> None:
    store, queues = store_with(account("prem1", "premium"), subscribers=1), Queues()
    message = _message(store)
    claim = store.claim_batch(
        "r1", f"release#{message.batch_id}", lease_seconds=1, queue=NAMES.deliver_queue, body=message.to_json()
    )
    assert claim.status == "claimed"
    later = int(time.time()) + 10
    found = store.stuck_batches(later)
    together = threading.Barrier(2, timeout=5)
    results: list[bool] = []

    def reconcile() -> None:
        together.wait()
        results.append(store.mark_redriven(found[0], next_check=later + delivery_reconcile.REDRIVE_AFTER_SECONDS))

    threads = [threading.Thread(target=reconcile) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    assert delivery_reconcile.reconcile(store, queues, now=later) == 0  # its next check is not due yet
    assert delivery_reconcile.reconcile(store, queues, now=later + delivery_reconcile.REDRIVE_AFTER_SECONDS + 1) == 1
    assert queues.on(NAMES.deliver_queue) == [message.to_json()]


def test_a_finished_batch_leaves_the_in_flight_index() -> None:
    store, mailer, queues = store_with(account("prem1", "premium"), subscribers=1), Mailer(), Queues()
    delivery.run(deps(store, mailer, queues), _message(store))
    assert store.stuck_batches(int(time.time()) + 10_000) == []


def test_a_csm_copy_also_waits_for_the_retry_batch_its_account_batch_spawned() -> None:
    elite = account("elite1", "elite", csm_email="csm@vendor.example")
    store, queues = store_with(elite, subscribers=2), Queues()
    mailer = Mailer(throttle={"u1@elite1.example"})
    people = _elite_people()
    csm = _csm_waiting_for(people)
    delivery.run(deps(store, mailer, queues), people)
    assert delivery.run(deps(store, mailer, queues), csm) == {"waiting": 1}
    (retry,) = [DeliveryBatch.from_json(m) for m in queues.on(NAMES.deliver_queue) if m["batch_id"] != "csm-elite1"]
    mailer.throttle.clear()
    delivery.run(deps(store, mailer, queues), retry)
    delivery.run(deps(store, mailer, queues), csm)
    assert mailer.to()[-1] == "csm@vendor.example"
    assert b"u1@elite1.example (subscriber)" in mailer.accepted[-1][1]


def test_a_csm_copy_waits_until_the_account_batches_are_done_then_lists_who_was_notified() -> None:
    elite = account("elite1", "elite", csm_email="csm@vendor.example")
    store, mailer, queues = store_with(elite, subscribers=2), Mailer(), Queues()
    people = _elite_people()
    csm = _csm_waiting_for(people)
    assert delivery.run(deps(store, mailer, queues), csm) == {"waiting": 1}
    assert mailer.accepted == [] and queues.on(NAMES.deliver_queue)[0]["waits"] == 1
    delivery.run(deps(store, mailer, queues), people)
    delivery.run(deps(store, mailer, queues), csm)
    to, raw = mailer.accepted[-1]
    assert to == "csm@vendor.example" and b"u0@elite1.example (subscriber)" in raw
