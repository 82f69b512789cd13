"""A digested notice's delivery record, written when fan-out queues it and settled by its digest's marker, as
each reader sees it: the recall planner (a yank after the digest recalls its recipients, threaded under the
digest; a yank before sends no recall and the digest leaves the release out), delivery's dedupe (an instant
batch does not send a queued notice again), a late retry (a notice sent instantly is not queued again, one never queued is), the
CSM review and the release report (notified once the digest is sent, at the digest's time)."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.store import Table
from chalicelib.adapters.store.digested import LEFT_OUT
from chalicelib.domain.core.messages import FanoutPage
from chalicelib.domain.core.models import DeliveryOutcome, Recipient
from chalicelib.domain.core.states import DeliveryStatus
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.digests import windows as digests
from chalicelib.domain.fanout import plan as fanout_plan
from chalicelib.domain.releases import recall
from chalicelib.domain.reports import release_report as reports
from tests.app import delivery_world
from tests.app.delivery_world import FaultyMailer, QueueRecorder, deps_of
from tests.app.test_digests import _due, _fan_out, _publish, _run, _world
from tests.helpers import ENGINEER

mailer = delivery_world.mailer


def _queued(table: Table, n: int, timezone: str) -> tuple[list[Any], Any]:
    """``n`` digest subscribers in ``timezone`` and a release whose notice fan-out queued for them."""
    subs = _world(table, n=n, timezone=timezone)
    release = _publish(table, subs[0].products[0])
    _fan_out(table, release)
    return subs, release


def _recall_page(table: Table, release_id: str) -> list[str]:
    """The subscriptions the recall's first page plans batches for."""
    sent: list[tuple[str, dict[str, Any], int]] = []
    recall.run_page(table, QueueRecorder(sent), FanoutPage(release_id, recall.RECALL))
    return sorted(row["subscription_id"] for _, body, _ in sent if "recipients" in body for row in body["recipients"])


def _marker(table: Table, due: Any, account_id: str, subscription_id: str) -> dict[str, Any]:
    got = table._db.get_item(
        TableName=table.name,
        Key={"PK": {"S": f"DIGEST#{digests.bucket(due)}"}, "SK": {"S": f"{account_id}#{subscription_id}#SENT"}},
    )["Item"]
    return {k: next(iter(v.values())) for k, v in got.items()}


def _statuses(table: Table, release_id: str) -> dict[str, str]:
    return {d.recipient.subscription_id: d.status for d in table.delivery_outcomes(release_id, "release")}


def test_a_yank_after_the_digest_went_out_recalls_its_recipients_under_the_digests_message_id(
    table: Table, mailer: FaultyMailer
) -> None:
    # GIVEN two daily-digest subscribers whose digest went out with the release
    subs, release = _queued(table, 2, "Europe/Paris")
    due = _due("Europe/Paris")
    assert _run(table, mailer, due) == 2
    # WHEN the release is yanked
    yanked = recall.yank(table, QueueRecorder(), ENGINEER, release.release_id, {"reason": "breaks totals"})
    # THEN the recall's planner recalls both, each recall replying to the digest that carried the notice
    assert _recall_page(table, release.release_id) == ["s0", "s1"]
    people = [Recipient(s.account_id, s.subscription_id, s.email, "premium") for s in subs]
    parents, _, _ = table.recall_context(yanked, people)
    assert parents == {p.key: _marker(table, due, p.account_id, p.subscription_id)["message_id"] for p in people}


def test_a_yank_before_the_digest_went_out_sends_no_recall_and_the_digest_leaves_it_out(
    table: Table, mailer: FaultyMailer
) -> None:
    # GIVEN a digest subscriber with two notices queued, one of which is yanked before the window ends
    subs = _world(table, n=1, timezone="Asia/Tokyo")
    yanked, kept = (_publish(table, subs[0].products[0]) for _ in range(2))
    _fan_out(table, yanked)
    _fan_out(table, kept)
    recall.yank(table, QueueRecorder(), ENGINEER, yanked.release_id, {"reason": "breaks totals"})
    # WHEN the recall is planned THEN nobody is recalled: the notice is still only queued
    assert _statuses(table, yanked.release_id) == {"s0": DeliveryStatus.DIGEST}
    assert _recall_page(table, yanked.release_id) == []
    # AND the digest goes out without it; its record then reads as left out, which no recall recalls
    assert _run(table, mailer, _due("Asia/Tokyo")) == 1
    records, _ = table.delivery_page(yanked.release_id, "release", limit=100, cursor=None)
    assert [(r.status, r.detail) for r in records] == [(DeliveryStatus.LEFT_OUT, LEFT_OUT)]
    assert recall.reached(records, {}, more=False) == ([], {})
    counts = reports.delivery_counts(table.account_part(yanked.release_id, subs[0].account_id)["release"])
    assert (counts["notified"], counts["skipped"]) == (0, 0)  # the review counts it nowhere, as the report
    assert _statuses(table, kept.release_id) == {"s0": DeliveryStatus.SENT}


