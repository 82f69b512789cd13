"""Warnings before a support period ends: 30 and 7 days before ``support_end`` and on the day, each active
contact and the CSM get one, however often the schedule runs; re-importing the contract sends nothing
again, and renewing it stops the old end's warnings. They are planned from the due index and sent in paced
batches through the scheduled queue: throttling, a crash mid-batch and a duplicate message lose nothing and
send nothing twice."""

from __future__ import annotations

import dataclasses
import email
import json
from datetime import UTC, datetime, timedelta
from email.policy import default
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.store.due import MAX_PLANS
from chalicelib.domain.accounts import due, scheduled
from chalicelib.domain.core.errors import Throttled
from chalicelib.domain.core.models import Account, Product, Release, Subscription, now_iso
from chalicelib.domain.mail.pacing import QuotaCache, SendQuota
from tests.app.delivery_world import FaultyMailer, Killed
from tests.conftest import auth, sent_messages, unique

# The contacts of every test contract, by status: only the active ones are warned.
STATUSES = ("active", "active", "unsubscribed", "pending", "suppressed")


@pytest.fixture
def unpaced(wired: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(wired.__dict__, "quota", QuotaCache(lambda: SendQuota(0.0)))


def _account(wired: Any, days_left: int, *, active: int = 2) -> tuple[Account, list[str]]:
    """An Elite contract ending in ``days_left`` days with a CSM, ``active`` subscribed contacts and one
    unsubscribed, one pending and one suppressed, a release of its product published today and one before
    its support period, its warnings in the due index; (contract, addresses that should be warned)."""
    tag = unique("")
    product = f"P{tag}"
    end = datetime.now(UTC).date() + timedelta(days=days_left)
    account = Account(
        f"end-{tag}",
        "Ending & Co <b>",
        "elite",
        (product,),
        end - timedelta(days=365),
        end,
        csm_email=f"csm.{tag}@vendor.example",
    )
    subs = [
        Subscription(
            account.account_id,
            f"s{i}",
            f"u{i}.{tag}@customer.example",
            (product,),
            ("patch",),
            4,
            ("ga",),
            "active" if i < active else STATUSES[i - active + 2],
            now_iso(),
        )
        for i in range(active + 3)
    ]
    wired.table.put_product(Product(product, "Product"))
    wired.table.bulk_load([account], subs)
    stamp = now_iso()
    wired.table.create_release(
        Release(
            f"rel-{tag}",
            product,
            "1.0",
            "patch",
            2,
            "ga",
            "Fix",
            "Fixes",
            "published",
            stamp,
            "test",
            published_at=stamp,
        )
    )
    old = (datetime.now(UTC) - timedelta(days=380)).isoformat(timespec="seconds").replace("+00:00", "Z")
    wired.table.create_release(
        Release(f"old-{tag}", product, "0.9", "patch", 2, "ga", "Old", "Old", "published", old, "t", published_at=old)
    )  # published before the support period began: not "lost"
    due.schedule(wired.table, account, datetime.now(UTC))
    return account, [s.email for s in subs[:active]] + [str(account.csm_email)]


def _others(account: Account) -> list[str]:
    """The contract's unsubscribed, pending and suppressed contacts (``_account``): never warned."""
    tag = account.account_id.removeprefix("end-")
    return [f"u{i}.{tag}@customer.example" for i in range(2, 5)]


def _run(wired: Any, runner: Any, times: int = 1) -> None:
    """Plan what is due (as the hourly schedule would at 08:00 or later today, UTC: every contract of these tests
    is in UTC, its warning due at 07:00 on the day) and let ``on_scheduled`` send it."""
    for _ in range(times):
        scheduled.plan(wired.table, wired.queues, due.WARNING, datetime.now(UTC) + timedelta(hours=8))
        runner.pump()


def _schedule(app_client: Client) -> None:
    app_client.lambda_.invoke(
        "support_warnings", app_client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    )


def _warnings(before: int, addresses: list[str]) -> dict[str, list[Any]]:
    got: dict[str, list[Any]] = {a: [] for a in addresses}
    for m in sent_messages("")[before:]:
        for a in addresses:
            if a in m["to"]:
                got[a].append(email.message_from_string(m["raw"], policy=default))
    return got


def test_thirty_days_before_each_contact_and_the_csm_get_one_warning_however_often_the_schedule_runs(
    app_client: Client, wired: Any, runner: Any, unpaced: None
) -> None:
    # GIVEN an Elite contract ending in 30 days, two subscribed contacts, one unsubscribed, one pending, one
    # suppressed, and a CSM, whose warning is due now
    account, warned = _account(wired, 30)
    wired.table.set_due(due.WARNING, account.account_id, datetime.now(UTC) - timedelta(minutes=1))
    before = len(sent_messages(""))
    # WHEN the hourly schedule runs, and plans three times more
    _schedule(app_client)
    runner.pump()
    _run(wired, runner, 3)
    # THEN each active contact and the CSM got exactly one warning; the others none
    got = _warnings(before, [*warned, *_others(account)])
    assert [len(got[a]) for a in warned] == [1, 1, 1] and sum(map(len, got.values())) == 3
    msg = got[warned[0]][0]
    assert account.support_end.isoformat() in msg["Subject"] and "in 30 days" in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    assert "1 release(s) of your products" in text and "download links answer 403" in text
    html = msg.get_body(("html",)).get_content()
    assert "Ending &amp; Co &lt;b&gt;" in " ".join(html.split()) and "<b>" not in html


@pytest.mark.parametrize(("days", "words"), [(7, "in 7 days"), (0, "today"), (29, "in 29 days")])
def test_the_seven_day_and_last_day_warnings_go_and_a_missed_day_is_caught_up(
    app_client: Client, wired: Any, runner: Any, unpaced: None, days: int, words: str
) -> None:
    _, warned = _account(wired, days, active=1)
    before = len(sent_messages(""))
    _run(wired, runner, 2)
    got = _warnings(before, warned)
    assert [len(got[a]) for a in warned] == [1, 1] and words in got[warned[0]][0]["Subject"]


def test_no_warning_outside_the_thresholds(app_client: Client, wired: Any, runner: Any, unpaced: None) -> None:
    _, warned = _account(wired, 20, active=1)
    before = len(sent_messages(""))
    _run(wired, runner)
    assert _warnings(before, warned) == {a: [] for a in warned}


def _put(app_client: Client, account: Account) -> None:
    body = {**{k: v for k, v in account.public().items() if k not in ("account_id",)}}
    resp = app_client.http.put(f"/accounts/{account.account_id}", headers=auth("support-admin"), body=json.dumps(body))
    assert resp.status_code == 200, resp.body


def test_reimporting_the_contract_sends_nothing_again_and_renewing_stops_the_old_ends_warnings(
    app_client: Client, wired: Any, runner: Any, unpaced: None
) -> None:
    # GIVEN a contract warned 30 days before its end
    account, warned = _account(wired, 30, active=1)
    before = len(sent_messages(""))
    _run(wired, runner)
    # WHEN it is imported again (its name changed, its end not), and the schedule runs again
    _put(app_client, dataclasses.replace(account, name="Renamed"))
    _run(wired, runner)
    # THEN nobody got a second warning
    assert [len(v) for v in _warnings(before, warned).values()] == [1, 1]
    # AND GIVEN another contract 7 days from its end, renewed for a year before the schedule runs
    ending, warned_too = _account(wired, 7, active=1)
    _put(app_client, dataclasses.replace(ending, support_end=ending.support_end + timedelta(days=365)))
    later = len(sent_messages(""))
    _run(wired, runner, 2)
    # THEN its old end's warning is not sent
    assert _warnings(later, warned_too) == {a: [] for a in warned_too}


def test_a_suppressed_address_gets_no_warning_and_a_contract_renewed_after_it_was_planned_none(
    app_client: Client, wired: Any, runner: Any, unpaced: None
) -> None:
    # GIVEN a contract 7 days from its end whose CSM's address is suppressed (a bounce)
    account, warned = _account(wired, 7, active=1)
    wired.table.suppress_address(str(account.csm_email), reason="bounce", detail="test", feedback_id=unique("f"))
    before = len(sent_messages(""))
    _run(wired, runner)
    # THEN only the contact is warned
    assert [len(v) for v in _warnings(before, warned).values()] == [1, 0]
    # AND GIVEN another, planned, then renewed before its batch is sent
    stale, warned_too = _account(wired, 7, active=1)
    scheduled.plan(wired.table, wired.queues, due.WARNING, datetime.now(UTC) + timedelta(hours=8))
    wired.table.put_account(dataclasses.replace(stale, support_end=stale.support_end + timedelta(days=365)))
    later = len(sent_messages(""))
    runner.pump()
    # THEN the consistent read of the contract sees the renewal: no warning for the old end
    assert _warnings(later, warned_too) == {a: [] for a in warned_too}


def _failing(wired: Any, nth: int, error: BaseException) -> FaultyMailer:
    """The real mailer, failing its ``nth`` send (1-based) with ``error``."""
    return FaultyMailer(wired.mailer, fault=lambda n, _to: error if n == nth else None)


def _deps(wired: Any, mailer: Any) -> scheduled.Deps:
    return scheduled.Deps(wired.table, wired.queues, mailer, None, 1.0, wired.settings.review_period)


def _each_once(before: int, account: Account, warned: list[str]) -> None:
    got = _warnings(before, [*warned, *_others(account)])
    assert {a: len(v) for a, v in got.items()} == {**{a: 1 for a in warned}, **{a: 0 for a in _others(account)}}


@pytest.mark.parametrize("error", [RuntimeError("SES is down"), Throttled("Maximum sending rate exceeded")])
def test_a_failed_or_throttled_warning_gives_its_claim_back_and_is_sent_later_to_whom_it_was_not(
    wired: Any, runner: Any, unpaced: None, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    # GIVEN two due accounts in one batch; SES fails the second email of the first account
    first, warned = _account(wired, 30)
    second, warned_too = _account(wired, 30, active=1)
    before = len(sent_messages(""))
    monkeypatch.setattr(scheduled, "RETRY_SECONDS", 0)  # a throttled batch is back at once, not in a minute
    batch = due.ScheduledBatch(due.WARNING, (first.account_id, second.account_id))
    outcomes = scheduled.run(_deps(wired, _failing(wired, 2, error)), batch)
    # THEN a failure goes on to the next account (the failed one waits for its lease), a throttle puts both
    # back on the queue; WHEN what is left is planned and sent again
    throttled = isinstance(error, Throttled)
    assert outcomes == ({"requeued": 2} if throttled else {"failed": 1, "sent": 1})
    runner.pump()
    if not throttled:  # the failed one: its lease ends, it is planned again
        wired.table.set_due(due.WARNING, first.account_id, datetime.now(UTC))
        _run(wired, runner)
    # THEN every contact and CSM of both got exactly one warning: the claim was given back, the address sent
    # before the failure not warned again
    _each_once(before, first, warned)
    _each_once(before, second, warned_too)


def test_a_batch_killed_mid_send_and_delivered_again_and_twice_sends_each_warning_once(
    wired: Any, runner: Any, unpaced: None
) -> None:
    # GIVEN a due account whose batch is killed after its first email
    account, warned = _account(wired, 7)
    before = len(sent_messages(""))
    batch = due.ScheduledBatch(due.WARNING, (account.account_id,))
    with pytest.raises(Killed):
        scheduled.run(_deps(wired, _failing(wired, 2, Killed())), batch)
    # WHEN SQS delivers the message again (its claim's lease has run out by then), twice (at least once)
    wired.table.finish_once(account.account_id, f"WARNING#{account.support_end.isoformat()}#7", give_back=True)
    wired.queues.send_scheduled([batch.to_json(), batch.to_json()])
    runner.pump()
    # THEN each got one warning: the first address was recorded, and the duplicate found the claim done
    _each_once(before, account, warned)


def test_a_poison_account_is_planned_a_few_times_then_parked_not_planned_forever(wired: Any) -> None:
    # (a malformed message goes to the scheduled queue's DLQ: test_delivery_faults.py)
    # GIVEN an account due that is never sent (it fails each time) is planned MAX_PLANS times, then no more
    account_id = unique("poison")
    start = datetime.now(UTC)
    wired.table.set_due(due.WARNING, account_id, start - timedelta(minutes=1))

    def plan_once(n: int) -> bool:  # the n-th hourly plan after the lease before it ran out
        now = start + n * scheduled.LEASE
        seen = dict(wired.table.due_page(due.WARNING, now, limit=1000)).get(account_id)
        return seen is not None and wired.table.lease_due(due.WARNING, account_id, seen, now + scheduled.LEASE / 2)

    assert [plan_once(n) for n in range(6)] == [True] * MAX_PLANS + [False] * (6 - MAX_PLANS)


def test_the_warning_follows_the_accounts_zone_not_the_utc_date(wired: Any, unpaced: None) -> None:
    # GIVEN a New York contract ending in 30 days (New York's days), its warning due at 07:00 there
    account, warned = _account(wired, 30, active=1)
    account = dataclasses.replace(account, timezone="America/New_York")
    wired.table.put_account(account)
    before = len(sent_messages(""))
    evening = datetime.combine(account.support_end - timedelta(days=30), datetime.min.time(), tzinfo=UTC)
    due.schedule(wired.table, account, evening)

    def due_at(hours: float) -> bool:
        return account.account_id in dict(
            wired.table.due_page(due.WARNING, evening + timedelta(hours=hours), limit=999)
        )

    assert (due_at(11.99), due_at(12)) == (False, True)  # due at 12:00 UTC: 07:00 EST
    batch = due.ScheduledBatch(due.WARNING, (account.account_id,))
    deps = _deps(wired, wired.mailer)
    # WHEN a batch runs at midnight UTC, 19:00 the evening before in New York
    assert scheduled.run(deps, batch, now=evening) == {"not_due": 1}
    # THEN nobody is warned yet; at 07:00 in New York they are, "in 30 days"
    assert _warnings(before, warned) == {a: [] for a in warned}
    assert scheduled.run(deps, batch, now=evening + timedelta(hours=12)) == {"sent": 1}
    got = _warnings(before, warned)
    assert [len(v) for v in got.values()] == [1, 1] and "in 30 days" in got[warned[0]][0]["Subject"]


def test_a_schedule_fired_twice_plans_each_due_account_once(wired: Any) -> None:
    # GIVEN a due account; WHEN the schedule fires twice at once (EventBridge: at least once)
    account, _ = _account(wired, 30, active=1)
    queued: list[dict[str, Any]] = []

    class Captured:
        def send_scheduled(self, bodies: list[dict[str, Any]], *, delay: int = 0) -> None:
            queued.extend(bodies)

    at = datetime.now(UTC) + timedelta(hours=8)
    for _ in range(2):
        scheduled.plan(wired.table, Captured(), due.WARNING, at)  # type: ignore[arg-type]
    # THEN it was planned once: the first plan leased it out of the due part of the index
    assert [a for body in queued for a in body["accounts"]].count(account.account_id) == 1
