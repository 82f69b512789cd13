"""Fan-out pages that cannot multiply, on the session's moto DynamoDB: a page message delivered twice plans
once, a page whose invocation died after its claim still completes, two publishes queue one page 0. The
queues record what was sent instead of sending it: the counts are the SQS messages the queues would hold."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from chalicelib.adapters.queues import Queues
from chalicelib.adapters.store import Table
from chalicelib.domain.core.messages import FanoutPage
from chalicelib.domain.core.models import DeliveryOutcome, Recipient
from chalicelib.domain.fanout import pages as fanout
from chalicelib.domain.releases import publishing, recall
from chalicelib.names import ResourceNames
from tests.app.delivery_world import World, load_world

NAMES = ResourceNames("local")


class Recorder(Queues):
    """Queues that keep what they are given: (queue, body, delay) per SQS message."""

    def __init__(self, *, fail_at: int = 0, gate: threading.Event | None = None) -> None:
        super().__init__(None, NAMES)
        self.sent: list[tuple[str, Mapping[str, Any], int]] = []
        self.fail_at = fail_at  # the enqueue call (1, 2, ...) at which the invocation dies
        self.calls = 0
        self.gate = gate  # set on the first send, which then waits a moment

    def send_many(self, name: str, bodies: Sequence[Mapping[str, Any]], *, delay: int = 0) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("the invocation died")
        if self.gate is not None and not self.gate.is_set():
            self.gate.set()
            time.sleep(0.5)
        self.sent += [(name, b, delay) for b in bodies]

    def pages(self) -> Counter[int]:
        return Counter(int(b.get("page", 0)) for q, b, d in self.sent if q == NAMES.fanout_queue and not d)

    def batches(self) -> Counter[str]:
        return Counter(b["batch_id"] for q, b, _ in self.sent if q != NAMES.fanout_queue)


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "PAGE_SIZE", 4)
    monkeypatch.setattr(recall, "PAGE_SIZE", 4)


def _page(world: World, page: int = 0, cursor: str | None = None, kind: str = "release") -> FanoutPage:
    return FanoutPage(world.release.release_id, kind, page, cursor)


def _successor(queues: Recorder, page: int) -> FanoutPage:
    return FanoutPage.from_json(
        next(b for q, b, d in queues.sent if q == NAMES.fanout_queue and b.get("page") == page + 1 and not d)
    )


def _all_pages(table: Table, queues: Recorder, first: FanoutPage, plan: Any = fanout.run) -> None:
    """Run a page and then every successor it enqueues, as the fan-out queue would."""
    todo = [first]
    while todo:
        before = len(queues.sent)
        plan(table, queues, todo.pop())
        todo += [FanoutPage.from_json(b) for q, b, d in queues.sent[before:] if q == NAMES.fanout_queue and not d]


@pytest.mark.parametrize("lease", [fanout.PAGE_LEASE_SECONDS, 1])
def test_a_page_delivered_twice_enqueues_its_successor_and_its_batches_once(
    wired: Any, small_pages: None, monkeypatch: pytest.MonkeyPatch, lease: int
) -> None:
    # GIVEN nine subscribers: three pages of four
    monkeypatch.setattr(fanout, "PAGE_LEASE_SECONDS", lease)
    world = load_world(wired.table, per_tier=3)
    queues = Recorder()

    # WHEN page 0 is delivered, and again while it is being planned (its successor not claimed yet)
    fanout.run(wired.table, queues, _page(world))
    fanout.run(wired.table, queues, _page(world))

    # THEN one successor and one set of batches; the copy only came back to look again after the lease
    assert queues.pages() == Counter({1: 1})
    assert set(queues.batches().values()) == {1}
    looks = [(b["page"], d) for q, b, d in queues.sent if q == NAMES.fanout_queue and d]
    assert looks == [(0, lease)]

    # AND WHEN every page has run, a copy of any of them, delivered late (within or after the lease), does nothing
    _all_pages(wired.table, queues, _successor(queues, 0))
    planned = len(queues.sent)
    time.sleep(2.1 if lease == 1 else 0)  # the lease is whole seconds
    for page in (0, 1, 2):
        cursor = next((b["cursor"] for q, b, d in queues.sent if b.get("page") == page and not d), None)
        fanout.run(wired.table, queues, _page(world, page, cursor))
    assert len(queues.sent) == planned
    assert queues.pages() == Counter({1: 1, 2: 1}) and set(queues.batches().values()) == {1}
    addresses = Counter(r["email"] for q, b, _ in queues.sent if q != NAMES.fanout_queue for r in b["recipients"])
    assert addresses == Counter(dict.fromkeys(world.addresses, 1))


@pytest.mark.parametrize("dies_at", [1, 2])
def test_a_page_whose_invocation_died_after_its_claim_completes_on_the_retry(
    wired: Any, small_pages: None, monkeypatch: pytest.MonkeyPatch, dies_at: int
) -> None:
    # GIVEN the invocation planning page 0 dies at one of its enqueues, after the claim
    monkeypatch.setattr(fanout, "PAGE_LEASE_SECONDS", 1)
    world = load_world(wired.table, per_tier=3)
    queues = Recorder(fail_at=dies_at)
    with pytest.raises(RuntimeError):
        fanout.run(wired.table, queues, _page(world))
    # AND whatever it did enqueue ran meanwhile
    for body in [b for q, b, d in queues.sent if q == NAMES.fanout_queue]:
        _all_pages(wired.table, queues, FanoutPage.from_json(body))

    # WHEN SQS hands the message back (after its visibility timeout: the lease has run out), and every page runs
    time.sleep(2.1)  # the lease is whole seconds
    before = len(queues.sent)
    fanout.run(wired.table, queues, _page(world))
    for body in [b for q, b, d in queues.sent[before:] if q == NAMES.fanout_queue]:
        _all_pages(wired.table, queues, FanoutPage.from_json(body))

    # THEN every page ran once and every subscriber is in a batch (a batch enqueued again has the same id)
    assert queues.pages() == Counter({1: 1, 2: 1})
    addresses = {r["email"] for q, b, _ in queues.sent if q != NAMES.fanout_queue for r in b["recipients"]}
    assert addresses == world.addresses


def test_a_recall_page_delivered_twice_enqueues_its_successor_and_its_batches_once(
    wired: Any, small_pages: None
) -> None:
    # GIVEN a yanked release whose notice reached nine subscribers (two pages of records)
    world = load_world(wired.table, per_tier=3)
    reached = [Recipient(s.account_id, s.subscription_id, s.email, "elite") for s in world.subscribers]
    wired.table.record_deliveries(
        world.release.release_id, "release", [DeliveryOutcome(r, "sent", message_id="m") for r in reached]
    )
    wired.table.transition_release(world.release.release_id, from_status=["published"], to_status="yanked")
    queues = Recorder()

    # WHEN its first recall page is delivered twice, then every page runs, then each is delivered again
    first = _page(world, kind=recall.RECALL)
    recall.run_page(wired.table, queues, first)
    recall.run_page(wired.table, queues, first)
    _all_pages(wired.table, queues, _successor(queues, 0), recall.run_page)
    planned = len(queues.sent)
    recall.run_page(wired.table, queues, first)

    # THEN each page and batch was enqueued once, and each recipient is in one recall batch
    assert len(queues.sent) == planned
    assert queues.pages() == Counter({1: 1, 2: 1}) and set(queues.batches().values()) == {1}
    addresses = Counter(r["email"] for q, b, _ in queues.sent if q != NAMES.fanout_queue for r in b["recipients"])
    assert addresses == Counter(dict.fromkeys(world.addresses, 1))


def test_two_publishes_at_once_queue_one_first_page(wired: Any) -> None:
    # GIVEN a release ready to publish, and a fan-out queue that takes its time to accept a message
    world = load_world(wired.table, per_tier=1)
    release = dataclasses.replace(
        world.release, release_id=world.release.release_id + "b", version="2.0", status="available"
    )
    wired.table.create_release(release)
    queues = Recorder(gate=threading.Event())

    # WHEN two publish calls run at once, the second while the first is queueing page 0
    first = threading.Thread(target=publishing.publish, args=(wired.table, queues, release.release_id))
    first.start()
    assert queues.gate is not None and queues.gate.wait(5)
    publishing.publish(wired.table, queues, release.release_id)
    first.join()

    # THEN page 0 was queued once, and a later publish queues nothing
    publishing.publish(wired.table, queues, release.release_id)
    assert queues.pages() == Counter({0: 1})
    assert wired.table.get_release(release.release_id, consistent=True).fanout_at


def test_an_audience_that_ends_exactly_at_a_page_s_end_is_planned_once_and_ends_on_an_empty_page(
    wired: Any, small_pages: None
) -> None:
    # GIVEN twelve subscribers: three full pages of four. DynamoDB (and the local AWS) answers the third with a
    # key as well, because it stopped at Limit, so a fourth page reads nothing
    world = load_world(wired.table, per_tier=4)
    queues = Recorder()

    # WHEN every page runs, as the fan-out queue would run them
    _all_pages(wired.table, queues, _page(world))

    # THEN four pages ran (the last empty), and every address is in one batch, once
    assert queues.pages() == Counter({1: 1, 2: 1, 3: 1})
    addresses = Counter(r["email"] for q, b, _ in queues.sent if q != NAMES.fanout_queue for r in b["recipients"])
    assert addresses == Counter(dict.fromkeys(world.addresses, 1))
    # AND a copy of the empty last page, delivered late, plans nothing
    cursor = next(b["cursor"] for q, b, d in queues.sent if b.get("page") == 3 and not d)
    planned = len(queues.sent)
    fanout.run(wired.table, queues, _page(world, 3, cursor))
    assert len(queues.sent) == planned
