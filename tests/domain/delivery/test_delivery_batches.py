"""Delivering one batch on the in-memory store, rule by rule: what goes back on the queue and when (paused,
busy, waiting, retried, stopped by the deadline), what a failed attempt leaves on its claim, the counts and
the report's tally a finish writes, the messages each role gets, and the reconciler's re-drives."""

from __future__ import annotations

import base64
import dataclasses
import email
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any

import pytest

from chalicelib import observability
from chalicelib.domain.access import links
from chalicelib.domain.core.errors import Paused, Rejected, Throttled
from chalicelib.domain.core.messages import DeliveryBatch, retry_batch_id
from chalicelib.domain.core.models import Recipient
from chalicelib.domain.core.records import Announcement
from chalicelib.domain.core.states import DeliveryStatus, Notice, ReleaseStatus, Role, SubscriptionStatus
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.delivery import compose as delivery_compose
from chalicelib.domain.delivery import reconcile as delivery_reconcile
from chalicelib.domain.delivery import send as delivery_send
from chalicelib.domain.delivery import waits as delivery_waits
from chalicelib.domain.fanout import plan as fanout_plan
from chalicelib.domain.mail import notices as mail
from chalicelib.domain.mail.pacing import QuotaCache, SendQuota
from tests.domain.world import NAMES, Mailer, Queues, account, deps, store_with
from tests.memory_store import MemoryStore

START = 1_800_000_000.0
START_ISO = "2027-01-15T08:00:00Z"


@dataclass
class Clock:
    """Epoch seconds that move only when the test says."""

    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class FaultyMailer(Mailer):
    """The world's mailer, with an exception per address (raised on each send to it) and a hook per send."""

    faults: dict[str, Exception] = field(default_factory=dict)
    on_send: Callable[[str], None] = lambda to: None

    def send_raw(self, to: str, raw: bytes) -> str:
        self.on_send(to)
        if to in self.faults:
            raise self.faults[to]
        return super().send_raw(to, raw)


@dataclass
class World:
    store: MemoryStore
    mailer: FaultyMailer
    queues: Queues
    clock: Clock
    deps: delivery.Deps

    def run(self, batch: DeliveryBatch, *, critical: bool = False) -> dict[str, int]:
        return delivery.run(self.deps, batch, critical=critical)

    def queued(self, queue: str = NAMES.deliver_queue) -> list[tuple[DeliveryBatch, int]]:
        return [(DeliveryBatch.from_json(body), delay) for name, body, delay in self.queues.sent if name == queue]

    def statuses(self, notice: str = "release") -> dict[str, str]:
        return {r.email: r.status for r in self.store.deliveries.get(("r1", notice), {}).values()}


def _world(subscribers: int = 3, tier: str = "premium", *, quota: SendQuota | None = None, **release: Any) -> World:
    clock = Clock()
    store = store_with(account("acct1", tier, csm_email="csm@vendor.example"), subscribers=subscribers, **release)
    store.clock = clock
    mailer, queues = FaultyMailer(), Queues()
    made = deps(store, mailer, queues)
    if quota is not None:
        made = dataclasses.replace(made, quota=QuotaCache(lambda: quota))
    return World(store, mailer, queues, clock, made)


def _batch(w: World, *roles: Recipient, notice: str = Notice.RELEASE, attempt: int = 0) -> DeliveryBatch:
    people = [Recipient(s.account_id, s.subscription_id, s.email, "premium") for s in w.store.subscriptions.values()]
    batch = fanout_plan.batches("r1", people + list(roles), 0)[0]
    return dataclasses.replace(batch, notice=notice, attempt=attempt)


def _claim_of(w: World, batch: DeliveryBatch) -> Any:
    return w.store._batches[("r1", f"{batch.notice}#{batch.batch_id}")]


def _text(raw: bytes) -> str:
    message: Message = email.message_from_bytes(raw)
    parts = message.walk() if message.is_multipart() else [message]
    return "\n".join(
        str(p.get_payload(decode=True).decode())  # type: ignore[union-attr]
        for p in parts
        if p.get_content_type() == "text/plain"
    )


# -- what goes back on the queue ----------------------------------------------------------------------


def test_a_message_of_an_unknown_notice_kind_is_refused_without_a_claim_or_a_send() -> None:
    w = _world()
    batch = dataclasses.replace(_batch(w), notice="nonsense")
    with pytest.raises(ValueError, match="'nonsense' is not a valid Notice"):
        w.run(batch)
    assert w.store._batches == {} and w.mailer.accepted == []


@pytest.mark.parametrize(("critical", "queue"), [(False, NAMES.deliver_queue), (True, NAMES.critical_queue)])
def test_while_ses_sending_is_paused_the_batch_waits_fifteen_minutes_on_its_own_queue(
    critical: bool, queue: str, logged: Callable[[str], list[dict[str, Any]]]
) -> None:
    w = _world(quota=SendQuota(10.0, sending_enabled=False))
    batch = _batch(w)
    assert w.run(batch, critical=critical) == {"paused": 1}
    assert w.queued(queue) == [(batch, 900)] and w.mailer.accepted == []
    assert ("r1", f"release#{batch.batch_id}") not in w.store._batches  # not claimed: no attempt spent
    (warning,) = logged("SES sending is paused: batch postponed")
    assert (warning["level"], warning["release_id"]) == ("WARNING", "r1")