def test_an_instant_batch_does_not_send_a_notice_queued_for_a_digest(
    table: Table, mailer: FaultyMailer, wired: Any
) -> None:
    # GIVEN a notice queued for s0's digest (and s0 since switched to instant, so a retried page plans a batch)
    subs, release = _queued(table, 1, "UTC")
    sub = subs[0]
    recipient = Recipient(sub.account_id, sub.subscription_id, sub.email, "premium")
    # WHEN delivery takes that batch THEN it sends nothing: the digest will carry the notice, once
    delivery.run(deps_of(wired), fanout_plan.batches(release.release_id, [recipient], 0)[0])
    assert mailer.accepted[sub.email] == 0
    assert _run(table, mailer, _due("UTC")) == 1
    assert mailer.accepted[sub.email] == 1


def test_a_late_retry_queues_a_notice_not_sent_yet_but_not_one_sent_instantly(table: Table) -> None:
    # GIVEN s0's notice sent instantly (its record says so) and s1's never written (the first attempt died)
    subs = _world(table, n=2, timezone="UTC")
    release = _publish(table, subs[0].products[0])
    people = [Recipient(s.account_id, s.subscription_id, s.email, "premium") for s in subs]
    table.record_deliveries(release.release_id, "release", [DeliveryOutcome(people[0], DeliveryStatus.SENT, "m-1")])
    # WHEN a retried page (both now digesting) queues them late for the next window
    due = _due("UTC")
    following = digests.due_after("daily", "UTC", due)
    table.queue_digest_items(
        [
            {
                "bucket": digests.bucket(following),
                "due": following.isoformat(),
                "late": True,
                "natural": digests.bucket(due),
                "frequency": "daily",
                "window": "tomorrow",
                "release_id": release.release_id,
                "recipient": p,
            }
            for p in people
        ]
    )
    # THEN only s1 is queued; s0's instant notice's record (its message id) stands
    page, _ = table.digest_page(digests.bucket(following), cursor=None, limit=1000)
    assert [i["subscription_id"] for i in page if i.get("release_id") == release.release_id] == ["s1"]
    assert table.notice_message_id(release.release_id, subs[0].account_id, "s0") == "m-1"
    assert _statuses(table, release.release_id) == {"s0": DeliveryStatus.SENT, "s1": DeliveryStatus.DIGEST}


def test_the_review_and_the_report_count_a_digested_notice_once_its_digest_is_sent(
    table: Table, mailer: FaultyMailer
) -> None:
    # GIVEN three digest subscribers of a release, one unsubscribed before the digest
    subs, release = _queued(table, 3, "Australia/Sydney")
    table.turn_off_subscription(subs[2].account_id, subs[2].subscription_id, "unsubscribed")
    account = subs[0].account_id
    # THEN while queued, the account's review lists them as queued and neither it nor the report counts them
    part = table.account_part(release.release_id, account)
    assert [r["status"] for r in part["release"]] == ["digest"] * 3
    assert reports.delivery_counts(part["release"])["notified"] == 0
    assert reports.report(table, release)["tiers"]["premium"]["notified"] == 0
    # WHEN the digest goes out THEN both count two notified (at the digest's time) and one skipped
    due = _due("Australia/Sydney")
    assert _run(table, mailer, due) == 2
    part = table.account_part(release.release_id, account)
    counts = reports.delivery_counts(part["release"])
    assert (counts["notified"], counts["skipped"]) == (2, 1)
    sent_at = _marker(table, due, account, "s0")["at"]
    assert [r["at"] for r in part["release"] if r["subscription_id"] == "s0"] == [sent_at]
    tiers = reports.report(table, release)["tiers"]["premium"]
    assert (tiers["notified"], tiers["skipped"]) == (2, 1)
