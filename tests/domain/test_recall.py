"""Recall on the in-memory store: a yank queues the recall once, its pages go to whom the notice reached
(once per address and account), threaded under the notice each recalls."""

from __future__ import annotations

from chalicelib.domain import delivery, recall
from chalicelib.domain.messages import DeliveryBatch, FanoutPage
from chalicelib.domain.models import DeliveryOutcome, Recipient
from chalicelib.domain.states import DeliveryStatus, Notice, ReleaseStatus
from tests.domain.world import ENGINEER, NAMES, Mailer, Queues, account, deps, store_with


def _notified(store: object, *people: tuple[str, str, DeliveryStatus]) -> None:
    outcomes = [
        DeliveryOutcome(Recipient("prem1", sub, email, "premium"), status, message_id=f"ses-{sub}")
        for sub, email, status in people
    ]
    store.record_deliveries("r1", "release", outcomes)  # type: ignore[attr-defined]


def test_a_yank_queues_the_recall_once_and_plans_it_for_whom_the_notice_reached() -> None:
    store, queues = store_with(account("prem1", "premium"), subscribers=3, fanout_at="2026-01-01T00:00:00Z"), Queues()
    _notified(
        store,
        ("s0", "u0@prem1.example", DeliveryStatus.SENT),
        ("s1", "u1@prem1.example", DeliveryStatus.FAILED),
        ("s2", "u0@PREM1.example", DeliveryStatus.SENT),
    )
    yanked = recall.yank(store, queues, ENGINEER, "r1", {"reason": "breaks totals"})
    recall.yank(store, queues, ENGINEER, "r1", {"reason": "breaks totals"})
    (page,) = queues.on(NAMES.fanout_queue)
    assert yanked.status == ReleaseStatus.YANKED and page["kind"] == "recall"

    assert recall.run_page(store, queues, FanoutPage.from_json(page)) == 1
    (batch,) = queues.on(NAMES.deliver_queue)
    assert batch["notice"] == "recall" and [r["email"] for r in batch["recipients"]] == ["u0@prem1.example"]


def test_a_recall_replies_to_the_notice_it_recalls() -> None:
    store, queues, mailer = store_with(account("prem1", "premium"), subscribers=1), Queues(), Mailer()
    _notified(store, ("s0", "u0@prem1.example", DeliveryStatus.SENT))
    store.transition_release("r1", from_status=[ReleaseStatus.PUBLISHED], to_status=ReleaseStatus.YANKED, reason="x")
    message = DeliveryBatch(
        "r1", "0-0", (Recipient("prem1", "s0", "u0@prem1.example", "premium"),), notice=Notice.RECALL
    )
    delivery.run(deps(store, mailer, queues), message)
    ((to, raw),) = mailer.accepted
    assert to == "u0@prem1.example" and b"In-Reply-To: <ses-s0@" in raw
