"""A digest re-checks entitlement when it is sent, as delivery's re-check does, with the contract read then: each way
an entitlement can end while a notice waits in its window (tier moved down with a beta release, product removed
from the contract, contract ended, support period ended, channel dropped) leaves the release out of the digest,
the digest is not sent when nothing is left, and the marker records it so that no run tries it again."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import pytest

from chalicelib.adapters.store import Table
from chalicelib.adapters.store.items import subscription_item
from chalicelib.domain.core.models import Account, Release, Subscription, now_iso
from chalicelib.domain.core.states import DeliveryStatus
from chalicelib.domain.digests import windows as digests
from tests.app import delivery_world
from tests.app.delivery_world import FaultyMailer
from tests.app.test_digests import _due, _fan_out, _run

mailer = delivery_world.mailer
ZONE = "America/Chicago"


def _elite(table: Table) -> tuple[Account, Subscription]:
    tag = uuid.uuid4().hex[:8]
    product = f"P{tag}"
    account = Account(
        f"acct-{tag}", "Acme", "elite", (product, f"Q{tag}"), date(2026, 1, 1), date(2030, 12, 31), timezone=ZONE
    )
    sub = Subscription(
        account.account_id,
        "s0",
        f"e0.{tag}@example.com",
        (product,),
        ("patch",),
        4,
        ("ga", "beta"),
        "active",
        now_iso(),
        digest={"3": "daily"},
    )
    table.bulk_load([account], [sub])
    return account, sub


def _release(table: Table, product: str, channel: str) -> Release:
    release_id = f"rel-{uuid.uuid4().hex[:10]}"
    release = Release(
        release_id,
        product,
        release_id[-6:],
        "patch",
        3,
        channel,
        f"Fix {release_id}",
        "Fixes totals",
        "published",
        now_iso(),
        "test",
        published_at=now_iso(),
    )
    table.create_release(release)
    return release


def _drop_contract(table: Table, account: Account, sub: Subscription) -> None:
    table._db.delete_item(
        TableName=table.name, Key={"PK": {"S": f"ACCOUNT#{account.account_id}"}, "SK": {"S": "CONTRACT"}}
    )


def _period_ended(table: Table, account: Account, sub: Subscription) -> None:
    table.put_account(replace(account, support_end=(_due(ZONE) - timedelta(days=1)).date()))


def _channel_dropped(table: Table, account: Account, sub: Subscription) -> None:
    table._batch_write([subscription_item(replace(sub, channels=("ga",)))])


ENDINGS: dict[str, tuple[str, Callable[[Table, Account, Subscription], None]]] = {
    "tier moved from Elite to Premium (a beta release)": (
        "beta",
        lambda t, a, s: t.put_account(replace(a, tier="premium")),
    ),
    "product removed from the contract": ("ga", lambda t, a, s: t.put_account(replace(a, products=a.products[1:]))),
    "contract ended": ("ga", _drop_contract),
    "support period ended": ("ga", _period_ended),
    "channel dropped by the subscription": ("beta", _channel_dropped),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_release_whose_entitlement_ended_during_the_window_is_left_out_and_recorded(
    table: Table, mailer: FaultyMailer, ending: str
) -> None:
    # GIVEN an Elite subscriber with a ga or beta notice queued for this morning's digest
    channel, end = ENDINGS[ending]
    account, sub = _elite(table)
    release = _release(table, sub.products[0], channel)
    _fan_out(table, release)
    assert {d.status for d in table.delivery_outcomes(release.release_id, "release")} == {DeliveryStatus.DIGEST}
    # WHEN the entitlement ends before the window does, and the runner sends the window (twice)
    end(table, account, sub)
    due = _due(ZONE)
    assert _run(table, mailer, due) == 0
    assert _run(table, mailer, due) == 0
    # THEN no digest went out (nothing was left to list), and the notice is recorded as left out, once
    assert mailer.calls == 0
    assert [d.status for d in table.delivery_outcomes(release.release_id, "release")] == [DeliveryStatus.SKIPPED]
    page, _ = table.digest_page(digests.bucket(due), cursor=None, limit=1000)
    markers = [i for i in page if i.get("type") == "digest" and str(i["SK"]).startswith(f"{account.account_id}#")]
    assert [(m["status"], m["skipped"]) for m in markers] == [("skipped", [release.release_id])]


def test_a_digest_lists_what_is_still_entitled_and_leaves_out_a_beta_release_after_a_move_to_premium(
    table: Table, mailer: FaultyMailer
) -> None:
    account, sub = _elite(table)
    beta, ga = _release(table, sub.products[0], "beta"), _release(table, sub.products[0], "ga")
    _fan_out(table, beta)
    _fan_out(table, ga)
    table.put_account(replace(account, tier="premium"))
    assert _run(table, mailer, _due(ZONE)) == 1
    statuses = {r.release_id: next(table.delivery_outcomes(r.release_id, "release")).status for r in (beta, ga)}
    assert statuses == {beta.release_id: DeliveryStatus.SKIPPED, ga.release_id: DeliveryStatus.SENT}
