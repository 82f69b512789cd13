"""The digest schedule reads only what is due (the due index: one Query, whatever the number of accounts or empty
quarter hours) and a due window's digests are planned page by page into batches of subscription ranges that
cover each subscription not sent yet exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.store import Table
from chalicelib.domain.core.models import Recipient
from chalicelib.domain.digests import plan
from chalicelib.domain.digests import windows as digests
from chalicelib.domain.digests.messages import DigestWork
from patchcast_tools.digests import InlineQueues, forget_pages
from tests.app.test_digests import _world


@pytest.fixture
def operations(table: Table) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(model: Any, **_: Any) -> None:
        seen.append(model.name)

    table._db.meta.events.register("before-call.dynamodb", count, unique_id="count-operations")
    yield seen
    table._db.meta.events.unregister("before-call.dynamodb", unique_id="count-operations")


def _item(bucket: str, r: Recipient, release_id: str) -> dict[str, Any]:
    return {
        "bucket": bucket,
        "due": digests.bucket_time(bucket).isoformat(),
        "late": False,
        "frequency": "daily",
        "window": "then",
        "release_id": release_id,
        "recipient": r,
    }


def test_the_schedule_reads_the_due_index_once_and_enqueues_a_page_of_each_due_window(
    table: Table, operations: list[str]
) -> None:
    # GIVEN items in two quarter hours of a day long ago, eleven hours apart, and none between
    sub = _world(table, n=1)[0]
    r = Recipient(sub.account_id, sub.subscription_id, sub.email, "premium")
    first, second = datetime(2021, 3, 1, 7, 0, tzinfo=UTC), datetime(2021, 3, 1, 18, 15, tzinfo=UTC)
    table.queue_digest_items([_item(digests.bucket(t), r, "rel-old") for t in (first, second)])
    table.set_digest_cursor(digests.bucket(first - timedelta(hours=1)))
    operations.clear()
    # WHEN the schedule runs the next morning
    queues = InlineQueues()
    assert plan.schedule(table, queues, first + timedelta(days=1)) == 2
    # THEN it enqueued a page of each of the two, read in one Query (with the cursor's read and write)
    assert [(w.bucket, w.page, w.batch_id, d) for w, d in queues.work] == [
        (digests.bucket(first), 0, None, 0),
        (digests.bucket(second), 0, None, 0),
    ]
    assert sorted(operations) == ["GetItem", "PutItem", "Query"]


def test_a_due_window_is_planned_page_by_page_into_ranges_that_cover_each_unsent_subscription_once(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN seven subscribers with a notice in one window, the third already sent (its marker), and pages of
    # five items, batches of two digests
    monkeypatch.setattr(plan, "PAGE_ITEMS", 5)
    monkeypatch.setattr(plan, "DIGESTS_PER_BATCH", 2)
    subs = _world(table, n=7)
    people = [Recipient(s.account_id, s.subscription_id, s.email, "premium") for s in subs]
    bucket = digests.bucket(datetime(2021, 4, 1, 6, 45, tzinfo=UTC))
    table.queue_digest_items([_item(bucket, p, "rel-x") for p in people])
    from chalicelib.domain.core.records import SentDigest

    table.record_digests(bucket, [SentDigest(people[2], "sent", ("rel-x",), "m", "2021-04-01T07:00:00Z")], {})
    forget_pages(table, bucket)
    # WHEN the pages are planned one after another, and one page message is delivered twice
    queues = InlineQueues()
    work: list[DigestWork] = [DigestWork(bucket)]
    batches: list[DigestWork] = []
    while work:
        page = work.pop(0)
        plan.plan_page(table, queues, page)
        plan.plan_page(table, queues, page)  # a duplicate: its claim drops it
        for w, _ in queues.work:
            (batches if w.batch_id else work).append(w)
        queues.work.clear()
    # THEN the ranges cover each unsent subscriber exactly once, at most two a batch (the sent one, inside a
    # range or not, is left out by its marker when the batch is sent)
    owners = [f"{p.account_id}#{p.subscription_id}" for p in people]
    unsent = owners[:2] + owners[3:]
    inside = {b.batch_id: [o for o in unsent if str(b.first) <= o <= str(b.last)] for b in batches}
    assert sorted(o for found in inside.values() for o in found) == sorted(unsent)
    assert len(batches) >= 3 and all(1 <= len(found) <= 2 for found in inside.values())


def test_a_page_planned_again_after_some_digests_went_out_plans_the_same_batches(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.domain.core.records import SentDigest

    # GIVEN six subscribers with a notice in one window, batches of three
    monkeypatch.setattr(plan, "DIGESTS_PER_BATCH", 3)
    subs = _world(table, n=6)
    people = [Recipient(s.account_id, s.subscription_id, s.email, "premium") for s in subs]
    bucket = digests.bucket(datetime(2021, 5, 3, 9, 30, tzinfo=UTC))
    table.queue_digest_items([_item(bucket, p, "rel-y") for p in people])

    def planned() -> list[tuple[str | None, str | None, str | None]]:
        forget_pages(table, bucket)
        queues = InlineQueues()
        plan.plan_page(table, queues, DigestWork(bucket))
        return [(w.batch_id, w.first, w.last) for w, _ in queues.work if w.batch_id]

    first = planned()
    assert len(first) == 2
    # WHEN the first subscriber's digest went out (its marker), then the whole second batch's, and the page is
    # planned again (a retried page message)
    sent = [SentDigest(p, "sent", ("rel-y",), "m", "2021-05-03T09:45:00Z") for p in people]
    table.record_digests(bucket, sent[:1], {})
    assert planned() == first  # the same ranges and ids: their claims drop the copies
    table.record_digests(bucket, sent[3:], {})
    assert planned() == first[:1]  # a range with nobody left is not planned
