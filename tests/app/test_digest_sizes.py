"""A digest of any number of releases is recorded within DynamoDB's limits (100 actions a transaction, asserted at
the wire and refused by the local DynamoDB as by AWS): one email, the cursor moves on and the next window goes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.store import Table
from chalicelib.adapters.store.items import release_item
from chalicelib.domain.core.models import Recipient, Release, now_iso
from chalicelib.domain.digests import windows as digests
from chalicelib.domain.reports import release_report as reports
from tests.app import delivery_world
from tests.app.delivery_world import FaultyMailer
from tests.app.test_digests import _due, _run, _world

mailer = delivery_world.mailer


@pytest.fixture
def transactions(table: Table) -> Iterator[list[int]]:
    """The number of actions of each TransactWriteItems the table's client sends, as the wire carries it."""
    seen: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        seen.append(len(params["TransactItems"]))

    events = table._db.meta.events
    events.register("provide-client-params.dynamodb.TransactWriteItems", count, unique_id="count-actions")
    yield seen
    events.unregister("provide-client-params.dynamodb.TransactWriteItems", unique_id="count-actions")


def _releases(table: Table, product: str, n: int) -> list[Release]:
    tag = uuid.uuid4().hex[:6]
    made = [
        Release(
            f"rel-{tag}-{i:04d}",
            product,
            f"{i}.{tag}",
            "patch",
            3,
            "ga",
            f"Fix {i}",
            "Fixes totals",
            "published",
            now_iso(),
            "test",
            published_at=now_iso(),
        )
        for i in range(n)
    ]
    table._batch_write([release_item(r) for r in made])
    return made


def _queue(table: Table, recipient: Recipient, releases: list[Release], due: Any) -> None:
    table.queue_digest_items(
        [
            {
                "bucket": digests.bucket(due),
                "due": due.isoformat(),
                "late": False,
                "frequency": "daily",
                "window": "this morning",
                "release_id": r.release_id,
                "recipient": recipient,
            }
            for r in releases
        ]
    )


@pytest.mark.parametrize("n", [100, 1000])
def test_a_digest_of_many_releases_is_one_email_recorded_within_the_transaction_limit(
    table: Table, mailer: FaultyMailer, transactions: list[int], n: int
) -> None:
    # GIVEN one subscriber with n notices queued in today's window and one in tomorrow's
    sub = _world(table, n=1, timezone="UTC")[0]
    recipient = Recipient(sub.account_id, sub.subscription_id, sub.email, "premium")
    due = _due("UTC")
    following = digests.due_after("daily", "UTC", due)
    many = _releases(table, sub.products[0], n + 1)
    _queue(table, recipient, many[:n], due)
    _queue(table, recipient, many[n:], following)
    # WHEN today's window is sent
    assert _run(table, mailer, due) == 1
    # THEN one email, recorded in transactions of at most 100 actions, and the cursor moved past the window
    assert mailer.accepted[sub.email] == 1
    assert transactions and max(transactions) <= 100
    assert table.digest_cursor() == digests.next_bucket(digests.ready_bucket(due + timedelta(minutes=10)))
    # AND every release counts the subscriber notified once
    for r in (many[0], many[n // 2], many[n - 1]):
        got = reports.report(table, r)
        assert got["tiers"]["premium"]["notified"] == 1, r.release_id
    # AND a second run of the same window sends nothing; the next window goes
    assert _run(table, mailer, due) == 0
    assert _run(table, mailer, following) >= 1  # and what other tests left in tomorrow's window
    assert mailer.accepted[sub.email] == 2


def test_the_local_dynamodb_refuses_a_transaction_of_101_actions_as_dynamodb_does(table: Table) -> None:
    actions = [
        {"Put": {"TableName": table.name, "Item": {"PK": {"S": f"LIMIT#{uuid.uuid4().hex}"}, "SK": {"S": "x"}}}}
        for _ in range(101)
    ]
    with pytest.raises(ClientError) as refused:
        table._db.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "100" in refused.value.response["Error"]["Message"]


def test_a_digest_recorded_again_after_a_kill_between_its_parts_adds_each_counter_once(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters.store import digests as digest_store
    from chalicelib.domain.core.records import SentDigest

    # GIVEN a digest of 150 releases (counters in two transactions, then the marker)
    sub = _world(table, n=1, timezone="UTC")[0]
    recipient = Recipient(sub.account_id, sub.subscription_id, sub.email, "premium")
    many = _releases(table, sub.products[0], 150)
    bucket = digests.bucket(_due("UTC"))
    digest = SentDigest(recipient, "sent", tuple(r.release_id for r in many), "m-1", now_iso())
    tallies = {r.release_id: {"premium#subscriber#sent": 1} for r in many}
    real = digest_store.transact
    calls: list[int] = []

    def killed_at_the_markers(db: Any, actions: list[dict[str, Any]]) -> Any:
        calls.append(len(actions))
        if any(a.get("Put", {}).get("Item", {}).get("type", {}).get("S") == "digest" for a in actions):
            raise delivery_world.Killed()
        return real(db, actions)

    # WHEN the invocation is killed before the markers' write, and the digest is recorded again
    monkeypatch.setattr(digest_store, "transact", killed_at_the_markers)
    with pytest.raises(delivery_world.Killed):
        table.record_digests(bucket, [digest], tallies)
    monkeypatch.setattr(digest_store, "transact", real)
    table.record_digests(bucket, [digest], tallies)
    # THEN each release counts the subscriber once, whichever part carried its counter
    assert calls == [52, 100]  # 51 counters and the guard, then the marker and the other 99
    for r in (many[0], many[60], many[149]):
        assert reports.report(table, r)["tiers"]["premium"]["notified"] == 1, r.release_id
