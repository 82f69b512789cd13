"""Delivery under injected faults, at the app level: the real handlers fed by the runner, DynamoDB and
SQS on the session's moto server, SES faults injected in the mailer (moto does not throttle). Each test
ends with every eligible recipient emailed exactly once."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from chalicelib.adapters.mailer import Throttled
from chalicelib.adapters.store import Table, batch_claims
from chalicelib.domain.core.messages import DeliveryBatch, FanoutPage, retry_batch_id
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.delivery import reconcile as delivery_reconcile
from chalicelib.domain.delivery import send as delivery_send
from chalicelib.domain.fanout import pages as fanout
from chalicelib.domain.mail.pacing import QuotaCache, SendQuota
from chalicelib.routes import link_maker
from tests.app import delivery_world
from tests.app.delivery_world import (
    NAMES,
    FaultyMailer,
    Killed,
    QueueRecorder,
    World,
    batch_message,
    deps_of,
    drain,
    load_world,
)
from tests.app.provisioned_queues import max_receives

mailer = delivery_world.mailer  # the shared fixture: the app's mailer, faulty


@pytest.fixture
def claims_later(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Moves the batch claims' clock on (``claims_later(2)``), so that a lease runs out without waiting for it."""
    offset = [0.0]
    monkeypatch.setattr(batch_claims, "clock", lambda: time.time() + offset[0])

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance


def _publish(wired: Any, world: World) -> None:
    wired.queues.send(NAMES.fanout_queue, {"release_id": world.release.release_id})


def _exactly_once(mailer: FaultyMailer, addresses: set[str]) -> Callable[[], bool]:
    return lambda: all(mailer.accepted[a] >= 1 for a in addresses)


def _dying_at(call: int, wired: Any, mailer: FaultyMailer, mp: pytest.MonkeyPatch, *, per_tier: int) -> World:
    """A world whose sends go one at a time and whose invocation dies at send number ``call``."""
    mp.setattr(delivery_send, "SEND_CONCURRENCY", 1)
    mailer.fault = lambda n, to: RuntimeError("the invocation died") if n == call else None
    return load_world(wired.table, per_tier=per_tier)


