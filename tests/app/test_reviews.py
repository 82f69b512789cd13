"""The CSM's review of an Elite account: its counts are the release report's for that account, the schedule
sends each account's review once however often it runs (planned from the due index, sent by ``on_scheduled``;
a failed or throttled send is tried again), it asks the matrix (``csm_review_report``), and bad requests are
refused."""

from __future__ import annotations

import argparse
import dataclasses
import email
import json
from datetime import UTC, datetime, timedelta
from email.policy import default
from typing import Any

import jsonschema
import pytest
from chalice.test import Client

from chalicelib.domain.accounts import due, periods, scheduled
from chalicelib.domain.accounts.review import COUNTED
from chalicelib.domain.core import entitlements
from chalicelib.domain.core.errors import Throttled
from chalicelib.domain.core.models import now_iso
from chalicelib.domain.mail.pacing import QuotaCache, SendQuota
from chalicelib.names import ResourceNames
from tests.app.delivery_world import FaultyMailer, World, drain, load_world
from tests.conftest import auth, sent_messages, unique

NAMES = ResourceNames("local")


@pytest.fixture
def unpaced(wired: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(wired.__dict__, "quota", QuotaCache(lambda: SendQuota(0.0)))


def _schedule(app_client: Client, runner: Any, name: str = "review_reports") -> None:
    """The hourly schedule plans what is due; ``on_scheduled`` sends it."""
    app_client.lambda_.invoke(name, app_client.events.generate_cw_event("aws.events", "Scheduled Event", {}, []))
    runner.pump()


def _get(app_client: Client, path: str, role: str = "release-engineer", account: str | None = None) -> Any:
    resp = app_client.http.get(path, headers=auth(role, account, f"ops@{account}.example" if account else None))
    return resp.status_code, json.loads(resp.body)


def _published_world(wired: Any, runner: Any, app_client: Client, published_at: str) -> tuple[World, str]:
    """Two subscribers per tier and a CSM per account; a release of theirs published at ``published_at``,
    delivered; the first Elite subscriber clicks it twice, then the release is yanked and recalled; a second
    release nobody downloads. Returns the world and the second release's id."""
    world = load_world(wired.table, per_tier=2, csm_email=f"{unique('csm')}@vendor.example")
    for account in world.accounts:  # as an upsert of the contract does: the review due now
        due.schedule(wired.table, account, datetime.now(UTC))
    release = dataclasses.replace(
        world.release, release_id=f"{world.release.release_id}-a", version="1.0.1", created_at=published_at
    )  # made when it was published
    wired.table.create_release(release)
    world, release_id = dataclasses.replace(world, release=release), release.release_id
    wired.table.set_release_fields(release_id, in_status="published", published_at=published_at, fanout_at=published_at)
    wired.queues.send(NAMES.fanout_queue, {"release_id": release_id})
    runner.pump()
    elite = world.subscribers[0]
    for first in (True, False):
        wired.table.record_download(
            release_id,
            account_id=elite.account_id,
            subscription_id=elite.subscription_id,
            ip="10.0.0.1",
            user_agent="t",
            email=elite.email,
            tier="elite",
            first=first,
        )
    resp = app_client.http.post(
        f"/releases/{release_id}/yank", headers=auth("release-engineer"), body=json.dumps({"reason": "Breaks invoices"})
    )
    assert resp.status_code == 200, resp.body
    drain(runner, lambda: len(list(wired.table.delivery_outcomes(release_id, "recall"))) >= 2 * 3 + 1)
    other = dataclasses.replace(
        world.release,
        release_id=f"{release_id}-b",
        version="1.1",
        severity=1,
        status="published",
        published_at=published_at,
    )
    wired.table.create_release(other)
    earlier = periods.stamp(datetime.fromisoformat(published_at.replace("Z", "+00:00")) - timedelta(seconds=1))
    minor = dataclasses.replace(other, release_id=f"{release_id}-c", version="1.2", severity=3, published_at=earlier)
    wired.table.create_release(minor)  # published before the severity-1 one, and listed after it
    stranger = dataclasses.replace(other, release_id=f"{release_id}-d", product=f"{world.product}-other")
    wired.table.create_release(stranger)  # another product's, in the same period: in no review of theirs
    return world, other.release_id


def test_the_review_counts_are_the_release_reports_for_the_account(
    app_client: Client, wired: Any, runner: Any, unpaced: None
) -> None:
    # GIVEN a delivered, downloaded and recalled release and one nobody downloaded, published today
    world, untouched = _published_world(wired, runner, app_client, now_iso())
    elite = world.accounts[0]
    bouncing = world.subscribers[1].email
    wired.table.count_transient_bounce(bouncing)
    today = datetime.now(UTC).date().isoformat()
    # WHEN a support admin asks for the Elite account's review of today
    status, review = _get(app_client, f"/accounts/{elite.account_id}/review?from={today}&to={today}", "support-admin")
    # THEN its counts of the release are the report's Elite counts (the only Elite account of the product)
    assert status == 200, review
    _, report = _get(app_client, f"/releases/{world.release.release_id}/report")
    part = next(r for r in review["releases"] if r["id"] == world.release.release_id)
    assert {c: part["counts"][c] for c in COUNTED} == {c: report["tiers"]["elite"][c] for c in COUNTED}
    assert (part["counts"]["notified"], part["counts"]["downloaded"], part["counts"]["downloaders"]) == (2, 2, 1)
    assert part["counts"]["recalled"] >= 2 and review["recalls"][0]["build_downloaded"] is True
    # AND who was notified and who downloaded, when; what nobody downloaded, severity 1 first; the days left
    assert {n["email"] for n in part["notified"]} >= {s.email for s in world.subscribers[:2]}
    assert [(d["email"], d["clicks"]) for d in part["downloads"]] == [(world.subscribers[0].email, 2)]
    assert part["downloads"][0]["first_at"][:10] == today
    assert [w["id"] for w in review["not_downloaded"]] == [untouched, f"{world.release.release_id}-c"]
    assert review["contacts"]["bouncing"] == [{"email": bouncing, "transient_bounces": 1}]
    assert review["days_left"] == (elite.support_end - datetime.now(UTC).date()).days + 1
    # AND it is what the OpenAPI document says
    doc = json.loads(app_client.http.get("/openapi.json").body)
    jsonschema.validate(review, {"$ref": "#/components/schemas/Review", "components": doc["components"]})


def test_the_schedule_sends_each_review_once_however_often_it_runs_and_its_csv_matches_the_report(
    app_client: Client, wired: Any, runner: Any, unpaced: None
) -> None:
    # GIVEN a release published in the period just ended
    period = periods.period_just_ended(wired.settings.review_period, datetime.now(UTC))
    world, _ = _published_world(wired, runner, app_client, periods.stamp(period.start + timedelta(hours=1)))
    csm = world.accounts[0].csm_email
    before = len(sent_messages(wired.settings.names.stage))
    # WHEN the review schedule runs three times, and its batch is sent once more (a duplicate message)
    for _ in range(3):
        _schedule(app_client, runner)
    scheduled.run(_deps(wired), due.ScheduledBatch(due.REVIEW, (world.accounts[0].account_id,)))
    # THEN the Elite CSM got one review; the other tiers' CSMs none
    mine = [m for m in sent_messages(wired.settings.names.stage)[before:] if csm in m["to"]]
    assert len(mine) == 1
    # AND the account's next review is due when the period under way has ended, not before
    spec, now = wired.settings.review_period, datetime.now(UTC)
    following = periods.review_due(spec, periods.period_containing(spec, now), "UTC")
    due_ids = [
        [a for a, _ in wired.table.due_page(due.REVIEW, at, limit=999)]
        for at in (following - timedelta(seconds=1), following)
    ]
    assert [world.accounts[0].account_id in ids for ids in due_ids] == [False, True]
    msg = email.message_from_string(mine[0]["raw"], policy=default)
    rows = next(p for p in msg.walk() if p.get_content_type() == "text/csv").get_content().splitlines()
    header = rows[0].split(",")
    first = next(r for r in (dict(zip(header, row.split(","), strict=True)) for row in rows[1:])
                 if r["release_id"] == world.release.release_id)  # fmt: skip
    _, report = _get(app_client, f"/releases/{world.release.release_id}/report")
    assert "notified" in header
    assert {row.split(",")[1] for row in rows[1:]} == {world.product}  # the account's releases, no other's
    assert {c: int(first[c]) for c in COUNTED} == {c: report["tiers"]["elite"][c] for c in COUNTED}


def test_taking_the_review_away_from_elite_stops_it(
    app_client: Client, wired: Any, runner: Any, unpaced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    period = periods.period_just_ended(wired.settings.review_period, datetime.now(UTC))
    world, _ = _published_world(wired, runner, app_client, periods.stamp(period.start + timedelta(hours=1)))
    elite = dataclasses.replace(entitlements.TIERS["elite"], csm_review_report=False)
    monkeypatch.setitem(entitlements.TIERS, "elite", elite)
    before = len(sent_messages(wired.settings.names.stage))
    _schedule(app_client, runner)
    assert not [m for m in sent_messages(wired.settings.names.stage)[before:] if world.accounts[0].csm_email in m["to"]]
    status, body = _get(app_client, f"/accounts/{world.accounts[0].account_id}/review", "support-admin")
    assert (status, body["error"]) == (409, "not_entitled")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?from=2026-02-01&to=2026-01-01", "invalid_range"),
        ("?from=2024-01-01&to=2025-12-31", "invalid_range"),
        ("?from=2026-13-01", "invalid_field"),
        ("?since=2026-01-01", "unknown_parameter"),
    ],
)
def test_a_reversed_or_too_long_range_a_bad_date_or_an_unknown_parameter_is_a_400(
    app_client: Client, wired: Any, query: str, code: str
) -> None:
    world = load_world(wired.table, per_tier=1)
    status, body = _get(app_client, f"/accounts/{world.accounts[0].account_id}/review{query}", "support-admin")
    assert (status, body["error"]) == (400, code) and "message" in body


