"""A release's report reads counters that delivery and the download path keep, never the delivery
records: counts per tier stay right through retries, re-drives and repeated clicks."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.domain.core.messages import DeliveryBatch
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.fanout import plan as fanout_plan
from chalicelib.domain.mail.pacing import QuotaCache, SendQuota
from chalicelib.names import ResourceNames
from chalicelib.routes import link_maker
from tests.app.delivery_world import World, load_world
from tests.conftest import auth

NAMES = ResourceNames("local")


@pytest.fixture
def unpaced(wired: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(wired.__dict__, "quota", QuotaCache(lambda: SendQuota(0.0)))


def _report(app_client: Client, release_id: str) -> dict[str, Any]:
    resp = app_client.http.get(f"/releases/{release_id}/report", headers=auth("release-engineer"))
    assert resp.status_code == 200, resp.body
    body: dict[str, Any] = json.loads(resp.body)
    return body


def _batch(world: World) -> DeliveryBatch:
    people = [
        fanout_plan.Recipient(s.account_id, s.subscription_id, s.email, s.account_id.split("-")[0])
        for s in world.subscribers
    ]
    return fanout_plan.batches(world.release.release_id, people, 0)[0]


def test_the_report_counts_per_tier_without_reading_the_delivery_records(
    app_client: Client, wired: Any, runner: Any, unpaced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a release delivered to 2 subscribers per tier through the queues
    world = load_world(wired.table, per_tier=2)
    wired.queues.send(NAMES.fanout_queue, {"release_id": world.release.release_id})
    runner.pump()
    # AND a batch of it to one subscriber per tier who no longer wants it (delivery re-checks: skipped)
    late = load_world(wired.table, per_tier=1)  # subscribed to another product
    wired.queues.send_batch(dataclasses.replace(_batch(late), release_id=world.release.release_id), critical=False)
    runner.pump()

    # WHEN the report is asked for, with the delivery records out of reach
    def unread(*_: Any, **__: Any) -> None:
        raise AssertionError("the report read the delivery records")

    monkeypatch.setattr(wired.table, "delivery_outcomes", unread)
    monkeypatch.setattr(wired.table, "delivery_page", unread)
    report = _report(app_client, world.release.release_id)

    # THEN each tier has its counts, those who opted out since the fan-out skipped (not suppressed)
    assert {t: (c["notified"], c["skipped"], c["suppressed"]) for t, c in report["tiers"].items()} == {
        "elite": (2, 1, 0),
        "premium": (2, 1, 0),
        "xtreme": (2, 1, 0),
    }
    totals = {k: v for k, v in report["totals"].items() if k != "time_to_notice_s"}
    assert totals == {
        "notified": 6,
        "failed": 0,
        "skipped": 3,
        "suppressed": 0,
        "oncall_copies": 0,
        "csm_copies": 0,
        "copies_failed": 0,
        "downloaded": 0,
        "downloaders": 0,
        "recalled": 0,
    }


def test_a_batch_finished_twice_counts_once(app_client: Client, wired: Any, unpaced: None) -> None:
    # GIVEN one batch of 3 subscribers per tier, delivered and finished
    world = load_world(wired.table, per_tier=3)
    message = _batch(world)
    deps = delivery.Deps(
        table=wired.table, mailer=wired.mailer, queues=wired.queues, urls=link_maker(), link_days=30, quota=wired.quota
    )
    delivery.run(deps, message)
    claim = f"release#{message.batch_id}"

    # WHEN the same batch is delivered again (a duplicate message) and finished again (a re-drive racing)
    delivery.run(deps, message)
    again = wired.table.finish_batch(world.release.release_id, claim, {"sent": 9}, tally={"elite#subscriber#sent": 3})

    # THEN the second finish was refused, and the report counts every recipient once
    assert again is False
    report = _report(app_client, world.release.release_id)
    assert {t: c["notified"] for t, c in report["tiers"].items()} == {"elite": 3, "premium": 3, "xtreme": 3}
    assert report["totals"]["notified"] == 9


def test_a_retried_recipient_counts_once_in_the_tier_of_its_notice(
    app_client: Client, wired: Any, runner: Any, unpaced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters.mailer import Throttled
    from tests.app.delivery_world import FaultyMailer

    # GIVEN SES throttles the first send of every premium address once
    world = load_world(wired.table, per_tier=2)
    mailer = FaultyMailer(wired.mailer)
    tried: set[str] = set()

    def throttle_premium_once(_: int, to: str) -> Exception | None:
        if ".premium-" in to and to not in tried:
            tried.add(to)
            return Throttled("TooManyRequestsException")
        return None

    mailer.fault = throttle_premium_once
    monkeypatch.setitem(wired.__dict__, "mailer", mailer)
    monkeypatch.setattr(delivery, "RETRY_DELAY_SECONDS", 0)

    # WHEN the release goes out and the retry batch settles them
    wired.queues.send(NAMES.fanout_queue, {"release_id": world.release.release_id})
    for _ in range(5):
        runner.pump()

    # THEN each premium address counts once, as notified, in its tier
    assert len(tried) == 2 and all(mailer.accepted[a] == 1 for a in world.addresses)
    report = _report(app_client, world.release.release_id)
    assert {t: c["notified"] for t, c in report["tiers"].items()} == {"elite": 2, "premium": 2, "xtreme": 2}


def test_clicks_count_downloads_and_distinct_downloaders_per_tier(app_client: Client, wired: Any) -> None:
    # GIVEN a premium subscriber who clicks twice and another who clicks once
    world = load_world(wired.table, per_tier=2)
    first, second = world.subscribers[2], world.subscribers[3]  # the premium ones
    for sub, clicks in ((first, 2), (second, 1)):
        for _ in range(clicks):
            _click(wired, world, sub, first=not _downloaded_before(wired, world, sub))
    # AND a first click whose read raced another first click of the same subscriber
    _click(wired, world, second, first=True)

    report = _report(app_client, world.release.release_id)
    assert (report["tiers"]["premium"]["downloaded"], report["tiers"]["premium"]["downloaders"]) == (4, 2)
    assert report["totals"]["downloaded"] == 4 and report["totals"]["downloaders"] == 2


def _downloaded_before(wired: Any, world: World, sub: Any) -> bool:
    return bool(wired.table.download_context(world.release.release_id, sub.account_id, sub.subscription_id)[3])


def _click(wired: Any, world: World, sub: Any, *, first: bool) -> None:
    """A premium subscriber's click as the download path records it."""
    wired.table.record_download(
        world.release.release_id,
        account_id=sub.account_id,
        subscription_id=sub.subscription_id,
        ip="10.0.0.1",
        user_agent="t",
        tier="premium",
        first=first,
    )


