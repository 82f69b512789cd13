"""Digests at the app level, on the session's moto server: fan-out queues the digested notices of a window
(severity 1 still goes at once), the runner sends one email per subscription and window with each release's
own link, size and SHA-256, leaves out what was yanked (a successor in the window appears once), sends
nothing twice across a failed or repeated run, honours a preference change mid-window, and the report
counts digested notices as delivered at the digest's time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.store import Table
from chalicelib.domain.core.messages import FanoutPage
from chalicelib.domain.core.models import Account, Release, Subscription, now_iso
from chalicelib.domain.digests import run as digest_run
from chalicelib.domain.digests import windows as digests
from chalicelib.domain.digests.messages import DigestWork
from chalicelib.domain.fanout import pages as fanout
from chalicelib.domain.fanout import plan as fanout_plan
from chalicelib.domain.releases import recall
from chalicelib.domain.reports import release_report as reports
from chalicelib.names import ResourceNames
from chalicelib.routes import link_maker
from patchcast_tools.digests import drain, forget_pages
from tests.app import delivery_world
from tests.app.delivery_world import FaultyMailer, QueueRecorder
from tests.conftest import auth, sent_messages
from tests.helpers import ENGINEER, text_of

NAMES = ResourceNames("local")
DIGEST = {"2": "daily", "3": "daily", "4": "weekly"}

mailer = delivery_world.mailer  # the app's mailer, faulty on demand, counting what SES accepted


def _world(table: Table, n: int = 3, timezone: str = "UTC", digest: dict[str, str] | None = None) -> list[Subscription]:
    tag = uuid.uuid4().hex[:8]
    product = f"P{tag}"
    account = Account(
        f"acct-{tag}", "Acme", "premium", (product,), date(2026, 1, 1), date(2030, 12, 31), timezone=timezone
    )
    subs = [
        Subscription(
            account.account_id,
            f"s{i}",
            f"d{i}.{tag}@example.com",
            (product,),
            ("patch",),
            4,
            ("ga",),
            "active",
            now_iso(),
            digest=dict(DIGEST if digest is None else digest),
        )
        for i in range(n)
    ]
    table.bulk_load([account], subs)
    return subs


def _publish(table: Table, product: str, severity: int = 3, version: str | None = None) -> Release:
    release_id = f"rel-{uuid.uuid4().hex[:10]}"
    release = Release(
        release_id,
        product,
        version or release_id[-6:],
        "patch",
        severity,
        "ga",
        f"Fix {release_id}",
        "Fixes totals",
        "published",
        now_iso(),
        "test",
        filename="fix.zip",
        size=2048,
        sha256="ab" * 32,
        object_key=f"releases/{release_id}/fix.zip",
        published_at=now_iso(),
    )
    table.create_release(release)
    return release


def _fan_out(table: Table, release: Release) -> list[dict[str, Any]]:
    sent: list[tuple[str, dict[str, Any], int]] = []
    fanout.run(table, QueueRecorder(sent), FanoutPage(release.release_id))
    return [body for _, body, _ in sent if "recipients" in body]


def _due(timezone: str = "UTC", frequency: str = "daily") -> datetime:
    return digests.due_after(frequency, timezone, datetime.now(UTC))


def _run(table: Table, mail: Any, due: datetime) -> int:
    """The scheduled runner as it runs after the window's end (the cursor put at the window: other tests
    share the table and its cursor)."""
    table.set_digest_cursor(digests.bucket(due))
    forget_pages(table, digests.bucket(due))
    return drain(table, mail, link_maker(), due + timedelta(minutes=10)).sent


def _digests_to(mail: FaultyMailer, address: str) -> int:
    return mail.accepted[address]


def _last_digest(moto: str, address: str) -> Any:
    from tests.app.flows import emails_to

    found = [m for m in emails_to(moto, address) if "digest" in m["Subject"]]
    assert found, f"no digest to {address}"
    return found[-1]


def test_fanout_queues_digested_notices_and_the_runner_sends_one_email_listing_each_release(
    table: Table, mailer: FaultyMailer, provisioned: str
) -> None:
    # GIVEN three daily-digest subscribers and two severity-3 releases and one severity-1 release
    subs = _world(table, timezone="UTC")
    product = subs[0].products[0]
    low = [_publish(table, product), _publish(table, product)]
    critical = _publish(table, product, severity=1)
    # WHEN fan-out runs: the low ones plan no delivery batch, severity 1 does
    assert [_fan_out(table, r) for r in low] == [[], []]
    batches = _fan_out(table, critical)
    assert sorted(row["subscription_id"] for b in batches for row in b["recipients"]) == ["s0", "s1", "s2"]
    assert mailer.accepted == {}
    # WHEN the runner runs before the window's end: nothing; after: one digest each
    drain(table, mailer, link_maker(), _due("UTC") - timedelta(hours=1))
    assert {s.email: mailer.accepted[s.email] for s in subs} == {s.email: 0 for s in subs}
    _run(table, mailer, _due("UTC"))
    # THEN each got one email listing both releases with its own link, size and SHA-256
    assert {s.email: mailer.accepted[s.email] for s in subs} == {s.email: 1 for s in subs}
    msg = _last_digest(provisioned, subs[0].email)
    body = text_of(msg)
    assert "daily" in msg["Subject"] and "2 releases" in msg["Subject"]
    assert msg["List-Unsubscribe"] and msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for r in low:
        assert f"Fix {r.release_id}" in body
    assert body.count("SHA-256: " + "ab" * 32) == 2 and body.count("2.0 KiB (2048 bytes)") == 2
    downloads = [line for line in body.splitlines() if line.startswith("Download: ")]
    assert len(set(downloads)) == 2
    # AND the delivery record, written when fan-out queued the notice, names its window; read, it says sent
    record = table._db.get_item(
        TableName=table.name,
        Key={
            "PK": {"S": f"RELEASE#{low[0].release_id}"},
            "SK": {"S": f"DELIVERY#release#{subs[0].account_id}#s0#subscriber"},
        },
    )["Item"]
    assert record["status"]["S"] == "digest" and record["digest"]["S"] == digests.bucket(_due("UTC"))
    read = {d.recipient.subscription_id: d for d in table.delivery_outcomes(low[0].release_id, "release")}
    assert {s: d.status for s, d in read.items()} == {"s0": "sent", "s1": "sent", "s2": "sent"}


def test_a_release_yanked_before_the_digest_is_left_out_and_its_successor_appears_once(
    table: Table, mailer: FaultyMailer, provisioned: str
) -> None:
    subs = _world(table, n=1, timezone="Asia/Kolkata")
    product = subs[0].products[0]
    first = _publish(table, product, version="1.0")
    successor, other = _publish(table, product, version="1.1"), _publish(table, product, version="1.2")
    for r in (first, successor, other):
        _fan_out(table, r)
    recall.yank(
        table,
        QueueRecorder(),
        ENGINEER,
        first.release_id,
        {"reason": "breaks totals", "superseded_by": successor.release_id},
    )
    assert _run(table, mailer, _due("Asia/Kolkata")) == 1
    body = text_of(_last_digest(provisioned, subs[0].email))
    assert f"Fix {first.release_id}" not in body
    assert body.count(f"Fix {successor.release_id}") == 1 and f"Fix {other.release_id}" in body


def test_a_batch_that_fails_midway_is_received_again_and_sends_each_digest_exactly_once(
    table: Table, mailer: FaultyMailer
) -> None:
    subs = _world(table, n=5, timezone="Asia/Kathmandu")
    _fan_out(table, _publish(table, subs[0].products[0]))
    mailer.fault = lambda n, to: RuntimeError("the batch dies") if n == 3 else None
    due = _due("Asia/Kathmandu")
    table.set_digest_cursor(digests.bucket(due))
    forget_pages(table, digests.bucket(due))
    drained = drain(table, mailer, link_maker(), due + timedelta(minutes=10))
    # the batch raised once (SQS received it again), nothing reached the DLQ, and nobody got two
    assert [str(e) for e in drained.errors] == ["the batch dies"] and drained.dead == []
    assert _run(table, mailer, due) == 0  # and once more: everything has a marker
    assert {s.email: mailer.accepted[s.email] for s in subs} == {s.email: 1 for s in subs}


def test_a_change_to_instant_mid_window_sends_later_releases_at_once_and_the_queued_one_in_the_digest(
    table: Table, mailer: FaultyMailer, provisioned: str, app_client: Any
) -> None:
    subs = _world(table, n=2, timezone="Europe/Berlin")
    product = subs[0].products[0]
    queued = _publish(table, product)
    _fan_out(table, queued)
    # s0 switches to instant; s1 unsubscribes
    resp = app_client.http.patch(
        f"/subscriptions/{subs[0].subscription_id}",
        headers=auth("customer", subs[0].account_id, subs[0].email),
        body=json.dumps({"digest": {"3": "instant"}}),
    )
    assert resp.status_code == 200 and json.loads(resp.body)["digest"] == {}  # the choice is replaced whole
    table.turn_off_subscription(subs[1].account_id, subs[1].subscription_id, "unsubscribed")
    later = _publish(table, product)
    batches = _fan_out(table, later)
    assert [row["subscription_id"] for b in batches for row in b["recipients"]] == ["s0"]
    assert _run(table, mailer, _due("Europe/Berlin")) == 1
    body = text_of(_last_digest(provisioned, subs[0].email))
    assert f"Fix {queued.release_id}" in body and f"Fix {later.release_id}" not in body
    assert mailer.accepted[subs[1].email] == 0


def test_the_report_counts_digested_notices_as_notified_with_the_digests_time(
    table: Table, mailer: FaultyMailer
) -> None:
    subs = _world(table, n=4, timezone="America/New_York")
    release = _publish(table, subs[0].products[0])
    _fan_out(table, release)
    table.turn_off_subscription(subs[3].account_id, subs[3].subscription_id, "unsubscribed")
    due = _due("America/New_York")
    _run(table, mailer, due)
    got = reports.report(table, release)
    assert got["tiers"]["premium"]["notified"] == 3 and got["tiers"]["premium"]["skipped"] == 1
    # the time to notice is the digest's (sent now in this test, so seconds after publishing)
    assert got["totals"]["time_to_notice_s"]["max"] is not None


def test_a_weekly_digest_waits_for_monday_in_the_accounts_time_zone(table: Table, mailer: FaultyMailer) -> None:
    subs = _world(table, n=1, timezone="Asia/Tokyo", digest={"3": "weekly"})
    _fan_out(table, _publish(table, subs[0].products[0]))
    monday = _due("Asia/Tokyo", "weekly")
    assert monday.astimezone(digests.zone("Asia/Tokyo")).weekday() == 0
    daily = _due("Asia/Tokyo", "daily")
    if daily != monday:  # not Monday tomorrow in Tokyo: the morning before it sends nothing
        assert _run(table, mailer, daily) == 0
    assert _run(table, mailer, monday) == 1


def test_the_digest_is_fit_for_ses(table: Table, mailer: FaultyMailer, provisioned: str) -> None:
    from patchcast_tools.local.strict_ses import audit

    subs = _world(table, n=1, timezone="Australia/Adelaide")
    for _ in range(3):
        _fan_out(table, _publish(table, subs[0].products[0]))
    _run(table, mailer, _due("Australia/Adelaide"))
    raw = [m["raw"] for m in sent_messages(provisioned) if any(subs[0].email in d for d in m["to"])]
    assert len(raw) == 1 and audit(raw[0].encode() if isinstance(raw[0], str) else raw[0]) == []


BAD_CHOICES = [
    ({"1": "daily"}, "digest.1"),  # severity 1 is always instant
    ({"3": "hourly"}, "digest.3"),  # unknown frequency
    ({"0": "daily"}, "digest"),  # unknown severity key
    ({"high": "daily"}, "digest"),
    ("daily", "digest"),
]


@pytest.mark.parametrize(("choice", "field"), BAD_CHOICES)
def test_a_bad_digest_choice_on_subscribe_is_a_400_naming_the_field_and_writes_nothing(
    table: Table, app_client: Any, choice: Any, field: str
) -> None:
    subs = _world(table, n=1)
    account, product = subs[0].account_id, subs[0].products[0]
    address = f"new.{uuid.uuid4().hex[:6]}@example.com"
    body = {"email": address, "products": [product], "kinds": ["patch"], "max_severity": 4, "digest": choice}
    resp = app_client.http.post("/subscriptions", headers=auth("customer", account, address), body=json.dumps(body))
    assert resp.status_code == 400, resp.body
    error = json.loads(resp.body)
    assert error["error"] == "invalid_field" and f"'{field}" in error["message"]
    assert [s.email for s in table.list_subscriptions(account)] == [subs[0].email]


@pytest.mark.parametrize(("choice", "field"), BAD_CHOICES)
def test_a_bad_digest_choice_on_change_is_a_400_naming_the_field_and_changes_nothing(
    table: Table, app_client: Any, choice: Any, field: str
) -> None:
    sub = _world(table, n=1)[0]
    resp = app_client.http.patch(
        f"/subscriptions/{sub.subscription_id}",
        headers=auth("customer", sub.account_id, sub.email),
        body=json.dumps({"max_severity": 2, "digest": choice}),
    )
    assert resp.status_code == 400, resp.body
    assert f"'{field}" in json.loads(resp.body)["message"]
    after = table.get_subscription(sub.account_id, sub.subscription_id)
    assert after is not None and after.digest == DIGEST and after.max_severity == 4


def test_a_digest_choice_is_kept_and_listed_as_given_without_the_instant_ones(table: Table, app_client: Any) -> None:
    sub = _world(table, n=1, digest={})[0]
    headers = auth("customer", sub.account_id, sub.email)
    resp = app_client.http.patch(
        f"/subscriptions/{sub.subscription_id}",
        headers=headers,
        body=json.dumps({"digest": {"2": "instant", "4": "weekly"}}),
    )
    assert resp.status_code == 200 and json.loads(resp.body)["digest"] == {"4": "weekly"}
    listed = json.loads(app_client.http.get("/subscriptions", headers=headers).body)["subscriptions"]
    assert [s["digest"] for s in listed] == [{"4": "weekly"}]


def test_the_scheduled_lambda_sends_the_digests_of_a_window_that_ended(
    table: Table, wired: Any, app_client: Any, runner: Any, provisioned: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a queued notice (the real mailer and quota: the Lambdas as deployed)
    subs = _world(table, n=1, timezone="Asia/Tehran")
    _fan_out(table, _publish(table, subs[0].products[0]))
    due = _due("Asia/Tehran")
    table.set_digest_cursor(digests.bucket(due))
    # WHEN the schedule fires after the window's end (twice: the second finds nothing due), and the digest
    # queue's handler takes the page it enqueued, then the batch the page planned
    monkeypatch.setattr(digest_run, "clock", lambda: due + timedelta(minutes=10))
    event = app_client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    for _ in range(2):
        app_client.lambda_.invoke("send_digests", event)

    def sent() -> list[Any]:
        return [m for m in sent_messages(provisioned) if any(subs[0].email in d for d in m["to"])]

    delivery_world.drain(runner, lambda: len(sent()) >= 1, timeout=20)
    # THEN one digest, and the cursor moved past the window
    assert len(sent()) == 1
    assert table.digest_cursor() == digests.next_bucket(digests.ready_bucket(due + timedelta(minutes=10)))


def test_the_fanout_lambda_queues_digest_items_through_its_queue(table: Table, wired: Any, runner: Any) -> None:
    # GIVEN a daily-digest subscriber and a published release on the fan-out queue
    sub = _world(table, n=1, timezone="Pacific/Chatham")[0]
    release = _publish(table, sub.products[0])
    wired.queues.send(NAMES.fanout_queue, {"release_id": release.release_id})  # type: ignore[attr-defined]

    def queued() -> bool:
        page, _ = table.digest_page(digests.bucket(_due("Pacific/Chatham")), cursor=None, limit=1000)
        return any(i.get("release_id") == release.release_id for i in page)

    # WHEN the fan-out handler takes it THEN the notice waits in the window, no delivery batch planned
    delivery_world.drain(runner, queued, timeout=20)
    assert queued()


def test_a_late_item_whose_notice_an_earlier_window_sent_is_left_out(table: Table, mailer: FaultyMailer) -> None:
    # GIVEN a notice digested in today's window, and the same notice queued again, late, for the next one
    # (a fan-out page retried once its window was about to be sent)
    sub = _world(table, n=1, timezone="America/St_Johns")[0]
    release = _publish(table, sub.products[0])
    _fan_out(table, release)
    due = _due("America/St_Johns")
    assert _run(table, mailer, due) == 1
    recipient = fanout_plan.Recipient(sub.account_id, sub.subscription_id, sub.email, "premium")
    following = digests.due_after("daily", "America/St_Johns", due)
    table.queue_digest_items(
        [
            {
                "bucket": digests.bucket(following),
                "due": following.isoformat(),
                "late": True,
                "frequency": "daily",
                "window": "tomorrow",
                "release_id": release.release_id,
                "natural": digests.bucket(due),
                "recipient": recipient,
            }
        ]
    )
    # WHEN the next window is sent THEN that notice is not sent again
    assert _run(table, mailer, following) == 0
    assert mailer.accepted[sub.email] == 1


def test_a_throttle_stops_the_batch_and_its_successor_sends_the_rest_once(table: Table, mailer: FaultyMailer) -> None:
    from chalicelib.domain.core.errors import Throttled
    from chalicelib.domain.delivery import batch as delivery
    from chalicelib.domain.digests import plan
    from patchcast_tools.digests import InlineQueues

    # GIVEN three digests due in one window, a batch of their range (as a page plans one)
    subs = _world(table, n=3, timezone="Europe/Lisbon")
    _fan_out(table, _publish(table, subs[0].products[0]))
    ours = [f"{s.account_id}#{s.subscription_id}" for s in subs]
    bucket = digests.bucket(_due("Europe/Lisbon"))
    batches = [DigestWork(bucket, 0, batch_id=plan.batch_id(0, ours), first=ours[0], last=ours[-1])]
    queues = InlineQueues()
    # WHEN SES throttles the batch's first send
    mailer.fault = lambda n, to: Throttled("Maximum sending rate exceeded") if n == 1 else None
    deps = digest_run.DigestDeps(table=table, mailer=mailer, queues=queues, urls=link_maker(), link_days=30)
    assert digest_run.run(deps, batches[0])["stopped"] == 1
    # THEN the batch stopped there (no other send asked), and went back on the queue as a new batch, later
    assert mailer.calls == 1
    assert [(w.batch_id, w.first, w.last, d) for w, d in queues.work] == [
        (f"{batches[0].batch_id}.r1", batches[0].first, batches[0].last, delivery.RETRY_DELAY_SECONDS)
    ]
    # AND that batch sends each digest once; the first batch, received again, sends nothing
    deps = digest_run.DigestDeps(table=table, mailer=mailer, queues=queues, urls=link_maker(), link_days=30)
    assert digest_run.run(deps, queues.work[0][0])["sent"] == 3
    assert digest_run.run(deps, batches[0]) == {}
    assert {s.email: mailer.accepted[s.email] for s in subs} == {s.email: 1 for s in subs}


def test_the_schedule_moves_the_cursor_past_windows_that_had_nothing_to_send(table: Table) -> None:
    from chalicelib.domain.digests import plan
    from patchcast_tools.digests import InlineQueues

    # GIVEN the cursor at a quiet night long ago (no notice was ever queued then)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    table.set_digest_cursor(digests.bucket(start))
    # WHEN the schedule runs three hours later
    queues = InlineQueues()
    assert plan.schedule(table, queues, start + timedelta(hours=3)) == 0
    # THEN nothing was due, and it saved the cursor past the empty windows: the next run does not read them again
    assert queues.work == []
    assert table.digest_cursor() == digests.next_bucket(digests.ready_bucket(start + timedelta(hours=3)))
