"""Fan-out planning without AWS: batch size and ids, tier order, on-call and CSM copies across pages."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from chalicelib import fanout
from chalicelib.models import Account, Recipient, Release

SUNDAY_3AM = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
TUESDAY_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _release(severity: int = 1) -> Release:
    return Release("r1", "M3", "1.0", "patch", severity, "ga", "Fix", "Fixes", "published", "", "")


def _account(account_id: str, tier: str) -> Account:
    return Account(account_id, account_id, tier, ("M3",), date(2026, 1, 1), date(2030, 1, 1),
                   csm_email=f"csm@{account_id}.vendor", oncall_email=f"oncall@{account_id}.example")  # fmt: skip


def _entry(account: Account, n: int) -> dict[str, Any]:
    return {"account_id": account.account_id, "subscription_id": f"s{n}", "email": f"u{n}@{account.account_id}.example",
            "kinds": ["patch"], "max_severity": 4, "channels": ["ga"]}  # fmt: skip


def test_batches_hold_at_most_49_recipients_and_ids_follow_their_members() -> None:
    people = [Recipient("a", f"s{i}", f"u{i}@a.example", "elite") for i in range(100)]
    planned = fanout.batches(people, page=3)
    assert [len(b["recipients"]) for b in planned] == [49, 49, 2]
    assert fanout.batches(people, page=3) == planned  # a retried page plans the same ids
    changed = fanout.batches([Recipient("a", "new", "n@a.example", "elite"), *people], page=3)
    assert changed[0]["batch_id"] != planned[0]["batch_id"]


def test_elite_is_planned_before_premium_before_xtreme_as_the_index_returns_them() -> None:
    accounts = {a.account_id: a for a in (_account("e", "elite"), _account("p", "premium"), _account("x", "xtreme"))}
    entries = [_entry(accounts["e"], 1), _entry(accounts["p"], 2), _entry(accounts["x"], 3)]
    planned = fanout.plan_page(_release(2), entries, accounts, TUESDAY_NOON)
    assert [r.tier for r in planned] == ["elite", "premium", "xtreme"]


def test_the_oncall_copy_goes_once_per_account_even_when_its_subscribers_span_pages() -> None:
    # GIVEN a premium account whose subscribers run over a page boundary, on a Sunday night
    acct = _account("p", "premium")
    accounts = {"p": acct}
    people = [Recipient("p", f"s{i}", f"u{i}@p.example", "premium") for i in range(4)]

    # WHEN two pages are planned, the second continuing the account
    first = fanout.with_oncall(_release(1), people[:2], accounts, SUNDAY_3AM, continued=None)
    second = fanout.with_oncall(_release(1), people[2:], accounts, SUNDAY_3AM, continued="p")

    # THEN exactly one on-call copy, ahead of the account's first subscriber
    roles = [r.role for r in first + second]
    assert roles.count("oncall") == 1 and first[0].role == "oncall"


def test_xtreme_oncall_copies_go_on_weekday_nights_only_and_never_for_lower_severities() -> None:
    acct = _account("x", "xtreme")
    person = [Recipient("x", "s1", "u@x.example", "xtreme")]
    weekday_night = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    assert [r.role for r in fanout.with_oncall(_release(1), person, {"x": acct}, weekday_night, None)][0] == "oncall"
    assert fanout.with_oncall(_release(1), person, {"x": acct}, SUNDAY_3AM, None) == person
    assert fanout.with_oncall(_release(1), person, {"x": acct}, TUESDAY_NOON, None) == person
    assert fanout.with_oncall(_release(2), person, {"x": acct}, weekday_night, None) == person


def test_the_csm_copy_waits_for_every_batch_of_the_elite_account_across_pages() -> None:
    # GIVEN an elite account that is the last on page 0 and goes on in page 1, then a premium account
    elite, premium = _account("e", "elite"), _account("p", "premium")
    accounts = {"e": elite, "p": premium}
    page0 = fanout.batches([Recipient("e", f"s{i}", f"u{i}@e.example", "elite") for i in range(60)], page=0)

    # WHEN page 0 (more pages follow) and page 1 are planned
    copies0, carry = fanout.csm_copies(_release(2), page0, accounts, {}, more=True)
    page1 = fanout.batches(
        [Recipient("e", "s99", "u99@e.example", "elite"), Recipient("p", "s1", "u1@p.example", "premium")], page=1
    )
    copies1, carry1 = fanout.csm_copies(_release(2), page1, accounts, carry, more=False)

    # THEN one CSM copy, on page 1, waiting for all three batches that hold the account; none for premium
    assert copies0 == [] and carry["account"] == "e"
    assert len(copies1) == 1 and carry1 == {}
    assert copies1[0]["after"] == [b["batch_id"] for b in page0] + [page1[0]["batch_id"]]
    assert copies1[0]["recipients"] == [["e", "csm", "csm@e.vendor", "elite", "csm"]]
