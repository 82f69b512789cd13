"""Fan-out planning without AWS: batch size and ids, tier order, on-call and CSM copies across pages."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

from chalicelib.domain import fanout_plan
from chalicelib.domain.messages import DeliveryBatch
from chalicelib.domain.models import Account, Recipient, Release
from chalicelib.domain.records import AudienceEntry

SUNDAY_3AM = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
TUESDAY_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _release(severity: int = 1) -> Release:
    return Release("r1", "M3", "1.0", "patch", severity, "ga", "Fix", "Fixes", "published", "", "")


def _account(account_id: str, tier: str) -> Account:
    return Account(
        account_id,
        account_id,
        tier,
        ("M3",),
        date(2026, 1, 1),
        date(2030, 1, 1),
        csm_email=f"csm@{account_id}.vendor",
        oncall_email=f"oncall@{account_id}.example",
    )


def _entry(account: Account, n: int) -> AudienceEntry:
    return AudienceEntry(
        account.account_id,
        f"s{n}",
        f"u{n}@{account.account_id}.example",
        kinds=("patch",),
        channels=("ga",),
        max_severity=4,
    )


def test_batches_hold_at_most_49_recipients_and_ids_follow_their_members() -> None:
    people = [Recipient("a", f"s{i}", f"u{i}@a.example", "elite") for i in range(100)]
    planned = fanout_plan.batches("r1", people, page=3)
    assert [len(b.recipients) for b in planned] == [49, 49, 2]
    assert fanout_plan.batches("r1", people, page=3) == planned  # a retried page plans the same ids
    changed = fanout_plan.batches("r1", [Recipient("a", "new", "n@a.example", "elite"), *people], page=3)
    assert changed[0].batch_id != planned[0].batch_id


def test_elite_is_planned_before_premium_before_xtreme_as_the_index_returns_them() -> None:
    accounts = {a.account_id: a for a in (_account("e", "elite"), _account("p", "premium"), _account("x", "xtreme"))}
    entries = [_entry(accounts["e"], 1), _entry(accounts["p"], 2), _entry(accounts["x"], 3)]
    planned = fanout_plan.plan_page(_release(2), entries, accounts, TUESDAY_NOON)
    assert [r.tier for r in planned] == ["elite", "premium", "xtreme"]


def _plan(
    release: Release,
    entries: list[dict[str, Any]],
    accounts: dict[str, Account],
    now: datetime,
    page: int = 0,
    carry: dict[str, Any] | None = None,
    more: bool = False,
) -> tuple[list[DeliveryBatch], dict[str, Any]]:
    return fanout_plan.plan_accounts(release, entries, accounts, now, page=page, carry=carry or {}, more=more)


def _rows(planned: list[DeliveryBatch]) -> list[Recipient]:
    return [row for b in planned for row in b.recipients]


def test_the_oncall_copy_goes_once_per_account_even_when_its_subscribers_span_pages() -> None:
    # GIVEN a premium account whose subscribers run over a page boundary, on a Sunday night
    acct = _account("p", "premium")
    accounts = {"p": acct}
    entries = [_entry(acct, i) for i in range(4)]

    # WHEN two pages are planned, the second continuing the account
    first, carry = _plan(_release(1), entries[:2], accounts, SUNDAY_3AM, more=True)
    second, carry2 = _plan(_release(1), entries[2:], accounts, SUNDAY_3AM, page=1, carry=carry)

    # THEN exactly one on-call copy, ahead of the account's first subscriber of the page where it ends
    roles = [row.role for row in _rows(first) + _rows(second)]
    assert roles.count("oncall") == 1 and _rows(second)[0].role == "oncall"
    assert carry["account"] == "p" and carry2 == {}


def test_xtreme_oncall_copies_go_on_weekday_nights_only_and_never_for_lower_severities() -> None:
    acct = _account("x", "xtreme")
    entries = [_entry(acct, 1)]
    weekday_night = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)

    def roles(release: Release, now: datetime) -> list[str]:
        return [row.role for row in _rows(_plan(release, entries, {"x": acct}, now)[0])]

    assert roles(_release(1), weekday_night) == ["oncall", "subscriber"]
    assert roles(_release(1), SUNDAY_3AM) == ["subscriber"]
    assert roles(_release(1), TUESDAY_NOON) == ["subscriber"]
    assert roles(_release(2), weekday_night) == ["subscriber"]


def test_the_csm_copy_waits_for_every_batch_of_the_elite_account_across_pages() -> None:
    # GIVEN an elite account that is the last on page 0 and goes on in page 1, then a premium account
    elite, premium = _account("e", "elite"), _account("p", "premium")
    accounts = {"e": elite, "p": premium}
    page0_entries = [_entry(elite, i) for i in range(60)]

    # WHEN page 0 (more pages follow) and page 1 are planned
    page0, carry = _plan(_release(2), page0_entries, accounts, TUESDAY_NOON, more=True)
    page1, carry1 = _plan(
        _release(2), [_entry(elite, 99), _entry(premium, 1)], accounts, TUESDAY_NOON, page=1, carry=carry
    )

    # THEN one CSM copy, on page 1, waiting for all three batches that hold the account; none for premium
    assert [b.batch_id for b in page0 if b.batch_id.startswith("csm-")] == [] and carry["account"] == "e"
    copies = [b for b in page1 if b.batch_id.startswith("csm-")]
    assert len(copies) == 1 and carry1 == {}
    assert list(copies[0].after) == [b.batch_id for b in page0] + [page1[0].batch_id]
    assert copies[0].recipients == (Recipient("e", "csm", "csm@e.vendor", "elite", "csm"),)


def _same(account: Account, n: int, email: str) -> AudienceEntry:
    return dataclasses.replace(_entry(account, n), email=email)


def test_two_subscriptions_of_one_address_get_one_notice_within_a_page_and_across_pages() -> None:
    # GIVEN an account with the same address (its domain in another case) three times, over two pages
    acct = _account("a", "premium")
    entries = [
        _same(acct, 1, "ops@A.example"),
        _entry(acct, 2),
        _same(acct, 3, "ops@a.EXAMPLE"),
        _same(acct, 4, "Ops@a.example"),
        _same(acct, 5, "ops@a.example"),
    ]

    # WHEN the account is planned over two pages
    first, carry = _plan(_release(2), entries[:3], {"a": acct}, TUESDAY_NOON, more=True)
    second, _ = _plan(_release(2), entries[3:], {"a": acct}, TUESDAY_NOON, page=1, carry=carry)

    # THEN ops@a.example once (the first subscription), the other local part (case matters there) once
    emails = [row.email for row in _rows(first) + _rows(second)]
    assert emails == ["ops@A.example", "u2@a.example", "Ops@a.example"]
    assert len(carry["seen"]) == 2 and "ops" not in str(carry)  # digests, never addresses


def test_role_copies_go_only_to_an_address_that_is_not_already_a_recipient_of_the_account() -> None:
    # GIVEN an elite account whose on-call and CSM addresses are also subscribers (one on the next page),
    # and a premium account whose on-call address is subscribed only in the elite account
    elite = _account("e", "elite")
    premium = _account("p", "premium")
    accounts = {"e": elite, "p": premium}
    entries = [_same(elite, 1, "oncall@E.example"), _entry(elite, 2)]
    later = [_same(elite, 3, "csm@e.vendor"), _same(premium, 4, "oncall@e.example")]

    # WHEN a severity-1 release is planned on a Sunday night over two pages
    first, carry = _plan(_release(1), entries, accounts, SUNDAY_3AM, more=True)
    second, _ = _plan(_release(1), later, accounts, SUNDAY_3AM, page=1, carry=carry)

    # THEN the elite account has no role copy (both addresses are its subscribers), the premium account its
    # on-call copy (the same address in another account is another account's notice)
    rows = _rows(first) + _rows(second)
    assert [(r.account_id, r.role) for r in rows] == [
        ("e", "subscriber"),
        ("e", "subscriber"),
        ("e", "subscriber"),
        ("p", "oncall"),
        ("p", "subscriber"),
    ]
    assert {r.email for r in rows if r.role == "oncall"} == {"oncall@p.example"}


def test_an_account_carried_to_an_empty_last_page_still_gets_its_role_copies() -> None:
    # GIVEN an elite account that ends exactly at a page boundary, and a last page with no entries
    elite = _account("e", "elite")
    first, carry = _plan(_release(1), [_entry(elite, 1)], {"e": elite}, SUNDAY_3AM, more=True)

    # WHEN the empty page is planned
    last, carry_on = _plan(_release(1), [], {}, SUNDAY_3AM, page=1, carry=carry)

    # THEN the on-call copy and the CSM copy go out from the carry
    assert [r.role for r in _rows(first)] == ["subscriber"] and carry_on == {}
    assert [r.email for r in _rows(last)] == ["oncall@e.example", "csm@e.vendor"]
    assert list(last[-1].after) == [first[0].batch_id, last[0].batch_id]
