"""Digests fanned out like a release, under injected faults (on the session's moto server): SES throttling mid-batch,
an invocation killed mid-batch and its message received again, a duplicate message, a paused account, a batch that
keeps failing, a malformed message, a stuck batch re-driven by the reconciler. Nothing lost, nothing sent twice,
nothing loops."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import boto3
import pytest

from chalicelib.adapters.store import Table
from chalicelib.domain.core.errors import Throttled
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.delivery import reconcile as delivery_reconcile
from chalicelib.domain.digests import plan
from chalicelib.domain.digests import run as digest_run
from chalicelib.domain.digests import windows as digests
from chalicelib.domain.digests.messages import DigestWork
from chalicelib.domain.mail.pacing import QuotaCache, SendQuota
from chalicelib.names import ResourceNames
from chalicelib.routes import link_maker
from patchcast_tools.digests import InlineQueues, drain, forget_pages
from tests.app import delivery_world
from tests.app.delivery_world import FaultyMailer, Killed
from tests.app.test_digests import _due, _fan_out, _publish, _world

NAMES = ResourceNames("local")
mailer = delivery_world.mailer


def _batch(table: Table, zone: str, n: int) -> tuple[list[Any], DigestWork, InlineQueues]:
    """``n`` subscribers of a new account with a notice queued in ``zone``'s next window, and a digest batch of
    their range, as a page plans one (built here: other tests' subscriptions share the window, and with them
    the page's cut)."""
    subs = _world(table, n=n, timezone=zone)
    _fan_out(table, _publish(table, subs[0].products[0]))
    ours = [f"{s.account_id}#{s.subscription_id}" for s in subs]
    bucket = digests.bucket(_due(zone))
    return subs, DigestWork(bucket, 0, batch_id=plan.batch_id(0, ours), first=ours[0], last=ours[-1]), InlineQueues()


def _deps(table: Table, mail: Any, queues: InlineQueues, **extra: Any) -> digest_run.DigestDeps:
    return digest_run.DigestDeps(table=table, mailer=mail, queues=queues, urls=link_maker(), link_days=30, **extra)


def _once(mail: FaultyMailer, subs: list[Any]) -> bool:
    return {s.email: mail.accepted[s.email] for s in subs} == {s.email: 1 for s in subs}


def test_throttling_mid_batch_records_what_was_sent_and_its_successor_sends_the_rest(
    table: Table, mailer: FaultyMailer
) -> None:
    subs, batch, queues = _batch(table, "Africa/Nairobi", 5)
    mailer.fault = lambda n, to: Throttled("Maximum sending rate exceeded") if n == 3 else None
    assert digest_run.run(_deps(table, mailer, queues), batch) == {"sent": 2, "digests": 5, "stopped": 1}
    assert mailer.calls == 3  # stopped at the throttle
    [(retry, delay)] = queues.work
    assert (retry.batch_id, retry.attempt, delay) == (f"{batch.batch_id}.r1", 1, delivery.RETRY_DELAY_SECONDS)
    assert digest_run.run(_deps(table, mailer, queues), retry)["sent"] == 3
    assert _once(mailer, subs)


def test_a_batch_killed_mid_way_and_received_again_sends_the_rest_once(
    table: Table, mailer: FaultyMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an invocation killed at its third send (Lambda's timeout or a crash: nothing of ours runs after it)
    subs, batch, queues = _batch(table, "Asia/Karachi", 5)
    mailer.fault = lambda n, to: Killed() if n == 3 else None
    with pytest.raises(Killed):
        digest_run.run(_deps(table, mailer, queues), batch)
    # WHEN SQS delivers the message again, while the dead invocation's lease holds and after it ran out
    assert digest_run.run(_deps(table, mailer, queues), batch) == {"busy": 1}  # looked at again later
    time.sleep(delivery.LEASE_SECONDS + 1.1)  # the lease (1 s: the mailer fixture's), in whole seconds
    mailer.fault = lambda n, to: None
    assert digest_run.run(_deps(table, mailer, queues), batch)["sent"] == 3
    # THEN the two SES accepted before the kill were recorded (their markers), and nobody got two
    assert _once(mailer, subs)
    # AND a duplicate of the message, received after it finished, sends nothing
    assert digest_run.run(_deps(table, mailer, queues), batch) == {}
    assert _once(mailer, subs)


def test_a_paused_account_puts_the_batch_back_without_claiming_it(table: Table, mailer: FaultyMailer) -> None:
    subs, batch, queues = _batch(table, "Asia/Dhaka", 2)
    paused = QuotaCache(lambda: SendQuota(14.0, sending_enabled=False))
    assert digest_run.run(_deps(table, mailer, queues, quota=paused), batch) == {"paused": 1}
    assert queues.work == [(batch, delivery.PAUSE_DELAY_SECONDS)] and mailer.calls == 0
    assert digest_run.run(_deps(table, mailer, queues), batch)["sent"] == 2 and _once(mailer, subs)


def test_a_batch_that_keeps_failing_is_given_up_after_its_attempts_and_never_loops(
    table: Table, mailer: FaultyMailer
) -> None:
    subs = _world(table, n=2, timezone="Asia/Yangon")
    _fan_out(table, _publish(table, subs[0].products[0]))
    due = _due("Asia/Yangon")
    table.set_digest_cursor(digests.bucket(due))
    forget_pages(table, digests.bucket(due))
    mailer.fault = lambda n, to: RuntimeError("SES is down") if to in {s.email for s in subs} else None
    got = drain(table, mailer, link_maker(), due + timedelta(minutes=10))
    # THEN the batch was claimed three times (its queue's receives), each failing, then went to the DLQ
    mine = [w for w in got.dead if w.first and w.first.startswith(f"{subs[0].account_id}#")]
    assert len(mine) == 1
    assert sum(1 for e in got.errors if "SES is down" in str(e)) == delivery.MAX_ATTEMPTS
    # AND the claim says it was given up: a copy received later raises at once (to the DLQ), sending nothing
    mailer.fault = lambda n, to: None
    with pytest.raises(delivery.BatchFailed):
        digest_run.run(_deps(table, mailer, InlineQueues()), mine[0])
    assert mailer.accepted[subs[0].email] == 0


def test_a_malformed_digest_message_reaches_the_dlq_after_its_receives_and_is_never_re_enqueued(
    wired: Any, runner: Any
) -> None:
    from tests.app.test_delivery_faults import max_receives

    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.get_queue_url(QueueName=f"{NAMES.digest_queue}-dlq")["QueueUrl"]
    runner.pump()
    before = runner.stats.failures
    body = {"bucket": "not-a-window", "batch_id": "poison"}
    wired.queues.send(NAMES.digest_queue, body)
    runner.pump()
    assert runner.stats.failures - before == max_receives(NAMES.digest_queue)
    marker = json.dumps(body, separators=(",", ":"))
    assert any(m["Body"] == marker for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"])
    sqs.purge_queue(QueueUrl=dlq)


def test_the_reconciler_re_drives_a_digest_batch_whose_invocation_died_and_whose_message_was_lost(
    table: Table, wired: Any, runner: Any, mailer: FaultyMailer, monkeypatch: pytest.MonkeyPatch, app_client: Any
) -> None:
    # GIVEN a batch whose invocation died after one send; its message is gone
    subs, batch, queues = _batch(table, "Asia/Colombo", 3)
    mailer.fault = lambda n, to: Killed() if n == 2 else None
    with pytest.raises(Killed):
        digest_run.run(_deps(table, mailer, queues), batch)
    mailer.fault = lambda n, to: None
    # WHEN the scheduled reconciler runs after the lease, and the digest queue is drained by its handler
    monkeypatch.setattr(delivery_reconcile, "clock", lambda: time.time() + 5)
    app_client.lambda_.invoke(
        "reconcile_deliveries", app_client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    )
    delivery_world.drain(runner, lambda: _once(mailer, subs), timeout=20)
    # THEN it re-drove the batch from its claim to the digest queue, and everyone has exactly one digest
    assert _once(mailer, subs)


def test_a_batch_near_its_functions_timeout_stops_and_its_successor_sends_the_rest_at_once(
    table: Table, mailer: FaultyMailer
) -> None:
    # GIVEN a batch of four whose invocation has 10 s left, then 1 s after its second digest
    subs, batch, queues = _batch(table, "Asia/Almaty", 4)
    left = iter([10_000, 10_000, 10_000, 1_000, 1_000])
    deps = _deps(table, mailer, queues, remaining_ms=lambda: next(left))
    # WHEN it runs THEN it stops before the third (a quarter of the 10 s kept in hand), the two recorded
    assert digest_run.run(deps, batch) == {"sent": 2, "digests": 4, "stopped": 1}
    [(retry, delay)] = queues.work
    assert (retry.batch_id, delay) == (f"{batch.batch_id}.r1", 0)  # not throttled: at once
    assert digest_run.run(_deps(table, mailer, queues), retry)["sent"] == 2
    assert _once(mailer, subs)