def test_a_batch_another_invocation_holds_comes_back_once_its_lease_could_have_run_out() -> None:
    w = _world()
    batch = _batch(w)
    w.store.claim_batch("r1", f"release#{batch.batch_id}", lease_seconds=delivery.LEASE_SECONDS)
    assert w.run(batch, critical=True) == {"busy": 1}
    assert w.queued(NAMES.critical_queue) == [(batch, delivery.LEASE_SECONDS)] and w.mailer.accepted == []


def test_a_claim_holds_the_batch_for_the_lease_and_records_the_delivery_queue_and_message() -> None:
    w = _world()
    batch = _batch(w)
    seen: list[tuple[int, str, dict[str, Any]]] = []

    def look(to: str) -> None:
        c = _claim_of(w, batch)
        seen.append((c.lease_until, c.queue, c.body))

    w.mailer.on_send = look
    w.run(batch, critical=True)
    assert seen[0] == (int(START) + delivery.LEASE_SECONDS, NAMES.critical_queue, batch.to_json())


def test_a_finished_batch_delivered_again_sends_nothing_and_counts_nothing() -> None:
    w = _world()
    batch = _batch(w)
    w.run(batch)
    assert w.run(batch) == {} and len(w.mailer.accepted) == 3 and w.queues.sent == []


def test_throttled_recipients_come_back_later_the_more_attempts_they_took() -> None:
    w = _world()
    w.mailer.faults["u1@acct1.example"] = Throttled("slow down")
    for n, attempt in enumerate((0, 3, 40)):
        w.run(dataclasses.replace(_batch(w, attempt=attempt), batch_id=f"b{n}"), critical=attempt == 3)
    (first, _), (capped, _) = w.queued()
    ((fourth, _),) = w.queued(NAMES.critical_queue)
    assert [d for _, _, d in w.queues.sent] == [30, 120, 900]
    assert (first.attempt, fourth.attempt, capped.attempt) == (1, 4, 41)
    assert (first.batch_id, fourth.batch_id) == (retry_batch_id("b0"), retry_batch_id("b1"))
    assert [r.email for r in first.recipients] == ["u1@acct1.example"]


def test_a_paused_account_sends_its_unsent_recipients_back_for_fifteen_minutes_and_stops_asking_ses() -> None:
    w = _world(quota=SendQuota(0.0))
    w.mailer.faults["u1@acct1.example"] = Paused("sending paused")
    batch = _batch(w)
    counts = w.run(batch)
    ((retry, delay),) = w.queued()
    assert delay == delivery.PAUSE_DELAY_SECONDS and [r.email for r in retry.recipients] == ["u1@acct1.example"]
    assert counts["retry"] == 1 and counts["sent"] == 2
    assert w.deps.quota is not None and w.deps.quota.get().sending_enabled is False


def test_a_paused_recipient_without_a_quota_cache_goes_back_without_pausing_anything() -> None:
    w = _world()
    w.mailer.faults["u1@acct1.example"] = Paused("sending paused")
    w.run(_batch(w))
    assert [d for _, _, d in w.queues.sent] == [delivery.PAUSE_DELAY_SECONDS]


def test_a_throttled_recipient_does_not_pause_the_account_s_sending() -> None:
    w = _world(quota=SendQuota(0.0))
    w.mailer.faults["u1@acct1.example"] = Throttled("slow down")
    w.run(_batch(w))
    assert w.deps.quota is not None and w.deps.quota.get().sending_enabled is True
    assert w.run(dataclasses.replace(_batch(w), batch_id="next"))["sent"] == 0  # claimed and delivered, not paused


def _timed_run(w: World, *, each: float, remaining_ms: int | None = None) -> dict[str, int]:
    """Deliver a batch one send at a time, each taking ``each`` seconds of the sends' clock (which only
    sends move), in an invocation with ``remaining_ms`` left."""
    monotonic = [0.0]

    def taking(to: str) -> None:
        monotonic[0] += each

    w.mailer.on_send = taking
    if remaining_ms is not None:
        w.deps = dataclasses.replace(w.deps, remaining_ms=lambda: remaining_ms)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(delivery_send, "SEND_CONCURRENCY", 1)
        mp.setattr(delivery_send, "clock", lambda: monotonic[0])
        return w.run(_batch(w))


def test_recipients_stopped_only_by_the_deadline_go_on_at_once_as_a_retry_batch() -> None:
    w = _world(subscribers=5)
    counts = _timed_run(w, each=2.1, remaining_ms=8_000)  # stop 2 s before: a quarter of 8 s
    ((retry, delay),) = w.queued()
    assert (counts["sent"], counts["retry"], delay) == (3, 2, 0)  # started at 0, 2.1 and 4.2 s; not at 6.3 s
    assert [r.email for r in retry.recipients] == ["u3@acct1.example", "u4@acct1.example"]
    assert w.statuses() == {f"u{n}@acct1.example": "sent" for n in range(3)}


def test_a_deadline_far_off_stops_sends_fifteen_seconds_before_it() -> None:
    w = _world(subscribers=4)
    counts = _timed_run(w, each=42.5, remaining_ms=100_000)
    assert (counts["sent"], counts["retry"]) == (3, 1)  # started at 0, 42.5 and 85 s (the last one allowed)