def test_customers_may_not_read_a_review_even_of_their_own_account_and_an_unknown_account_is_404(
    app_client: Client, wired: Any
) -> None:
    world = load_world(wired.table, per_tier=1)
    elite, other = world.accounts[0].account_id, world.accounts[1].account_id
    assert _get(app_client, f"/accounts/{elite}/review", "customer", elite)[0] == 403
    assert _get(app_client, f"/accounts/{elite}/review", "customer", other)[0] == 403
    assert _get(app_client, f"/accounts/{elite}/review", "release-engineer")[0] == 403
    assert _get(app_client, f"/accounts/{unique('nobody')}/review", "support-admin")[0] == 404


def test_a_release_published_in_the_current_second_is_in_a_range_ending_now(wired: Any) -> None:
    # Stored times are to the second: a range ending now (sub-second) must still hold this second's releases.
    world = load_world(wired.table, per_tier=1)
    stamp = now_iso()
    wired.table.set_release_fields(world.release.release_id, in_status="published", published_at=stamp)
    now = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(microseconds=1)
    found = wired.table.published_between(now - timedelta(days=1), now, [world.product])
    assert [r.release_id for r in found] == [world.release.release_id]


def test_an_article_is_never_listed_as_not_downloaded(
    app_client: Client, wired: Any, runner: Any, unpaced: None
) -> None:
    # GIVEN the published world and, beside the release nobody downloaded, an article (no file to download)
    world, untouched = _published_world(wired, runner, app_client, now_iso())
    article = dataclasses.replace(
        world.release,
        release_id=f"{untouched}-kb",
        version="1.2",
        kind="critical-solution",
        status="published",
        published_at=now_iso(),
        object_key=None,
        filename=None,
        article_url="https://support.example/kb/1",
    )
    wired.table.create_release(article)
    today = datetime.now(UTC).date().isoformat()
    # WHEN the review of today is read
    _, review = _get(
        app_client, f"/accounts/{world.accounts[0].account_id}/review?from={today}&to={today}", "support-admin"
    )
    # THEN the article is among the releases but not among what nobody downloaded
    assert article.release_id in {r["id"] for r in review["releases"]}
    assert [w["id"] for w in review["not_downloaded"]] == [untouched, f"{world.release.release_id}-c"]