def test_copies_are_counted_apart_from_subscribers_and_time_to_notice_is_per_tier(
    app_client: Client, wired: Any, runner: Any, unpaced: None
) -> None:
    # GIVEN one subscriber per tier, every account with a CSM (only Elite's gets a copy), published 3 s ago
    world = load_world(wired.table, per_tier=1, csm_email="csm@vendor.example")
    published = (datetime.now(UTC) - timedelta(seconds=3)).isoformat(timespec="seconds").replace("+00:00", "Z")
    wired.table.set_release_fields(world.release.release_id, in_status="published", published_at=published)
    # WHEN it goes out
    wired.queues.send(NAMES.fanout_queue, {"release_id": world.release.release_id})
    for _ in range(3):
        runner.pump()
    report = _report(app_client, world.release.release_id)
    # THEN the Elite account's one subscriber counts 1, its CSM copy apart
    elite = report["tiers"]["elite"]
    assert (elite["notified"], elite["csm_copies"], elite["oncall_copies"]) == (1, 1, 0)
    assert (report["tiers"]["premium"]["notified"], report["tiers"]["premium"]["csm_copies"]) == (1, 0)
    assert report["totals"]["notified"] == 3 and report["totals"]["csm_copies"] == 1
    # AND each tier's time to notice is read from the histogram: a few seconds, to the bucket's upper edge
    for tier in ("elite", "premium", "xtreme"):
        spent = report["tiers"][tier]["time_to_notice_s"]
        assert 3 <= spent["p50"] <= spent["p95"] <= spent["max"] <= 60, spent
    assert report["time_precision"]
    assert report["time_to_first_download_s"] is None


def test_the_time_to_first_download_is_from_publishing_to_the_first_click(app_client: Client, wired: Any) -> None:
    world = load_world(wired.table, per_tier=1)
    published = (datetime.now(UTC) - timedelta(seconds=90)).isoformat(timespec="seconds").replace("+00:00", "Z")
    wired.table.set_release_fields(world.release.release_id, in_status="published", published_at=published)
    sub = world.subscribers[0]
    for _ in range(2):
        wired.table.record_download(
            world.release.release_id,
            account_id=sub.account_id,
            subscription_id=sub.subscription_id,
            ip="10.0.0.1",
            user_agent="t",
            tier="elite",
        )
    report = _report(app_client, world.release.release_id)
    assert 89 <= report["time_to_first_download_s"] <= 100