def test_throttled_sends_are_retried_alone_until_everyone_has_exactly_one(
    wired: Any, runner: Any, mailer: FaultyMailer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN SES throttles every third send of the first 30
    world = load_world(wired.table, per_tier=10)
    throttled: list[str] = []

    def throttle(n: int, to: str) -> Exception | None:
        if n <= 30 and n % 3 == 0:
            throttled.append(to)
            return Throttled("TooManyRequestsException")
        return None

    mailer.fault = throttle
    retries = _retry_batches(wired, monkeypatch, world)

    # WHEN the release is published and the queues drained
    _publish(wired, world)
    drain(runner, _exactly_once(mailer, world.addresses))

    # THEN every subscriber got exactly one email, every record says sent, and the retries were counted
    assert {a: mailer.accepted[a] for a in world.addresses} == dict.fromkeys(world.addresses, 1)
    records = list(wired.table.delivery_outcomes(world.release.release_id, "release"))
    assert len(records) == 30 and {r.status for r in records} == {"sent"}
    assert '"EmailsRetried"' in capsys.readouterr().out

    # AND each retry batch held only the recipients throttled, each once per time it was throttled
    retried = [row["email"] for body in retries for row in body["recipients"]]
    assert sorted(retried) == sorted(throttled) and len(throttled) == 10


def _retry_batches(wired: Any, monkeypatch: pytest.MonkeyPatch, world: World) -> list[dict[str, Any]]:
    """The retry batches of the world's release as delivery enqueues them (they go on to the queue too)."""
    seen: list[dict[str, Any]] = []
    send_many = wired.queues.send_many

    def recording(name: str, bodies: list[dict[str, Any]], *, delay: int = 0) -> None:
        for body in bodies:
            if body.get("release_id") == world.release.release_id and ".r" in str(body.get("batch_id")):
                seen.append(body)
        send_many(name, bodies, delay=delay)

    monkeypatch.setattr(wired.queues, "send_many", recording)
    return seen


def test_a_crash_after_the_claim_and_some_sends_resumes_where_it_stopped(
    wired: Any, runner: Any, mailer: FaultyMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN one batch of 27, sent one at a time, and an invocation that dies at the 26th send
    world = _dying_at(26, wired, mailer, monkeypatch, per_tier=9)

    # WHEN the release goes out and SQS hands the message back after the lease ran out
    _publish(wired, world)
    drain(runner, _exactly_once(mailer, world.addresses))

    # THEN the 25 recorded before the crash were skipped on the retry: exactly one each
    assert {a: mailer.accepted[a] for a in world.addresses} == dict.fromkeys(world.addresses, 1)


def test_the_duplicate_window_is_what_ses_accepted_after_the_last_record_chunk(
    wired: Any, mailer: FaultyMailer, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a batch of 48 sent one at a time, and the invocation killed (timeout, out of memory) at the 40th
    # send: one record chunk was written while the batch was sending, the 14 accepted after it were not
    monkeypatch.setattr(delivery_send, "SEND_CONCURRENCY", 1)
    world = load_world(wired.table, per_tier=16)
    mailer.fault = lambda n, to: Killed() if n == 40 else None
    message = batch_message(world, world.subscribers)
    with pytest.raises(Killed):
        delivery.run(deps_of(wired), message)
    recorded = {r.email for r in wired.table.delivery_outcomes(world.release.release_id, "release")}
    accepted = {a for a, n in mailer.accepted.items() if n}

    # WHEN the batch is delivered again after its lease
    time.sleep(2.1)  # the lease is whole seconds
    assert delivery.run(deps_of(wired), message)["sent"] > 0

    # THEN the first chunk was on record before the kill, and the only duplicates are those SES accepted
    # after it: fewer than one record chunk
    assert len(recorded) == delivery_send.RECORD_CHUNK and recorded <= accepted
    twice = {a for a, n in mailer.accepted.items() if n > 1}
    assert twice == accepted - recorded, (sorted(twice - (accepted - recorded)), sorted((accepted - recorded) - twice))
    assert 39 - delivery_send.RECORD_CHUNK <= len(twice) < delivery_send.RECORD_CHUNK
    assert all(mailer.accepted[a] >= 1 for a in world.addresses)


def test_the_same_message_delivered_twice_and_concurrently_sends_once(
    wired: Any, runner: Any, mailer: FaultyMailer
) -> None:
    # GIVEN one batch whose sends take a while
    world = load_world(wired.table, per_tier=3)
    mailer.delay = 0.05
    message = batch_message(world, world.subscribers)

    # WHEN two invocations get the same message, the second while the first is sending, and a third later
    # (started on the first send: moto does not serialise conditional writes as DynamoDB does)
    sending = threading.Event()
    mailer.fault = lambda n, to: sending.set()  # type: ignore[func-returns-value]
    results: list[dict[str, int]] = []

    def invoke() -> None:
        results.append(delivery.run(deps_of(wired), message))

    first = threading.Thread(target=invoke)
    first.start()
    assert sending.wait(5)
    invoke()
    first.join()
    drain(runner, lambda: False, timeout=2.5)  # the busy copy comes back after the lease and is dropped
    again = delivery.run(deps_of(wired), message)

    # THEN one invocation sent, the other stood back without burning a receive, the third found it done
    assert sorted(r.get("sent", 0) for r in results) == [0, 9]
    assert again == {}
    assert {a: mailer.accepted[a] for a in world.addresses} == dict.fromkeys(world.addresses, 1)


def test_two_invocations_claiming_one_batch_at_the_same_moment_send_it_once(
    wired: Any, mailer: FaultyMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN one batch, and two invocations that reach its claim at the same moment (SQS delivering a
    # message twice at once)
    world = load_world(wired.table, per_tier=2)
    message = batch_message(world, world.subscribers)
    together = threading.Barrier(2, timeout=10)
    claim = Table.claim_batch

    def at_once(self: Table, *args: Any, **kwargs: Any) -> Any:
        together.wait()
        return claim(self, *args, **kwargs)

    monkeypatch.setattr(Table, "claim_batch", at_once)
    queued: list[tuple[str, dict[str, Any], int]] = []
    results: list[dict[str, int]] = []

    # WHEN both run
    def invoke() -> None:
        results.append(delivery.run(deps_of(wired, queues=QueueRecorder(queued)), message))

    threads = [threading.Thread(target=invoke) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # THEN exactly one claimed and sent the batch, the other found it busy and put it back for later
    assert sorted(r.get("sent", 0) for r in results) == [0, 6]
    assert [r for r in results if "sent" not in r] == [{"busy": 1}]
    assert queued == [(NAMES.deliver_queue, message.to_json(), delivery.LEASE_SECONDS)]
    assert {a: mailer.accepted[a] for a in world.addresses} == dict.fromkeys(world.addresses, 1)


def test_the_csm_copy_waits_for_every_batch_of_its_account_and_for_their_retry_batches(
    wired: Any, mailer: FaultyMailer, moto_server: str
) -> None:
    # GIVEN an elite account with a CSM, its batches planned by the fan-out, and SES throttling one of its
    # subscribers once
    from tests.conftest import sent_messages, unique
    from tests.helpers import parse, text_of

    csm = f"{unique('csm')}@vendor.example"
    world = load_world(wired.table, per_tier=2, csm_email=csm)
    planned = QueueRecorder()
    fanout.run(wired.table, planned, FanoutPage(world.release.release_id))
    (copy,) = [DeliveryBatch.from_json(b) for _, b, _ in planned.into if str(b["batch_id"]).startswith("csm-")]
    (batch,) = [DeliveryBatch.from_json(b) for _, b, _ in planned.into if b["batch_id"] != copy.batch_id]
    elite = [s for s in world.subscribers if s.account_id == world.accounts[0].account_id]
    throttled: list[str] = []

    def once(n: int, to: str) -> Exception | None:
        if to != elite[0].email or throttled:
            return None
        throttled.append(to)
        return Throttled("TooManyRequestsException")

    mailer.fault = once
    queued: list[tuple[str, dict[str, Any], int]] = []

    def deliver(message: DeliveryBatch) -> dict[str, int]:
        return delivery.run(deps_of(wired, queues=QueueRecorder(queued)), message)

    # WHEN the copy comes before the account's batch, then after it but before its retry batch, then last
    first = deliver(copy)
    assert deliver(batch)["retry"] == 1
    (retry,) = [DeliveryBatch.from_json(b) for _, b, _ in queued if b["batch_id"] == retry_batch_id(batch.batch_id)]
    second = deliver(copy)
    assert deliver(retry)["sent"] == 1
    last = deliver(copy)

    # THEN it waited twice (put back as a new message each time), then went out once, listing every
    # subscriber of the account
    assert (first, second, last.get("sent")) == ({"waiting": 1}, {"waiting": 1}, 1)
    assert [(b["waits"], d) for _, b, d in queued if b["batch_id"] == copy.batch_id] == [(1, 0), (1, 0)]
    assert mailer.accepted[csm] == 1
    (sent,) = [parse(m["raw"]) for m in sent_messages(moto_server) if csm in m["to"]]
    assert all(s.email in text_of(sent) for s in elite)


def test_two_different_messages_for_the_same_batch_send_the_union_once(
    wired: Any, runner: Any, mailer: FaultyMailer
) -> None:
    # GIVEN a page planned twice (a fan-out retry) while its audience changed: overlapping batches
    world = load_world(wired.table, per_tier=4)
    first = batch_message(world, world.subscribers[:8])
    second = batch_message(world, world.subscribers[3:])
    assert first.batch_id != second.batch_id

    # WHEN both are delivered
    for m in (first, second):
        wired.queues.send_batch(m, critical=False)
    drain(runner, _exactly_once(mailer, world.addresses))

    # THEN everyone in either got exactly one email
    assert {a: mailer.accepted[a] for a in world.addresses} == dict.fromkeys(world.addresses, 1)


class StingyDynamo:
    """DynamoDB that leaves part of every BatchWriteItem unprocessed on its first try."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.unprocessed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:  # noqa: N803
        ((table, requests),) = RequestItems.items()
        keep, leave = requests[: len(requests) // 2 or 1], requests[len(requests) // 2 or 1 :]
        self.real.batch_write_item(RequestItems={table: keep})
        self.unprocessed += len(leave)
        return {"UnprocessedItems": {table: leave} if leave else {}}


def test_unprocessed_items_from_dynamodb_are_written_in_the_end(wired: Any, mailer: FaultyMailer) -> None:
    # GIVEN a table adapter over a DynamoDB that leaves half of each batch write unprocessed
    world = load_world(wired.table, per_tier=10)
    stingy = StingyDynamo(boto3.client("dynamodb", region_name="us-east-1"))
    table = Table(stingy, wired.table.name)  # type: ignore[arg-type]

    # WHEN a batch is delivered through it
    counts = delivery.run(deps_of(wired, table), batch_message(world, world.subscribers))

    # THEN DynamoDB did leave items, every outcome is recorded anyway, and a redelivery sends nothing
    assert stingy.unprocessed > 0 and counts["sent"] == 30
    assert len(list(wired.table.delivery_outcomes(world.release.release_id, "release"))) == 30
    delivery.run(deps_of(wired), dataclasses.replace(batch_message(world, world.subscribers), batch_id="again"))
    assert {a: mailer.accepted[a] for a in world.addresses} == dict.fromkeys(world.addresses, 1)


def test_an_unsubscribe_between_fan_out_and_delivery_is_honoured(wired: Any, runner: Any, mailer: FaultyMailer) -> None:
    # GIVEN the fan-out already planned the batches
    world = load_world(wired.table, per_tier=3)
    fanout.run(wired.table, wired.queues, FanoutPage(world.release.release_id))
    gone = world.subscribers[4]

    # WHEN one subscriber unsubscribes before delivery runs
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=wired.table.name,
        Key={"PK": {"S": f"ACCOUNT#{gone.account_id}"}, "SK": {"S": f"SUB#{gone.subscription_id}"}},
        UpdateExpression="SET #s = :u",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":u": {"S": "unsubscribed"}},
    )
    rest = world.addresses - {gone.email}
    drain(runner, _exactly_once(mailer, rest))

    # THEN they got nothing, everyone else exactly one, and the record says why
    assert mailer.accepted[gone.email] == 0
    assert {a: mailer.accepted[a] for a in rest} == dict.fromkeys(rest, 1)
    statuses = {r.email: r.status for r in wired.table.delivery_outcomes(world.release.release_id, "release")}
    assert statuses[gone.email] == "skipped"


def test_a_poison_delivery_message_reaches_the_dlq_after_three_receives(wired: Any, runner: Any) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.get_queue_url(QueueName=f"{NAMES.deliver_queue}-dlq")["QueueUrl"]
    runner.pump()
    before = runner.stats.failures
    wired.queues.send(
        NAMES.deliver_queue, {"release_id": "x", "notice": "no-such-notice", "batch_id": "b", "recipients": []}
    )
    runner.pump()
    assert runner.stats.failures - before == max_receives(NAMES.deliver_queue)
    got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert any("no-such-notice" in m["Body"] for m in got)


@pytest.mark.parametrize(
    ("queue", "body"),
    [
        # recipients in the positional shape they once had: a typed record refuses them
        (NAMES.deliver_queue, {"release_id": "x", "batch_id": "poison-1", "recipients": [["a", "s", "e@x.test", "elite", "subscriber"]]}),
        (NAMES.fanout_queue, {"release_id": "x", "page": "poison-2"}),
        (NAMES.accounts_queue, {"cursor": "poison-3"}),
        (NAMES.scheduled_queue, {"schedule": "digest", "accounts": ["poison-4"]}),
    ],
)  # fmt: skip
def test_a_malformed_message_reaches_the_dlq_after_its_receives_and_is_never_re_enqueued(
    wired: Any, runner: Any, queue: str, body: dict[str, Any]
) -> None:
    # GIVEN a message that is not the record its queue carries
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.get_queue_url(QueueName=f"{queue}-dlq")["QueueUrl"]
    runner.pump()
    before = runner.stats.failures
    marker = json.dumps(body, separators=(",", ":"))

    # WHEN the runner feeds it to its handler
    wired.queues.send(queue, body)
    runner.pump()

    # THEN the handler refused it on every receive, and it is in the DLQ, not back on its queue (no loop)
    assert runner.stats.failures - before == max_receives(queue)
    assert any(
        m["Body"] == marker for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    )
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    assert all(m["Body"] != marker for m in left)
    sqs.purge_queue(QueueUrl=dlq)  # the DLQs are the session's: later tests count what lands there


def test_a_paused_account_stops_delivery_without_burning_receives(
    wired: Any, mailer: FaultyMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN SES reports sending paused for the account
    monkeypatch.setitem(wired.__dict__, "quota", QuotaCache(lambda: SendQuota(14.0, sending_enabled=False)))
    world = load_world(wired.table, per_tier=2)
    sent_to_queue: list[tuple[str, dict[str, Any], int]] = []
    deps = delivery.Deps(
        table=wired.table,
        mailer=mailer,
        queues=QueueRecorder(sent_to_queue),
        urls=link_maker(),  # type: ignore[arg-type]
        link_days=30,
        quota=wired.quota,
    )
    message = batch_message(world, world.subscribers)

    # WHEN a batch arrives
    got = delivery.run(deps, message)

    # THEN nothing was sent or claimed, and the message went back as a new (delayed) one: the handler
    # succeeds, so SQS deletes the received copy and its receive count never grows towards the DLQ
    assert got == {"paused": 1} and sum(mailer.accepted.values()) == 0
    assert sent_to_queue == [(NAMES.deliver_queue, message.to_json(), delivery.PAUSE_DELAY_SECONDS)]
    assert wired.table.batch_states(world.release.release_id, [f"release#{message.batch_id}"]) == {}


def test_the_reconciler_re_drives_a_batch_whose_invocation_died_and_whose_message_was_lost(
    wired: Any, runner: Any, mailer: FaultyMailer, monkeypatch: pytest.MonkeyPatch, app_client: Any
) -> None:
    # GIVEN an invocation that claimed a batch, sent some, and died; its message is gone (e.g. the DLQ)
    world = _dying_at(26, wired, mailer, monkeypatch, per_tier=10)
    with pytest.raises(RuntimeError):
        delivery.run(deps_of(wired), batch_message(world, world.subscribers))

    # WHEN the scheduled reconciler's Lambda runs after the lease, and the queues are drained
    redrives: list[int] = []
    reconcile = delivery_reconcile.reconcile
    monkeypatch.setattr(delivery_reconcile, "clock", lambda: time.time() + 5)
    monkeypatch.setattr(
        delivery_reconcile, "reconcile", lambda *a, **kw: redrives.append(reconcile(*a, **kw)) or redrives[-1]
    )
    app_client.lambda_.invoke(
        "reconcile_deliveries", app_client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    )
    drain(runner, _exactly_once(mailer, world.addresses))

    # THEN it re-drove the batch from its claim, and everyone has exactly one email
    assert redrives and redrives[0] >= 1
    assert {a: mailer.accepted[a] for a in world.addresses} == dict.fromkeys(world.addresses, 1)


def test_severity_1_sends_one_oncall_copy_per_account_and_the_elite_csm_a_list_of_who_was_notified(
    wired: Any, runner: Any, mailer: FaultyMailer, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN accounts whose business hours never include now (0-0), with on-call and CSM contacts, and a
    # severity-1 release; the page size forces the elite account's subscribers over two pages
    from datetime import UTC, datetime

    from chalicelib.domain.core.entitlements import oncall_copy_due
    from tests.conftest import sent_messages
    from tests.helpers import parse, text_of

    monkeypatch.setattr(fanout, "PAGE_SIZE", 50)
    world = load_world(
        wired.table,
        per_tier=60,
        severity=1,
        business_hours=(0, 0),
        csm_email="csm@vendor.example",
        oncall_email="oncall@customer.example",
    )
    oncall_due = [
        a
        for a in world.accounts
        if oncall_copy_due(a.tier, severity=1, local_now=datetime.now(UTC), business_hours=(0, 0))
    ]

    # WHEN it is published
    _publish(wired, world)
    drain(runner, lambda: mailer.accepted["csm@vendor.example"] >= 1)

    # THEN every subscriber got one, the on-call contact one copy per account due, the CSM exactly one
    assert {a: mailer.accepted[a] for a in world.addresses} == dict.fromkeys(world.addresses, 1)
    assert mailer.accepted["oncall@customer.example"] == len(oncall_due) >= 2
    assert mailer.accepted["csm@vendor.example"] == 1
    csm = [
        parse(m["raw"])
        for m in sent_messages(moto_server)
        if "csm@vendor.example" in m["to"] and world.product in str(parse(m["raw"])["Subject"])
    ]
    body = text_of(csm[-1])
    elite = world.accounts[0]
    assert f"{len([s for s in world.subscribers if s.account_id == elite.account_id]) + 1} contact(s)" in body
    assert "oncall@customer.example (oncall)" in body
    assert all(s.email in body for s in world.subscribers if s.account_id == elite.account_id)


def test_a_permanent_rejection_is_recorded_and_never_retried(wired: Any, mailer: FaultyMailer) -> None:
    # GIVEN SES rejects one address for good
    from chalicelib.adapters.mailer import Rejected

    world = load_world(wired.table, per_tier=2)
    bad = world.subscribers[1].email
    mailer.fault = lambda n, to: Rejected("MessageRejected: bad address") if to == bad else None
    queued: list[tuple[str, dict[str, Any], int]] = []
    deps = delivery.Deps(
        table=wired.table,
        mailer=mailer,
        queues=QueueRecorder(queued),
        urls=link_maker(),  # type: ignore[arg-type]
        link_days=30,
        quota=wired.quota,
    )

    # WHEN its batch is delivered
    counts = delivery.run(deps, batch_message(world, world.subscribers))

    # THEN it is recorded failed, nothing is re-enqueued, and the others got theirs
    assert counts["failed"] == 1 and counts["sent"] == 5 and counts["retry"] == 0 and queued == []
    statuses = {r.email: r.status for r in wired.table.delivery_outcomes(world.release.release_id, "release")}
    assert statuses[bad] == "failed"


def test_sends_are_spaced_at_the_invocation_share_of_the_account_send_rate(wired: Any, mailer: FaultyMailer) -> None:
    # GIVEN SES allows 28 emails/s and this invocation a quarter of it: 7/s, one send every 1/7 s
    world = load_world(wired.table, per_tier=2)
    deps = delivery.Deps(
        table=wired.table,
        mailer=mailer,
        queues=wired.queues,
        urls=link_maker(),
        link_days=30,
        quota=QuotaCache(lambda: SendQuota(28.0)),
        share=0.25,
    )

    # WHEN a batch of 6 is delivered (8 send threads: unpaced, all would leave at once)
    delivery.run(deps, batch_message(world, world.subscribers))

    # THEN the sends took five intervals at least (5/7 s; unpaced they all leave within milliseconds). The
    # span, not each gap: one thread waking late on a busy machine shortens one gap, not the whole span.
    times = sorted(mailer.called_at)
    assert len(times) == 6 and times[-1] - times[0] >= 0.6 * 5 / 7, times


def _bodies(queue: str, release_id: str) -> list[dict[str, Any]]:
    """Messages of one release on a queue (taken off it: other tests' messages are left visible)."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    found = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages"):
        for m in got:
            body = json.loads(m["Body"])
            if isinstance(body, dict) and body.get("release_id") == release_id:
                found.append(body)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return found


def _deliver_failures(runner: Any, pumps: int = 1) -> int:
    before = runner.stats.failures
    for _ in range(pumps):
        runner.pump()
    return runner.stats.failures - before


def test_a_batch_failing_the_same_way_every_time_ends_in_the_dlq_after_max_receives_with_its_error(
    wired: Any, runner: Any, mailer: FaultyMailer, app_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN one recipient's send fails, every time, with an error delivery does not expect: the batch as a
    # whole fails (after recording the others SES accepted). One send at a time, the failing one last in the
    # batch: an unexpected error cancels the sends not started yet (they stay in the message, which the DLQ
    # keeps), so with 8 threads which of the others had started would depend on the machine's load.
    monkeypatch.setattr(delivery_send, "SEND_CONCURRENCY", 1)
    world = load_world(wired.table, per_tier=2)
    bad = world.subscribers[-1].email
    mailer.fault = lambda n, to: RuntimeError("the SES client is broken") if to == bad else None
    receives = max_receives(NAMES.deliver_queue)
    runner.pump()  # nothing of earlier tests left to feed

    # WHEN the release goes out and the runner feeds the queues until they are empty, and again
    _publish(wired, world)
    failures = _deliver_failures(runner)
    again = _deliver_failures(runner, pumps=2)

    # THEN the batch was tried maxReceiveCount times, then its message was in the DLQ: one, and nothing
    # re-enqueued on the delivery queue
    assert (failures, again) == (receives, 0)
    assert [b["release_id"] for b in _bodies(f"{NAMES.deliver_queue}-dlq", world.release.release_id)] == [
        world.release.release_id
    ]
    assert _bodies(NAMES.deliver_queue, world.release.release_id) == []

    # THEN the batch record keeps the error and the attempts, and the report lists the batch and why
    failed = wired.table.failed_batches(world.release.release_id)
    assert [(f.notice, f.attempts) for f in failed] == [("release", receives)]
    assert failed[0].error == "RuntimeError: the SES client is broken"
    from tests.conftest import auth

    resp = app_client.http.get(f"/releases/{world.release.release_id}/report", headers=auth("release-engineer"))
    assert json.loads(resp.body)["failed_batches"] == [f.public() for f in failed]

    # THEN the rest of the batch got exactly one email each, across the attempts
    rest = world.addresses - {bad}
    assert {a: mailer.accepted[a] for a in world.addresses} == {**dict.fromkeys(rest, 1), bad: 0}


def test_a_failed_attempt_whose_error_cannot_be_written_still_ends_after_max_attempts_however_often_it_is_re_enqueued(
    wired: Any, mailer: FaultyMailer, claims_later: Callable[[float], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN every attempt fails and cannot release its lease: each SQS retry finds the batch busy and puts
    # it back as a new message (a fresh receive count), as an invocation killed mid-batch would
    world = load_world(wired.table, per_tier=1)
    mailer.fault = lambda n, to: RuntimeError("the SES client is broken")
    monkeypatch.setattr(Table, "note_batch_error", lambda *a, **kw: None)
    receives = max_receives(NAMES.deliver_queue)
    copies: list[tuple[str, dict[str, Any], int]] = []
    deps = deps_of(wired, queues=QueueRecorder(copies))
    message = batch_message(world, world.subscribers)

    # WHEN each message fails, its SQS retry within the lease finds the batch busy, and the copy that retry
    # put back comes once the lease has run out, until a message is refused (a bound: twice the attempts)
    busy = 0
    for _ in range(2 * receives):
        with pytest.raises(RuntimeError):
            delivery.run(deps, message)
        try:
            busy += delivery.run(deps, message)["busy"]
        except delivery.BatchFailed:
            break
        _queue, body, delay = copies.pop()
        claims_later(delay + 1)
        message = DeliveryBatch.from_json(body)

    # THEN the claims counted the attempts across the new messages: given up after maxReceiveCount of
    # them, the next copy refused (its message goes to the DLQ), nothing put back on the delivery queue
    failed = wired.table.failed_batches(world.release.release_id)
    assert [f.attempts for f in failed] == [receives]
    assert busy == receives - 1 and copies == []
    assert 0 < mailer.calls <= receives * len(world.subscribers)  # no send after the batch was given up
    with pytest.raises(delivery.BatchFailed):
        delivery.run(deps, message)
    assert copies == []


def test_a_batch_whose_every_attempt_is_killed_is_given_up_on_the_next_claim(
    wired: Any, mailer: FaultyMailer, claims_later: Callable[[float], None]
) -> None:
    # GIVEN a batch whose invocations are all killed (a timeout, out of memory): none can record why
    world = load_world(wired.table, per_tier=1)
    mailer.fault = lambda n, to: Killed()
    message = batch_message(world, world.subscribers)
    receives = max_receives(NAMES.deliver_queue)
    for _ in range(receives):
        with pytest.raises(Killed):
            delivery.run(deps_of(wired), message)
        claims_later(delivery.LEASE_SECONDS + 1)  # the lease runs out (whole seconds)

    # WHEN the message comes once more (an SQS retry, a busy copy, the reconciler)
    with pytest.raises(delivery.BatchFailed):
        delivery.run(deps_of(wired), message)

    # THEN it is refused without a send and the batch is given up, saying why
    assert mailer.calls <= receives * len(world.subscribers)
    failed = wired.table.failed_batches(world.release.release_id)
    assert [(f.attempts, f.error) for f in failed] == [
        (receives, f"{receives} attempts ended without finishing (timeout or crash)")
    ]


def test_a_recipient_whose_message_cannot_be_built_is_recorded_failed_and_the_rest_of_the_batch_sent(
    wired: Any, runner: Any, mailer: FaultyMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN one recipient whose notice cannot be rendered
    from chalicelib.domain.mail import notices as mail
    from chalicelib.domain.mail import templates as notice_template

    world = load_world(wired.table, per_tier=3)
    bad = world.subscribers[4].email
    render = notice_template.NoticeTemplate.render

    def refuse(self: notice_template.NoticeTemplate, to: str, links: mail.Links) -> bytes:
        if to == bad:
            raise ValueError("a header line would exceed 998 octets")
        return render(self, to, links)

    monkeypatch.setattr(notice_template.NoticeTemplate, "render", refuse)
    runner.pump()
    failures = runner.stats.failures

    # WHEN the release goes out
    _publish(wired, world)
    rest = world.addresses - {bad}
    drain(runner, _exactly_once(mailer, rest))

    # THEN that one is recorded failed with the reason, every other one got exactly one, nothing failed
    records = {r.email: r for r in wired.table.delivery_outcomes(world.release.release_id, "release")}
    assert records[bad].status == "failed" and mailer.accepted[bad] == 0
    assert {a: mailer.accepted[a] for a in rest} == dict.fromkeys(rest, 1)
    assert runner.stats.failures == failures and wired.table.failed_batches(world.release.release_id) == []
    detail = next(
        d
        for d in wired.table.account_deliveries(world.release.release_id, "release", world.subscribers[4].account_id)
        if d.email == bad
    )
    assert detail.detail == "message could not be built: ValueError: a header line would exceed 998 octets"


def test_sends_stop_before_the_function_timeout_and_the_rest_go_on_as_a_new_batch(
    wired: Any, runner: Any, mailer: FaultyMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a batch of 12 whose sends take 0.5 s each (of the sends' clock), one at a time, in a function
    # with a 4 s timeout
    world = load_world(wired.table, per_tier=4)
    monkeypatch.setattr(delivery_send, "SEND_CONCURRENCY", 1)
    monkeypatch.setitem(runner.timeouts, "on_deliver", 4)
    now = [time.monotonic()]
    monkeypatch.setattr(delivery_send, "clock", lambda: now[0])

    def half_a_second(n: int, to: str) -> None:
        now[0] += 0.5

    mailer.fault = half_a_second
    durations: list[float] = []
    run = delivery.run

    def timed(*args: Any, **kwargs: Any) -> dict[str, int]:
        started = now[0]
        try:
            return run(*args, **kwargs)
        finally:
            durations.append(now[0] - started)

    monkeypatch.setattr(delivery, "run", timed)

    # WHEN the release goes out
    _publish(wired, world)
    drain(runner, _exactly_once(mailer, world.addresses))

    # THEN each invocation stopped within its timeout, the batch went on as retry batches, and everyone
    # got exactly one email
    assert {a: mailer.accepted[a] for a in world.addresses} == dict.fromkeys(world.addresses, 1)
    assert len(durations) >= 2 and max(durations) < 4, durations
    records = list(wired.table.delivery_outcomes(world.release.release_id, "release"))
    assert len(records) == 12 and {r.status for r in records} == {"sent"}