def test_a_retry_batch_of_a_recall_stays_a_recall() -> None:
    w = _world(status=ReleaseStatus.YANKED)
    w.mailer.faults["u1@acct1.example"] = Throttled("slow down")
    counts = w.run(_batch(w, notice=Notice.RECALL))
    ((retry, _),) = w.queued()
    assert counts["sent"] == 2 and retry.notice == Notice.RECALL and retry.batch_id.endswith(".r1")
    assert set(w.statuses("recall").values()) == {"sent"} and "WITHDRAWN: " in _text(w.mailer.accepted[0][1])
    assert w.store.tally[("r1", "recall")] == {"premium#subscriber#sent": 2}  # no time to notice: not a release


def test_throttled_and_deadline_stopped_recipients_go_back_together_after_the_retry_delay() -> None:
    w = _world(subscribers=5)
    w.mailer.faults["u0@acct1.example"] = Throttled("slow down")
    counts = _timed_run(w, each=2.1, remaining_ms=8_000)  # u0 throttled; u3 and u4 not started before the deadline
    ((retry, delay),) = w.queued()
    assert (counts["sent"], counts["retry"], delay) == (2, 3, delivery.RETRY_DELAY_SECONDS)
    assert [r.email for r in retry.recipients] == ["u0@acct1.example", "u3@acct1.example", "u4@acct1.example"]


def test_a_paused_account_waits_fifteen_minutes_even_when_others_were_only_throttled() -> None:
    w = _world()
    w.mailer.faults["u0@acct1.example"] = Throttled("slow down")
    w.mailer.faults["u1@acct1.example"] = Paused("sending paused")
    w.run(_batch(w))
    ((retry, delay),) = w.queued()
    assert delay == delivery.PAUSE_DELAY_SECONDS and len(retry.recipients) == 2


def test_a_batch_whose_recipients_were_all_recorded_already_finishes_with_nothing_sent() -> None:
    w = _world()
    w.run(_batch(w))
    counts = w.run(dataclasses.replace(_batch(w), batch_id="again"))  # the same people in another batch
    assert counts == {**dict.fromkeys([str(s) for s in DeliveryStatus], 0), "window_ms": 0}
    assert len(w.mailer.accepted) == 3 and w.store.batch_states("r1", ["release#again"])["release#again"].done


def test_a_batch_of_a_release_gone_from_the_store_finishes_without_a_send() -> None:
    w = _world()
    batch = dataclasses.replace(_batch(w), release_id="gone")
    assert w.run(batch) == dict.fromkeys([str(s) for s in DeliveryStatus], 0) and w.mailer.accepted == []


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], list[dict[str, Any]]]]:
    """The log lines written from here on with a given message, as the JSON documents Lambda keeps."""
    out = io.StringIO()
    monkeypatch.setattr(observability.logger.registered_handler, "stream", out)
    level = observability.logger.log_level
    observability.logger.setLevel("INFO")
    yield lambda message: [
        doc for line in out.getvalue().splitlines() if (doc := json.loads(line)).get("message") == message
    ]
    observability.logger.setLevel(level)


def test_each_delivered_batch_logs_its_counts_with_the_release_for_the_progress_dashboard(
    logged: Callable[[str], list[dict[str, Any]]],
) -> None:
    w = _world()
    batch = _batch(w)
    w.run(batch)
    (line,) = logged("batch delivered")
    assert (line["release_id"], line["batch"], line["sent"], line["retry"]) == ("r1", f"release#{batch.batch_id}", 3, 0)


def test_a_recall_goes_to_a_subscriber_whose_preferences_no_longer_cover_the_release() -> None:
    w = _world(subscribers=2, status=ReleaseStatus.YANKED)
    w.store.put_subscription(dataclasses.replace(w.store.subscriptions[("acct1", "s1")], max_severity=1))
    counts = w.run(_batch(w, notice=Notice.RECALL))
    assert counts["sent"] == 2 and sorted(w.mailer.to()) == ["u0@acct1.example", "u1@acct1.example"]


def test_only_a_batch_with_a_csm_copy_reads_the_account_s_deliveries(monkeypatch: pytest.MonkeyPatch) -> None:
    w = _world(subscribers=2, tier="elite")
    reads: list[str] = []
    read = w.store.account_deliveries

    def reading(release_id: str, notice: str, account_id: str) -> Any:
        reads.append(account_id)
        return read(release_id, notice, account_id)

    monkeypatch.setattr(w.store, "account_deliveries", reading)
    w.run(_batch(w))
    assert reads == []
    w.run(DeliveryBatch("r1", "csm-acct1", (Recipient("acct1", Role.CSM, "csm@vendor.example", "elite", Role.CSM),)))
    assert reads == ["acct1"]


# -- a failed attempt ----------------------------------------------------------------------------------


def test_a_failed_attempt_keeps_its_error_and_frees_the_batch_for_the_next_attempt() -> None:
    w = _world()
    w.mailer.faults["u1@acct1.example"] = RuntimeError("the SES client is broken")
    batch = _batch(w)
    with pytest.raises(RuntimeError):
        w.run(batch)
    claim = _claim_of(w, batch)
    assert (claim.attempts, claim.last_error, claim.failed) == (1, "RuntimeError: the SES client is broken", False)
    w.mailer.faults.clear()
    counts = w.run(batch)  # at once, not busy; what the failed attempt had sent is recorded, so not sent again
    assert "busy" not in counts and counts["sent"] >= 1
    assert sorted(w.mailer.to()) == ["u0@acct1.example", "u1@acct1.example", "u2@acct1.example"]