def test_patchctl_accounts_review_prints_the_review_and_names_a_bad_field(
    app_client: Client, wired: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from patchcast_tools.cli import accounts as cli_accounts
    from patchcast_tools.cli.common import CliError
    from tests.app.cli_api import cli_api
    from tests.conftest import STATE

    monkeypatch.setenv("PATCHCAST_STATE_DIR", str(STATE))
    monkeypatch.setattr(cli_accounts, "Api", lambda _base, role: cli_api(app_client, role))
    elite = load_world(wired.table, per_tier=1).accounts[0].account_id

    def run(start: str | None, end: str | None) -> None:
        cli_accounts.cmd_accounts_review(argparse.Namespace(api="http://x", json=False, id=elite, start=start, end=end))

    run("2026-01-01", "2026-01-31")
    assert capsys.readouterr().out.startswith(f"{elite} 2026-01-01T00:00:00Z..2026-02-01T00:00:00Z: 0 release(s)")
    with pytest.raises(CliError, match="'to'"):
        run("2026-02-01", "2026-01-01")


def test_a_suppressed_csm_gets_no_review(app_client: Client, wired: Any, runner: Any, unpaced: None) -> None:
    period = periods.period_just_ended(wired.settings.review_period, datetime.now(UTC))
    world, _ = _published_world(wired, runner, app_client, periods.stamp(period.start + timedelta(hours=1)))
    csm = str(world.accounts[0].csm_email)
    wired.table.suppress_address(csm, reason="complaint", detail="test", feedback_id=unique("f"))
    before = len(sent_messages(wired.settings.names.stage))
    _schedule(app_client, runner)
    assert not [m for m in sent_messages(wired.settings.names.stage)[before:] if csm in m["to"]]


def _deps(wired: Any, mailer: Any = None, remaining_ms: Any = None) -> scheduled.Deps:
    quota = QuotaCache(lambda: SendQuota(0.0))
    spec = wired.settings.review_period
    return scheduled.Deps(wired.table, wired.queues, mailer or wired.mailer, quota, 1.0, spec, remaining_ms)


def _csm_got(wired: Any, csm: str, before: int) -> int:
    return len([m for m in sent_messages(wired.settings.names.stage)[before:] if csm in m["to"]])


def test_a_batch_short_of_time_puts_the_review_back_on_the_queue_at_once(
    app_client: Client, wired: Any, runner: Any, unpaced: None
) -> None:
    period = periods.period_just_ended(wired.settings.review_period, datetime.now(UTC))
    world, _ = _published_world(wired, runner, app_client, periods.stamp(period.start + timedelta(hours=1)))
    csm, batch = str(world.accounts[0].csm_email), due.ScheduledBatch(due.REVIEW, (world.accounts[0].account_id,))
    before = len(sent_messages(wired.settings.names.stage))
    # WHEN a batch has no time left before the function's timeout
    assert scheduled.run(_deps(wired, remaining_ms=lambda: 0), batch) == {"requeued": 1}
    assert _csm_got(wired, csm, before) == 0
    # THEN the review is back on the queue, and sent from there
    runner.pump()
    assert _csm_got(wired, csm, before) == 1


@pytest.mark.parametrize("error", [RuntimeError("SES is down"), Throttled("Maximum sending rate exceeded")])
def test_a_failed_or_throttled_review_gives_its_claim_back_and_is_sent_again(
    app_client: Client, wired: Any, runner: Any, unpaced: None, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    period = periods.period_just_ended(wired.settings.review_period, datetime.now(UTC))
    world, _ = _published_world(wired, runner, app_client, periods.stamp(period.start + timedelta(hours=1)))
    csm, batch = str(world.accounts[0].csm_email), due.ScheduledBatch(due.REVIEW, (world.accounts[0].account_id,))
    monkeypatch.setattr(scheduled, "RETRY_SECONDS", 0)  # a throttled review is back in a minute, not a day
    before = len(sent_messages(wired.settings.names.stage))
    # WHEN SES fails the review's send
    failing = FaultyMailer(wired.mailer, fault=lambda n, _to: error if n == 1 else None)
    outcome = scheduled.run(_deps(wired, failing), batch)
    assert outcome == ({"requeued": 1} if isinstance(error, Throttled) else {"failed": 1})
    # THEN it is sent again: a throttled one from the queue; a failed one when its lease brings it back
    runner.pump()
    if not isinstance(error, Throttled):
        wired.table.set_due(due.REVIEW, world.accounts[0].account_id, datetime.now(UTC))
        _schedule(app_client, runner)
    assert _csm_got(wired, csm, before) == 1


def test_a_full_page_of_due_reviews_plans_the_next_page_in_an_invocation_of_its_own(
    app_client: Client, wired: Any, runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two Elite accounts due, and planning a page of one; SES's quota as the local AWS reports it (paced)
    csms = []
    for _ in range(2):
        world = load_world(wired.table, per_tier=1, csm_email=f"{unique('csm')}@vendor.example")
        due.schedule(wired.table, world.accounts[0], datetime.now(UTC))
        csms.append(str(world.accounts[0].csm_email))
    monkeypatch.setattr(scheduled, "PAGE", 1)
    before = len(sent_messages(wired.settings.names.stage))
    # WHEN the schedule runs once
    _schedule(app_client, runner)
    # THEN both CSMs got their review: the page after the first was planned by on_scheduled
    assert [_csm_got(wired, csm, before) for csm in csms] == [1, 1]


def test_the_scheduled_review_covers_the_month_just_ended_in_the_accounts_zone(wired: Any, unpaced: None) -> None:
    # GIVEN an Elite account in Tokyo; WHEN its batch runs at 16:00 UTC on 31 March, 01:00 on 1 April there
    world = load_world(wired.table, per_tier=1, csm_email=f"{unique('csm')}@vendor.example", timezone="Asia/Tokyo")
    account = world.accounts[0]
    before = len(sent_messages(wired.settings.names.stage))
    now = datetime(2026, 3, 31, 16, tzinfo=UTC)
    assert scheduled.run(_deps(wired), due.ScheduledBatch(due.REVIEW, (account.account_id,)), now=now) == {"sent": 1}
    # THEN the CSM's review is of Tokyo's March (which began on 28 February, 15:00 UTC), not of UTC's February
    mine = [m for m in sent_messages(wired.settings.names.stage)[before:] if str(account.csm_email) in m["to"]]
    msg = email.message_from_string(mine[0]["raw"], policy=default)
    assert msg["Subject"] == f"[Review] {account.account_id} 2026-03-01 to 2026-04-01"
    assert "2026-02-28T15:00:00Z to 2026-03-31T15:00:00Z" in msg.get_body(("plain",)).get_content()
    # AND its next review is due at 06:00 in Tokyo on 1 May
    following = datetime(2026, 4, 30, 21, tzinfo=UTC)
    ids = [
        [a for a, _ in wired.table.due_page(due.REVIEW, at, limit=999)]
        for at in (following - timedelta(seconds=1), following)
    ]
    assert [account.account_id in i for i in ids] == [False, True]
