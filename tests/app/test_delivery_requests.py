"""What a delivery batch asks of DynamoDB, at the wire (the request count per email is a target of the
benchmark): the last chunk of delivery records rides in the transaction that finishes the batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.domain.core.models import DeliveryOutcome
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.fanout import plan as fanout_plan
from chalicelib.domain.mail.pacing import QuotaCache, SendQuota
from chalicelib.routes import link_maker
from tests.app.delivery_world import load_world


@pytest.fixture
def operations(wired: Any) -> Iterator[Counter[str]]:
    seen: Counter[str] = Counter()

    def record(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    client = wired.table._db
    client.meta.events.register("before-call.dynamodb.*", record)
    yield seen
    client.meta.events.unregister("before-call.dynamodb.*", record)


def _deps(wired: Any) -> delivery.Deps:
    return delivery.Deps(
        table=wired.table,
        mailer=wired.mailer,
        queues=wired.queues,
        urls=link_maker(),
        link_days=30,
        quota=QuotaCache(lambda: SendQuota(0.0)),
    )


def test_a_batch_of_30_writes_one_chunk_and_finishes_with_the_rest_in_one_transaction(
    wired: Any, operations: Counter[str]
) -> None:
    # GIVEN a batch of 30 subscribers (a chunk of 25 is written while the rest still send)
    world = load_world(wired.table, per_tier=10)
    people = [
        fanout_plan.Recipient(s.account_id, s.subscription_id, s.email, s.account_id.split("-")[0])
        for s in world.subscribers
    ]
    batch = fanout_plan.batches(world.release.release_id, people, 0)[0]
    operations.clear()  # loading the world wrote too
    # WHEN it is delivered
    counts = delivery.run(_deps(wired), batch)
    # THEN one BatchWriteItem (25 records) and one TransactWriteItems (the finish, the tally, the last 5)
    assert counts["sent"] == 30
    assert operations["BatchWriteItem"] == 1 and operations["TransactWriteItems"] == 1
    recorded = [
        d
        for a in world.accounts
        for d in wired.table.account_deliveries(world.release.release_id, "release", a.account_id)
    ]
    assert len(recorded) == 30 and all(r.status == "sent" and r.message_id for r in recorded)


def test_a_finish_of_a_batch_already_done_still_keeps_what_this_attempt_sent(wired: Any) -> None:
    # GIVEN a batch finished by another invocation
    world = load_world(wired.table, per_tier=1)
    release_id, batch = world.release.release_id, "release#late"
    wired.table.claim_batch(release_id, batch, lease_seconds=60, max_attempts=3)
    assert wired.table.finish_batch(release_id, batch, {"sent": 0})
    # WHEN a slower attempt finishes it too, with an outcome it recorded no other way
    sub = world.subscribers[0]
    late = DeliveryOutcome(
        fanout_plan.Recipient(sub.account_id, sub.subscription_id, sub.email, "elite"), "sent", message_id="m-late"
    )
    finished = wired.table.finish_batch(
        release_id, batch, {"sent": 1}, tally={"elite#subscriber#sent": 1}, records=[late]
    )
    # THEN the finish does not count twice, and the record is kept
    assert finished is False
    recorded = list(wired.table.account_deliveries(release_id, "release", sub.account_id))
    assert [r.message_id for r in recorded] == ["m-late"]
