"""Warnings before a support period ends: 30 and 7 days before ``support_end`` and on the day, each active
contact and the CSM get one, however often the schedule runs; re-importing the contract sends nothing
again, and renewing it stops the old end's warnings."""

from __future__ import annotations

import dataclasses
import email
import json
from datetime import UTC, datetime, timedelta
from email.policy import default
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.domain.accounts import support_warnings as renewal
from chalicelib.domain.core.models import Account, Product, Release, Subscription, now_iso
from tests.conftest import auth, sent_messages, unique


@pytest.fixture
def timely(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(renewal, "TIME_LEFT_MS", 0)  # the test client gives a Lambda 3 s


def _account(wired: Any, days_left: int, *, active: int = 2) -> tuple[Account, list[str]]:
    """An Elite contract ending in ``days_left`` days with a CSM, ``active`` subscribed contacts and one who
    unsubscribed, and a release of its product published today; (contract, addresses that should be warned)."""
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
            "active" if i < active else "unsubscribed",
            now_iso(),
        )
        for i in range(active + 1)
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
    return account, [s.email for s in subs[:active]] + [str(account.csm_email)]


def _run(app_client: Client, times: int = 1) -> None:
    for _ in range(times):
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
    app_client: Client, wired: Any, timely: None
) -> None:
    # GIVEN an Elite contract ending in 30 days, two subscribed contacts, one unsubscribed, and a CSM
    account, warned = _account(wired, 30)
    before = len(sent_messages(""))
    # WHEN the daily schedule runs three times
    _run(app_client, 3)
    # THEN each active contact and the CSM got exactly one warning; the unsubscribed contact none
    got = _warnings(before, [*warned, f"u2.{account.account_id.removeprefix('end-')}@customer.example"])
    assert [len(got[a]) for a in warned] == [1, 1, 1] and sum(map(len, got.values())) == 3
    msg = got[warned[0]][0]
    assert account.support_end.isoformat() in msg["Subject"] and "in 30 days" in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    assert "1 release(s) of your products" in text and "download links answer 403" in text
    html = msg.get_body(("html",)).get_content()
    assert "Ending &amp; Co &lt;b&gt;" in " ".join(html.split()) and "<b>" not in html


@pytest.mark.parametrize(("days", "words"), [(7, "in 7 days"), (0, "today"), (29, "in 29 days")])
def test_the_seven_day_and_last_day_warnings_go_and_a_missed_day_is_caught_up(
    app_client: Client, wired: Any, timely: None, days: int, words: str
) -> None:
    _, warned = _account(wired, days, active=1)
    before = len(sent_messages(""))
    _run(app_client, 2)
    got = _warnings(before, warned)
    assert [len(got[a]) for a in warned] == [1, 1] and words in got[warned[0]][0]["Subject"]


def test_no_warning_outside_the_thresholds(app_client: Client, wired: Any, timely: None) -> None:
    _, warned = _account(wired, 20, active=1)
    before = len(sent_messages(""))
    _run(app_client)
    assert _warnings(before, warned) == {a: [] for a in warned}


def _put(app_client: Client, account: Account) -> None:
    body = {**{k: v for k, v in account.public().items() if k not in ("account_id",)}}
    resp = app_client.http.put(f"/accounts/{account.account_id}", headers=auth("support-admin"), body=json.dumps(body))
    assert resp.status_code == 200, resp.body


def test_reimporting_the_contract_sends_nothing_again_and_renewing_stops_the_old_ends_warnings(
    app_client: Client, wired: Any, timely: None
) -> None:
    # GIVEN a contract warned 30 days before its end
    account, warned = _account(wired, 30, active=1)
    before = len(sent_messages(""))
    _run(app_client)
    # WHEN it is imported again (its name changed, its end not), and the schedule runs again
    _put(app_client, dataclasses.replace(account, name="Renamed"))
    _run(app_client)
    # THEN nobody got a second warning
    assert [len(v) for v in _warnings(before, warned).values()] == [1, 1]
    # AND GIVEN another contract 7 days from its end, renewed for a year before the schedule runs
    ending, warned_too = _account(wired, 7, active=1)
    _put(app_client, dataclasses.replace(ending, support_end=ending.support_end + timedelta(days=365)))
    later = len(sent_messages(""))
    _run(app_client, 2)
    # THEN its old end's warning is not sent
    assert _warnings(later, warned_too) == {a: [] for a in warned_too}


def test_a_suppressed_address_gets_no_warning_and_a_contract_renewed_after_the_index_was_read_none(
    app_client: Client, wired: Any, timely: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a contract 7 days from its end whose CSM's address is suppressed (a bounce)
    account, warned = _account(wired, 7, active=1)
    wired.table.suppress_address(str(account.csm_email), reason="bounce", detail="test", feedback_id=unique("f"))
    before = len(sent_messages(""))
    _run(app_client)
    # THEN only the contact is warned
    assert [len(v) for v in _warnings(before, warned).values()] == [1, 0]
    # AND GIVEN another, renewed after the (eventually consistent) index showed its old end
    stale, warned_too = _account(wired, 7, active=1)
    wired.table.put_account(dataclasses.replace(stale, support_end=stale.support_end + timedelta(days=365)))
    monkeypatch.setattr(wired.table, "contracts_ending", lambda first, last: [stale])
    later = len(sent_messages(""))
    _run(app_client)
    # THEN the consistent read of the contract sees the renewal: no warning for the old end
    assert _warnings(later, warned_too) == {a: [] for a in warned_too}