def test_a_send_ses_accepts_while_the_batch_is_failing_is_still_recorded_so_never_sent_twice() -> None:
    w = _world(subscribers=2)
    w.mailer.faults["u0@acct1.example"] = RuntimeError("the SES client is broken")
    sending, stopping = threading.Event(), threading.Event()
    cancel = delivery_send._cancel

    def cancelling(futures: Any) -> None:
        cancel(futures)
        stopping.set()

    def u1_finishes_after_the_failure_is_seen(to: str) -> None:
        if to == "u0@acct1.example":
            assert sending.wait(timeout=10)  # u1's send is under way: too late to cancel it
        else:
            sending.set()
            assert stopping.wait(timeout=10)

    w.mailer.on_send = u1_finishes_after_the_failure_is_seen
    batch = _batch(w)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(delivery_send, "SEND_CONCURRENCY", 2)
        mp.setattr(delivery_send, "_cancel", cancelling)
        with pytest.raises(RuntimeError):
            w.run(batch)
    assert w.statuses() == {"u1@acct1.example": "sent"}
    w.mailer.faults.clear()
    w.mailer.on_send = lambda to: None
    w.run(batch)
    assert sorted(w.mailer.to()) == ["u0@acct1.example", "u1@acct1.example"]


def test_without_a_quota_sends_are_not_paced() -> None:
    w = _world(subscribers=5)
    counts = _timed_run(w, each=0.25, remaining_ms=1_200)  # stop at 0.9 s: room for sends at 0, 0.25, 0.5, 0.75 s
    assert (counts["sent"], counts["retry"]) == (4, 1)


def test_each_send_is_recorded_with_the_message_id_ses_gave_it() -> None:
    w = _world(subscribers=2)
    w.run(_batch(w))
    records = w.store.deliveries[("r1", "release")]
    ids = {records[f"acct1#s{n}#subscriber"].message_id for n in range(2)}
    assert ids == {"m-1", "m-2"}


