"""What delivery checks again before and after it sends, at the app level on the session's moto server:
suppressed role copies, the consistent re-read (asserted at the wire: moto never shows stale reads), the
in-flight index left when a batch finishes, and reconcilers racing for one stuck batch."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import Any

import boto3
import pytest

from chalicelib.adapters.store import Table
from chalicelib.domain.core.models import Recipient
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.delivery import reconcile as delivery_reconcile
from tests.app import delivery_world
from tests.app.delivery_world import (
    NAMES,
    FaultyMailer,
    Killed,
    QueueRecorder,
    batch_message,
    deps_of,
    load_world,
)
from tests.conftest import unique

mailer = delivery_world.mailer  # the shared fixture: the app's mailer, faulty


def test_suppressed_oncall_and_csm_addresses_get_no_copy(wired: Any, mailer: FaultyMailer) -> None:
    # GIVEN a batch planned with an on-call and a CSM copy, whose addresses were suppressed since (a bounce)
    oncall, csm = f"{unique('oncall')}@customer.example", f"{unique('csm')}@vendor.example"
    world = load_world(wired.table, per_tier=1, severity=1)
    xtreme, elite = world.accounts[2], world.accounts[0]
    planned = batch_message(world, world.subscribers)
    message = dataclasses.replace(
        planned,
        recipients=planned.recipients
        + (
            Recipient(xtreme.account_id, "oncall", oncall, "xtreme", "oncall"),
            Recipient(elite.account_id, "csm", csm, "elite", "csm"),
        ),
    )
    for address in (oncall, csm):
        wired.table.suppress_address(address, reason="bounce", detail="permanent", feedback_id=unique("f"))

    # WHEN it is delivered
    counts = delivery.run(deps_of(wired), message, critical=True)

    # THEN neither copy was sent, both are recorded suppressed, and the subscribers got theirs
    assert mailer.accepted[oncall] == 0 and mailer.accepted[csm] == 0
    assert counts["suppressed"] == 2 and counts["sent"] == 3
    statuses = {r.email: r.status for r in wired.table.delivery_outcomes(world.release.release_id, "release")}
    assert statuses[oncall] == statuses[csm] == "suppressed"


def test_the_re_check_before_sending_reads_consistently(wired: Any, mailer: FaultyMailer) -> None:
    # GIVEN the BatchGetItem requests the app's DynamoDB client puts on the wire
    world = load_world(wired.table, per_tier=2)
    requests: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        requests.append(json.loads(params["body"]))

    events = wired.table._db.meta.events
    events.register("before-call.dynamodb.BatchGetItem", record)
    try:
        # WHEN a batch is delivered
        counts = delivery.run(deps_of(wired), batch_message(world, world.subscribers))
    finally:
        events.unregister("before-call.dynamodb.BatchGetItem", record)

    # THEN it re-read subscriptions, deliveries and the release with ConsistentRead (an unsubscribe honoured
    # seconds ago stays honoured: DynamoDB's eventually consistent read may not show it yet)
    assert counts["sent"] == 6
    reads = [spec for r in requests for spec in r["RequestItems"].values()]
    assert reads and all(spec.get("ConsistentRead") is True for spec in reads), reads


def test_a_finished_batch_leaves_the_in_flight_index(wired: Any, mailer: FaultyMailer) -> None:
    # GIVEN a batch delivered to the end
    world = load_world(wired.table, per_tier=1)
    message = batch_message(world, world.subscribers)
    delivery.run(deps_of(wired), message)

    # WHEN its claim is read
    got = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=wired.table.name,
        Key={"PK": {"S": f"RELEASE#{world.release.release_id}"}, "SK": {"S": f"BATCH#release#{message.batch_id}"}},
        ConsistentRead=True,
    )["Item"]

    # THEN it is done and out of the in-flight index (the index's keys are gone), its message dropped
    assert "done_at" in got
    assert {"GSI1PK", "GSI1SK", "lease_until", "body"} & set(got) == set()


def test_two_reconcilers_at_once_re_drive_a_stuck_batch_once(
    wired: Any, mailer: FaultyMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a batch whose invocation was killed after claiming it: stuck in the in-flight index
    world = load_world(wired.table, per_tier=1)
    mailer.fault = lambda n, to: Killed()
    with pytest.raises(Killed):
        delivery.run(deps_of(wired), batch_message(world, world.subscribers))

    # WHEN two reconcilers run at once after its lease, both finding it stuck before either re-drives it
    # (each sees only this test's batch: other tests' stuck batches are left alone)
    together = threading.Barrier(2, timeout=10)
    stuck_batches = Table.stuck_batches

    def both_find_it(self: Table, now: int, **kwargs: Any) -> list[Any]:
        found = [s for s in stuck_batches(self, now, **kwargs) if s.release_id == world.release.release_id]
        together.wait()
        return found

    monkeypatch.setattr(Table, "stuck_batches", both_find_it)
    sent = QueueRecorder()
    redriven: list[int] = []
    now = int(time.time()) + 10

    def reconcile() -> None:
        redriven.append(delivery_reconcile.reconcile(wired.table, sent, now=now))  # type: ignore[arg-type]

    threads = [threading.Thread(target=reconcile) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # THEN the batch went back on its queue once, from one of them
    assert sorted(redriven) == [0, 1]
    assert [(name, body["batch_id"]) for name, body, _ in sent.into] == [
        (NAMES.deliver_queue, batch_message(world, world.subscribers).batch_id)
    ]
