"""The domain in virtual time: fan-out, delivery, publishing, a recall and the reconciler read the time only from the
``clock`` they are given (``chalicelib.domain.core.ports.Clock``), so that a simulation can run them at a million
subscribers without waiting; given none, they read the system's, as before."""

from __future__ import annotations

import time

from chalicelib.domain.core.clock import SYSTEM, epoch, iso
from chalicelib.domain.core.messages import DeliveryBatch, FanoutPage
from chalicelib.domain.core.models import Recipient
from chalicelib.domain.core.states import ReleaseStatus, Role
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.delivery import reconcile as delivery_reconcile
from chalicelib.domain.fanout import pages as fanout
from chalicelib.domain.fanout import plan as fanout_plan
from chalicelib.domain.mail.pacing import QuotaCache, SendQuota
from chalicelib.domain.releases import publishing, recall
from tests.domain.world import ENGINEER, LINKS, NAMES, Mailer, Queues, VirtualClock, account, store_with


def test_the_system_clock_reads_the_machine_time() -> None:
    before = time.time()
    assert before - 1 <= epoch(SYSTEM) <= time.time() + 1
    assert iso(VirtualClock()) == "2031-06-02T09:00:00Z"


def test_fan_out_judges_the_contract_on_the_clock_s_day() -> None:
    # GIVEN a premium account whose support period ends on 2030-12-31, two subscribers
    message = FanoutPage.from_json({"release_id": "r1", "page": 0, "cursor": None})
    # WHEN its page is planned in virtual June 2031, and (on a fresh store) by the system clock
    lapsed = fanout.run(store_with(account("prem1", "premium")), Queues(), message, clock=VirtualClock())
    today = fanout.run(store_with(account("prem1", "premium")), Queues(), message)
    # THEN the virtual day is past the period's end: nobody is planned, while today both are
    assert (lapsed, today) == (0, 2)


def test_a_batch_is_paced_and_stamped_in_virtual_time_without_waiting() -> None:
    # GIVEN five subscribers, SES at one message a second, and a virtual clock
    clock, mailer, queues = VirtualClock(), Mailer(), Queues()
    store = store_with(account("prem1", "premium"), subscribers=5)
    people = [Recipient(s.account_id, s.subscription_id, s.email, "premium") for s in store.subscriptions.values()]
    deps = delivery.Deps(
        table=store,
        mailer=mailer,
        queues=queues,
        urls=LINKS,
        link_days=7,
        quota=QuotaCache(lambda: SendQuota(1.0), clock=clock.monotonic),
        clock=clock,
    )
    # WHEN the batch is delivered
    started = time.monotonic()
    counts = delivery.run(deps, fanout_plan.batches("r1", people, 0)[0])
    # THEN all five went, four paced seconds passed in virtual time and none for real, and each link's expiry
    # is seven days after the virtual start (2031-06-09 09:00 UTC, to the minute)
    assert counts["sent"] == 5 and clock.elapsed >= 4.0 and time.monotonic() - started < 2.0
    assert all(b"2031-06-09 09:00 UTC" in raw for _, raw in mailer.accepted)


def test_publishing_and_a_yank_stamp_the_clock_s_time() -> None:
    # GIVEN a release scheduled for 2031-06-01, not due by the system clock
    clock, queues = VirtualClock(), Queues()
    store = store_with(
        account("prem1", "premium"), status=ReleaseStatus.SCHEDULED, published_at=None, notify_at="2031-06-01T00:00:00Z"
    )
    assert publishing.publish_due(store, queues) == []
    # WHEN the schedule runs in virtual June 2031, then the release is yanked
    assert publishing.publish_due(store, queues, clock=clock) == ["r1"]
    clock.sleep(60)
    yanked = recall.yank(store, queues, ENGINEER, "r1", {"reason": "bad build"}, clock=clock)
    # THEN both are stamped with the virtual time
    assert store.releases["r1"].published_at == "2031-06-02T09:00:00Z" and yanked.yanked_at == "2031-06-02T09:01:00Z"


def test_the_reconciler_re_drives_a_batch_whose_lease_ran_out_by_its_clock() -> None:
    # GIVEN a batch claimed now (by the store's clock) and never finished
    store, queues = store_with(account("prem1", "premium")), Queues()
    csm = Recipient("prem1", Role.CSM, "csm@vendor.example", "premium", Role.CSM)
    batch = DeliveryBatch("r1", "b0", (csm,))
    store.claim_batch("r1", "release#b0", lease_seconds=120, queue=NAMES.deliver_queue, body=batch.to_json())
    # WHEN the reconciler runs by the system clock, then by a clock years on
    assert delivery_reconcile.reconcile(store, queues) == 0
    assert delivery_reconcile.reconcile(store, queues, clock=VirtualClock()) == 1
    # THEN the batch is back on its queue once
    assert queues.on(NAMES.deliver_queue) == [batch.to_json()]


def test_a_release_made_available_is_published_or_scheduled_by_the_clock_s_time() -> None:
    # GIVEN a release just verified, to be published on 2031-06-01: in the future by the system clock
    store = store_with(
        account("prem1", "premium"), status=ReleaseStatus.AVAILABLE, published_at=None, notify_at="2031-06-01T00:00:00Z"
    )
    release = store.releases["r1"]
    # WHEN it is made available by the system clock, and (from a fresh copy) by a clock in virtual June 2031
    scheduled = publishing.after_available(store, Queues(), release)
    store.releases["r1"] = release
    published = publishing.after_available(store, Queues(), release, clock=VirtualClock())
    # THEN the first waits for its time, the second is published at the virtual time
    assert scheduled.status == ReleaseStatus.SCHEDULED
    assert (published.status, published.published_at) == (ReleaseStatus.PUBLISHED, "2031-06-02T09:00:00Z")