def test_a_batch_failing_on_its_last_attempt_is_given_up_and_refused_after(
    logged: Callable[[str], list[dict[str, Any]]],
) -> None:
    w = _world()
    w.mailer.faults["u1@acct1.example"] = RuntimeError("the SES client is broken")
    batch = _batch(w)
    for _ in range(delivery.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            w.run(batch)
    assert [(f.attempts, f.error) for f in w.store.failed_batches("r1")] == [
        (3, "RuntimeError: the SES client is broken")
    ]
    with pytest.raises(delivery.BatchFailed) as refused:
        w.run(batch)
    assert str(refused.value) == (
        f"batch release#{batch.batch_id} given up after 3 attempts: RuntimeError: the SES client is broken"
    )
    given_up = logged("batch given up: its message goes to the DLQ")
    assert [(g["release_id"], g["batch"], g["attempts"], g["level"]) for g in given_up] == [
        ("r1", f"release#{batch.batch_id}", 3, "ERROR")
    ]


def test_a_batch_whose_attempts_never_finished_is_given_up_saying_so(
    logged: Callable[[str], list[dict[str, Any]]],
) -> None:
    w = _world()
    batch = _batch(w)
    for _ in range(delivery.MAX_ATTEMPTS):
        w.store.claim_batch("r1", f"release#{batch.batch_id}", lease_seconds=1)
        w.clock.now += 2
    with pytest.raises(delivery.BatchFailed, match="given up after 3 attempts: 3 attempts ended without finishing"):
        w.run(batch)
    (given_up,) = logged("batch given up: its message goes to the DLQ")
    assert (given_up["release_id"], given_up["batch"], given_up["attempts"], given_up["level"]) == (
        "r1",
        f"release#{batch.batch_id}",
        3,
        "ERROR",
    )
    assert [(f.attempts, f.error) for f in w.store.failed_batches("r1")] == [
        (3, "3 attempts ended without finishing (timeout or crash)")
    ]
    assert w.mailer.accepted == []


# -- what a finish writes ------------------------------------------------------------------------------


def test_a_finish_counts_every_status_and_records_the_outcomes_and_the_tally() -> None:
    w = _world(subscribers=6)
    w.mailer.faults["u2@acct1.example"] = Rejected("address does not exist " + "x" * 600)
    w.mailer.faults["u3@acct1.example"] = Throttled("slow down")
    w.store.put_subscription(dataclasses.replace(w.store.subscriptions[("acct1", "s4")], max_severity=1))
    w.store.put_subscription(
        dataclasses.replace(w.store.subscriptions[("acct1", "s5")], status=SubscriptionStatus.SUPPRESSED)
    )
    counts = w.run(_batch(w))
    assert counts["window_ms"] < 1000  # a failed or skipped recipient has no duplicate window
    assert {k: v for k, v in counts.items() if k != "window_ms"} == {
        "sent": 2,
        "failed": 1,
        "skipped": 1,
        "suppressed": 1,
        "retry": 1,
        "digest": 0,
        "left-out": 0,
    }
    assert w.statuses() == {
        "u0@acct1.example": "sent",
        "u1@acct1.example": "sent",
        "u2@acct1.example": "failed",
        "u4@acct1.example": "skipped",
        "u5@acct1.example": "suppressed",
    }
    detail = w.store.deliveries[("r1", "release")]["acct1#s2#subscriber"].detail
    assert detail is not None and detail.startswith("address does not exist x") and len(detail) == 500
    tally = w.store.tally[("r1", "release")]
    assert {k: v for k, v in tally.items() if "#after#" not in k} == {
        "premium#subscriber#sent": 2,
        "premium#subscriber#failed": 1,
        "premium#subscriber#skipped": 1,
        "premium#subscriber#suppressed": 1,
    }
    assert sum(v for k, v in tally.items() if k.startswith("premium#after#")) == 2


def test_a_release_no_longer_sendable_finishes_its_batch_without_a_send() -> None:
    w = _world(status=ReleaseStatus.YANKED)
    batch = _batch(w)
    counts = w.run(batch)
    assert counts == dict.fromkeys([str(s) for s in DeliveryStatus], 0) and w.mailer.accepted == []
    assert _claim_of(w, batch).done and w.store.deliveries.get(("r1", "release"), {}) == {}


def test_the_duplicate_window_is_the_longest_time_from_ses_accepting_to_the_record_written() -> None:
    w = _world(subscribers=2)
    counts = _timed_run(w, each=1.5)
    assert counts["window_ms"] == 1500  # the first accepted waited for the second send, then the finish wrote both


def test_full_chunks_of_outcomes_are_recorded_while_the_rest_send_and_the_last_one_by_the_finish() -> None:
    w = _world(subscribers=30)
    chunks: list[int] = []
    original = w.store.record_deliveries

    def counting(release_id: str, notice: str, outcomes: Any) -> None:
        chunks.append(len(outcomes))
        original(release_id, notice, outcomes)

    w.store.record_deliveries = counting  # type: ignore[method-assign]
    w.run(_batch(w))
    assert chunks[0] == delivery_send.RECORD_CHUNK and sum(chunks) == 30
    assert len(w.statuses()) == 30


def _composing(mp: pytest.MonkeyPatch, fails: dict[str, Exception]) -> None:
    """Delivery's composer, failing to build the messages of the addresses in ``fails``."""
    real = delivery_compose.composer

    def composer(*args: Any) -> delivery_compose.Compose:
        compose = real(*args)

        def building(r: Recipient) -> bytes:
            if r.email in fails:
                raise fails[r.email]
            return compose(r)

        return building

    mp.setattr(delivery_compose, "composer", composer)


def test_a_message_that_cannot_be_built_is_recorded_failed_with_why_and_the_rest_sent(
    logged: Callable[[str], list[dict[str, Any]]],
) -> None:
    w = _world()
    with pytest.MonkeyPatch.context() as mp:
        _composing(mp, {"u1@acct1.example": ValueError("a header line would exceed 998 octets" + "!" * 600)})
        counts = w.run(_batch(w))
    assert (counts["sent"], counts["failed"]) == (2, 1) and "u1@acct1.example" not in w.mailer.to()
    detail = w.store.deliveries[("r1", "release")]["acct1#s1#subscriber"].detail
    assert detail is not None and len(detail) == 500
    assert detail.startswith("message could not be built: ValueError: a header line would exceed 998 octets!")
    (warning,) = logged("message could not be built")
    assert (warning["level"], warning["recipient"]) == ("WARNING", "acct1#s1#subscriber")
    assert warning["error"].startswith("ValueError('a header line would exceed 998 octets!")


def test_a_transient_error_building_a_message_fails_the_attempt_to_be_retried_whole() -> None:
    w = _world()
    batch = _batch(w)
    with pytest.MonkeyPatch.context() as mp:
        _composing(mp, {"u1@acct1.example": Throttled("the key store is slow")})
        with pytest.raises(Throttled):
            w.run(batch)
    assert "u1@acct1.example" not in w.statuses() and "u1@acct1.example" not in w.mailer.to()
    w.run(batch)  # the next attempt builds it
    assert sorted(w.mailer.to()) == ["u0@acct1.example", "u1@acct1.example", "u2@acct1.example"]


# -- the messages ------------------------------------------------------------------------------------


def test_a_subscriber_gets_the_notice_with_a_download_link_valid_for_the_link_days() -> None:
    w = _world(subscribers=1)
    before = int(time.time())
    w.run(_batch(w))
    after = int(time.time())
    text = _text(w.mailer.accepted[0][1])
    (link,) = re.findall(r"https://patchcast\.test/d/(\S+)", text)
    payload = base64.urlsafe_b64decode(link.split(".")[1] + "==").decode()
    purpose, account_id, subject, release_id, expires = payload.split("|")
    assert (account_id, subject, release_id) == ("acct1", "s0", "r1")
    # link_days from now, to the minute the email states
    assert (before + 7 * 86400) // 60 * 60 <= int(expires) <= after + 7 * 86400 and int(expires) % 60 == 0
    until = datetime.fromtimestamp(int(expires), UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert f"This link works until {until}" in text and "/unsubscribe?token=" in text


def test_the_link_s_expiry_reads_in_utc_whatever_the_machine_s_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    w = _world(subscribers=1)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        w.run(_batch(w))
    finally:
        monkeypatch.undo()
        time.tzset()
    text = _text(w.mailer.accepted[0][1])
    (link,) = re.findall(r"https://patchcast\.test/d/(\S+)", text)
    expires = int(base64.urlsafe_b64decode(link.split(".")[1] + "==").decode().rsplit("|", 1)[1])
    assert f"This link works until {datetime.fromtimestamp(expires, UTC):%Y-%m-%d %H:%M} UTC" in text


@pytest.mark.parametrize("object_key", ["uploads/r1/f.zip", None], ids=["with a file", "without"])
def test_a_batch_renders_the_release_notice_once_and_fills_it_in_per_subscriber(
    object_key: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = _world(subscribers=5, object_key=object_key)
    builds: list[str] = []
    build = mail.NOTICES[Notice.RELEASE]

    def counting(**kwargs: Any) -> bytes:
        builds.append(kwargs["to"])
        return build(**kwargs)

    monkeypatch.setitem(mail.NOTICES, Notice.RELEASE, counting)
    w.run(_batch(w))
    assert len(builds) == 1 and len(w.mailer.accepted) == 5
    assert {to for to, raw in w.mailer.accepted} == {_headers(raw)["To"] for _, raw in w.mailer.accepted}


def test_a_subscriber_gets_no_download_link_for_a_release_without_a_file() -> None:
    w = _world(subscribers=1, object_key=None)
    w.run(_batch(w))
    text = _text(w.mailer.accepted[0][1])
    assert "https://patchcast.test/d/" not in text and "/unsubscribe?token=" in text


def test_the_on_call_and_csm_copies_carry_their_own_intro_and_no_links() -> None:
    w = _world(subscribers=1, tier="elite")
    oncall = Recipient("acct1", Role.ONCALL, "pager@acct1.example", "elite", Role.ONCALL)
    csm = Recipient("acct1", Role.CSM, "csm@vendor.example", "elite", Role.CSM)
    w.run(_batch(w, oncall))
    w.run(DeliveryBatch("r1", "csm-acct1", (csm,)))
    by_address = {to: _text(raw) for to, raw in w.mailer.accepted}
    assert "on-call contact of account acct1" in by_address["pager@acct1.example"]
    assert "https://patchcast.test/d/" not in by_address["pager@acct1.example"]
    assert "CSM copy for account acct1: 2 contact(s)" in by_address["csm@vendor.example"]
    assert "Notified: u0@acct1.example (subscriber)" in by_address["csm@vendor.example"]


# -- the CSM copy's wait ---------------------------------------------------------------------------------


def test_a_csm_copy_waits_thirty_seconds_at_a_time_on_its_own_queue_and_at_most_sixty_times() -> None:
    w = _world(subscribers=1, tier="elite")
    people = _batch(w)
    csm = DeliveryBatch(
        "r1",
        "csm-acct1",
        (Recipient("acct1", Role.CSM, "csm@vendor.example", "elite", Role.CSM),),
        after=(people.batch_id,),
    )
    assert w.run(dataclasses.replace(csm, waits=59), critical=True) == {"waiting": 1}
    ((again, delay),) = w.queued(NAMES.critical_queue)
    assert (again.waits, delay) == (60, delivery_waits.WAIT_DELAY_SECONDS)
    counts = w.run(again)  # waited long enough: goes out listing what is recorded (nobody yet)
    assert counts["sent"] == 1 and "Notified: none" in _text(w.mailer.accepted[0][1])


def test_a_csm_copy_lists_only_the_contacts_its_account_batches_sent_to() -> None:
    w = _world(subscribers=3, tier="elite")
    w.mailer.faults["u1@acct1.example"] = Rejected("no such address")
    oncall = Recipient("acct1", Role.ONCALL, "pager@acct1.example", "elite", Role.ONCALL)
    w.run(_batch(w, oncall))
    csm = Recipient("acct1", Role.CSM, "csm@vendor.example", "elite", Role.CSM)
    w.run(DeliveryBatch("r1", "csm-acct1", (csm,)))
    w.run(DeliveryBatch("r1", "csm-acct1.again", (csm,)))  # a CSM's own earlier copy is not listed
    text = _text(w.mailer.accepted[-1][1])
    listed = [line for line in text.splitlines() if line.startswith("Notified: ")]
    assert listed == [
        "Notified: pager@acct1.example (oncall)",
        "Notified: u0@acct1.example (subscriber)",
        "Notified: u2@acct1.example (subscriber)",
    ]


def test_a_csm_recall_lists_nobody() -> None:
    w = _world(subscribers=1, tier="elite", status=ReleaseStatus.YANKED)
    w.store.record_deliveries(
        "r1", "recall", [delivery.DeliveryOutcome(_batch(w).recipients[0], DeliveryStatus.SENT, "m-0")]
    )
    csm = Recipient("acct1", Role.CSM, "csm@vendor.example", "elite", Role.CSM)
    assert delivery_waits.notified(w.deps, "r1", Notice.RECALL, [csm]) == []


# -- the reconciler ---------------------------------------------------------------------------------------


def _stuck(w: World, batch: DeliveryBatch, *, queue: str = NAMES.deliver_queue, body: Any = None) -> None:
    w.store.claim_batch(
        "r1", f"release#{batch.batch_id}", lease_seconds=1, queue=queue, body=batch.to_json() if body is None else body
    )


def test_the_reconciler_re_drives_a_batch_whose_lease_ran_out_then_waits_two_leases_before_the_next() -> None:
    w = _world(subscribers=1)
    batch = _batch(w)
    _stuck(w, batch, queue=NAMES.critical_queue)
    now = int(START) + 2
    assert delivery_reconcile.reconcile(w.store, w.queues, now=now) == 1
    assert w.queues.on(NAMES.critical_queue) == [batch.to_json()]
    assert delivery_reconcile.reconcile(w.store, w.queues, now=now + 2 * delivery.LEASE_SECONDS) == 0
    assert delivery_reconcile.reconcile(w.store, w.queues, now=now + 2 * delivery.LEASE_SECONDS + 1) == 1


def test_the_reconciler_counts_every_batch_it_re_drove_in_a_run(logged: Callable[[str], list[dict[str, Any]]]) -> None:
    w = _world(subscribers=1)
    for batch_id in ("a", "b"):
        _stuck(w, dataclasses.replace(_batch(w), batch_id=batch_id))
    assert delivery_reconcile.reconcile(w.store, w.queues, now=int(START) + 2) == 2
    (warning,) = logged("re-drove stuck batches")
    assert (warning["level"], warning["count"]) == ("WARNING", 2)


def test_the_reconciler_reads_its_clock_when_not_told_the_time(monkeypatch: pytest.MonkeyPatch) -> None:
    w = _world(subscribers=1)
    _stuck(w, _batch(w))
    monkeypatch.setattr(delivery_reconcile, "clock", lambda: START + 2.9)
    assert delivery_reconcile.reconcile(w.store, w.queues) == 1
    (stuck,) = w.store.stuck_batches(int(START) + 10_000)
    assert stuck.check.startswith(f"{int(START) + 2 + delivery_reconcile.REDRIVE_AFTER_SECONDS:012d}#")


def test_the_reconciler_leaves_a_batch_to_a_human_after_five_re_drives(
    logged: Callable[[str], list[dict[str, Any]]],
) -> None:
    w = _world(subscribers=1)
    batch = _batch(w)
    _stuck(w, batch)
    now = int(START) + 2
    driven = []
    for _ in range(7):
        driven.append(delivery_reconcile.reconcile(w.store, w.queues, now=now))
        now += delivery_reconcile.REDRIVE_AFTER_SECONDS + 1
    assert driven == [1, 1, 1, 1, 1, 0, 0] and len(w.queues.sent) == delivery_reconcile.MAX_REDRIVES
    left = logged("batch stuck beyond re-drives: look at it by hand")
    assert [(x["level"], x["release_id"], x["batch"], x["redrives"]) for x in left] == [
        ("ERROR", "r1", f"release#{batch.batch_id}", 5),
        ("ERROR", "r1", f"release#{batch.batch_id}", 6),
    ]
    (warning,) = logged("re-drove stuck batches")[:1]
    assert (warning["level"], warning["count"]) == ("WARNING", 1)


@pytest.mark.parametrize(
    ("queue", "body", "message", "error"),
    [
        ("", None, "batch stuck beyond re-drives: look at it by hand", None),
        (NAMES.deliver_queue, {}, "batch stuck beyond re-drives: look at it by hand", None),
        (
            NAMES.deliver_queue,
            {"release_id": "r1"},
            "stuck batch's message is malformed: look at it by hand",
            "delivery batch: field 'batch_id' must be a non-empty string",
        ),
    ],
    ids=["no queue", "no message", "malformed"],
)
def test_the_reconciler_leaves_a_batch_without_a_usable_message_to_a_human_and_re_drives_the_rest(
    queue: str, body: Any, message: str, error: str | None, logged: Callable[[str], list[dict[str, Any]]]
) -> None:
    w = _world(subscribers=1)
    bad, good = dataclasses.replace(_batch(w), batch_id="a-bad"), dataclasses.replace(_batch(w), batch_id="b-good")
    _stuck(w, bad, queue=queue, body=body)
    _stuck(w, good)
    assert delivery_reconcile.reconcile(w.store, w.queues, now=int(START) + 2) == 1
    assert w.queues.on(NAMES.deliver_queue) == [good.to_json()]
    (line,) = logged(message)
    assert (line["level"], line["release_id"], line["batch"], line["redrives"]) == ("ERROR", "r1", "release#a-bad", 0)
    assert line.get("error") == error


def test_the_reconciler_skips_a_batch_another_run_re_drove_first_and_goes_on_with_the_rest() -> None:
    w = _world(subscribers=1)
    first, second = _batch(w), dataclasses.replace(_batch(w), batch_id="other")
    _stuck(w, first)
    _stuck(w, second)
    now = int(START) + 2
    found = w.store.stuck_batches(now)
    raced = next(s for s in found if s.batch_id.endswith(first.batch_id))
    assert w.store.mark_redriven(raced, next_check=now + delivery_reconcile.REDRIVE_AFTER_SECONDS)
    w.store.stuck_batches = lambda now, limit=100: found  # type: ignore[method-assign]  # as the query saw them
    assert delivery_reconcile.reconcile(w.store, w.queues, now=now) == 1
    assert w.queues.on(NAMES.deliver_queue) == [second.to_json()]


# -- replies: a recall, an announcement's notices, a release that fulfils an announcement -------------------


class AnnouncingStore(MemoryStore):
    """The in-memory store holding one announcement and the message ids of who got its first notice."""

    def __init__(self, announcement: Announcement, parents: dict[str, str]) -> None:
        super().__init__()
        self.announcement, self.parents = announcement, parents

    def announcement_parents(self, announcement_id: str, recipients: Any) -> dict[str, str]:
        if announcement_id != self.announcement.announcement_id:
            return {}
        return {r.key: self.parents[r.key] for r in recipients if r.key in self.parents}

    def announcement_context(self, announcement_id: str, recipients: Any) -> Any:
        if announcement_id != self.announcement.announcement_id:
            return None, {}, {}
        return (
            self.announcement,
            self.get_accounts(r.account_id for r in recipients),
            self.announcement_parents(announcement_id, recipients),
        )


def _announcing(w: World, held: str, **release: Any) -> World:
    """The world's store and release again, on a store holding the announcement, in SES region eu-west-1
    (an announcement's own batches name it as their release)."""
    a1 = Announcement(
        held,
        "M3",
        "patch",
        "2.0",
        "2026-04-01",
        "The spring update",
        "Coming soon",
        "announced",
        START_ISO,
        "re",
        2,
    )
    store = AnnouncingStore(dataclasses.replace(a1, sequence=1), {"acct1#s0#subscriber": "m-first"})
    store.clock = w.clock
    for attr in ("products", "accounts", "subscriptions", "releases"):
        setattr(store, attr, getattr(w.store, attr))
    store.releases = {"r1": dataclasses.replace(store.releases["r1"], **release)}
    made = dataclasses.replace(w.deps, table=store, region="eu-west-1")
    return World(store, w.mailer, w.queues, w.clock, made)


def _headers(raw: bytes) -> Message:
    return email.message_from_bytes(raw)


def test_a_recall_replies_to_the_notice_each_recipient_got_by_its_ses_message_id_in_the_sending_region() -> None:
    w = _world(subscribers=1, status=ReleaseStatus.YANKED)
    w.deps = dataclasses.replace(w.deps, region="eu-west-1")
    person = _batch(w).recipients[0]
    w.store.record_deliveries("r1", "release", [delivery.DeliveryOutcome(person, DeliveryStatus.SENT, "m-first")])
    w.run(_batch(w, notice=Notice.RECALL))
    recall = _headers(w.mailer.accepted[0][1])
    assert recall["In-Reply-To"] == "<m-first@eu-west-1.amazonses.com>" and recall["From"] == w.mailer.sender


def test_an_announcement_update_goes_from_our_sender_replying_to_the_first_notice_with_an_unsubscribe_link() -> None:
    w = _announcing(_world(subscribers=2, tier="elite"), "r1", status="announced")
    csm = Recipient("acct1", Role.CSM, "csm@vendor.example", "elite", Role.CSM)
    counts = w.run(dataclasses.replace(_batch(w, csm), notice=f"{Notice.ANNOUNCE_UPDATE}.1"))
    assert counts["sent"] == 3
    by_address = {to: raw for to, raw in w.mailer.accepted}
    first, second = _headers(by_address["u0@acct1.example"]), _headers(by_address["u1@acct1.example"])
    assert first["From"] == w.mailer.sender and first["In-Reply-To"] == "<m-first@eu-west-1.amazonses.com>"
    assert second["In-Reply-To"] is None
    text = _text(by_address["u0@acct1.example"])
    assert "The spring update" in text and "/unsubscribe?token=" in text
    assert "/unsubscribe?token=" not in _text(by_address["csm@vendor.example"])


def test_a_release_that_fulfils_an_announcement_threads_its_notice_under_the_announcement() -> None:
    w = _announcing(_world(subscribers=2), "a1", announcement_id="a1")
    w.run(_batch(w))
    by_address = {to: _headers(raw) for to, raw in w.mailer.accepted}
    assert by_address["u0@acct1.example"]["In-Reply-To"] == "<m-first@eu-west-1.amazonses.com>"
    assert by_address["u0@acct1.example"]["References"] == "<m-first@eu-west-1.amazonses.com>"
    assert by_address["u1@acct1.example"]["In-Reply-To"] is None


def test_a_release_s_batches_delivered_within_a_minute_render_its_notice_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The notice is rendered once per container and minute (the links expire to the minute the email states),
    and each recipient still gets a message of their own; the next minute, or an edited release, renders anew."""
    w = _world(subscribers=6)
    renders: list[str] = []
    build = mail.NOTICES[Notice.RELEASE]
    monkeypatch.setitem(mail.NOTICES, Notice.RELEASE, lambda **kw: renders.append(kw["to"]) or build(**kw))
    monkeypatch.setattr(delivery_compose, "_RENDERED", {})
    now = 1_800_000_000  # a minute's start
    monkeypatch.setattr(links, "_after", lambda seconds: now + seconds)
    people = [Recipient(s.account_id, s.subscription_id, s.email, "premium") for s in w.store.subscriptions.values()]
    pages = [fanout_plan.batches("r1", people[i : i + 2], i)[0] for i in (0, 2, 4)]

    w.run(pages[0])
    now += 59
    w.run(pages[1])
    assert len(renders) == 1  # the template's own render, for both batches
    now += 1
    w.run(pages[2])
    assert len(renders) == 2  # a new minute
    messages = [email.message_from_bytes(raw) for _, raw in w.mailer.accepted]
    assert sorted(str(m["To"]) for m in messages) == sorted(p.email for p in people)
    assert len({str(m["Message-ID"]) for m in messages}) == 6
    assert len({re.findall(r"/d/(\S+)", _text(raw))[0] for _, raw in w.mailer.accepted}) == 6

    release, until = w.store.releases["r1"], datetime.fromtimestamp(now, UTC)
    kept = delivery_compose._template(Notice.RELEASE, release, "alerts@patchcast.test", until)
    assert delivery_compose._template(Notice.RELEASE, release, "alerts@patchcast.test", until) is kept
    edited = dataclasses.replace(release, title="Fixes the fix")
    assert delivery_compose._template(Notice.RELEASE, edited, "alerts@patchcast.test", until) is not kept
