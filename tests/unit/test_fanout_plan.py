"""Fan-out planning without AWS: batch size and ids, tier order, on-call and CSM copies across pages."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from typing import Any

from chalicelib.domain.core.messages import DeliveryBatch, FanoutPage
from chalicelib.domain.core.models import Account, Recipient, Release
from chalicelib.domain.core.records import AudienceEntry
from chalicelib.domain.fanout import plan as fanout_plan

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
    assert {b.release_id for b in page0 + page1} == {"r1"}


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


def _wanting(account: Account, n: int, **kw: Any) -> AudienceEntry:
    return dataclasses.replace(_entry(account, n), **kw)


def test_a_subscriber_is_planned_only_if_preferences_version_lines_and_contract_all_say_yes() -> None:
    # GIVEN a fix for the 13.4 line, subscribers on 13.4.2, on 12.1 and on every line, one on 13.4 who wants
    # severity 1 only, and the subscribers of a lapsed, a not-yet-started and an unknown account
    acct = _account("p", "premium")
    lapsed = dataclasses.replace(_account("l", "premium"), support_end=date(2026, 11, 1))
    early = dataclasses.replace(_account("n", "premium"), support_start=date(2026, 12, 1))
    accounts = {"p": acct, "l": lapsed, "n": early}
    release = dataclasses.replace(_release(2), applies_to=("13.4",))
    entries = [
        _wanting(acct, 1, installed=("13.4.2",)),
        _wanting(acct, 2, installed=("12.1",)),
        _wanting(acct, 3),
        _wanting(acct, 4, installed=("13.4",), max_severity=1),
        _entry(lapsed, 5),
        _entry(early, 6),
        _entry(_account("u", "premium"), 7),
    ]

    # WHEN the page is planned
    planned = fanout_plan.plan_page(release, entries, accounts, TUESDAY_NOON)

    # THEN the 13.4.2 and the every-line subscribers, as the account's contract names them
    assert planned == [Recipient("p", "s1", "u1@p.example", "premium"), Recipient("p", "s3", "u3@p.example", "premium")]


def test_a_beta_release_reaches_only_the_tiers_whose_contract_includes_beta() -> None:
    elite, premium = _account("e", "elite"), _account("p", "premium")
    entries = [_wanting(elite, 1, channels=("ga", "beta")), _wanting(premium, 2, channels=("ga", "beta"))]
    beta = dataclasses.replace(_release(2), channel="beta")
    planned = fanout_plan.plan_page(beta, entries, {"e": elite, "p": premium}, TUESDAY_NOON)
    assert [r.account_id for r in planned] == ["e"]


def test_the_oncall_copy_follows_the_account_s_own_clock_and_an_unknown_zone_falls_back_to_utc() -> None:
    # GIVEN an xtreme account (weekday nights only) in Los Angeles, where Tuesday noon UTC is 4 am, and one whose
    # zone this runtime does not know
    west = dataclasses.replace(_account("w", "xtreme"), timezone="America/Los_Angeles")
    nowhere = dataclasses.replace(_account("z", "xtreme"), timezone="Mars/Olympus_Mons")
    release = _release(1)

    def roles(acct: Account, now: datetime) -> list[str]:
        return [r.role for r in _rows(_plan(release, [_entry(acct, 1)], {acct.account_id: acct}, now)[0])]

    # THEN Los Angeles is paged at 4 am its time, and not at 3 pm its time (23:00 UTC)
    assert roles(west, TUESDAY_NOON) == ["oncall", "subscriber"]
    assert roles(west, datetime(2026, 11, 24, 23, 0, tzinfo=UTC)) == ["subscriber"]
    # and the unknown zone reads UTC: in hours at noon, out of hours at 11 pm
    assert roles(nowhere, TUESDAY_NOON) == ["subscriber"]
    assert roles(nowhere, datetime(2026, 11, 24, 23, 0, tzinfo=UTC)) == ["oncall", "subscriber"]


def test_the_oncall_copy_follows_the_account_s_business_hours() -> None:
    late = dataclasses.replace(_account("x", "xtreme"), business_hours=(13, 22))
    planned, _ = _plan(_release(1), [_entry(late, 1)], {"x": late}, TUESDAY_NOON)
    assert [r.role for r in _rows(planned)] == ["oncall", "subscriber"]


def test_the_oncall_copy_goes_only_for_a_product_offering_the_tier_s_after_hours_feature() -> None:
    acct = _account("p", "premium")

    def roles(offered: tuple[str, ...], now: datetime) -> list[str]:
        planned, _ = fanout_plan.plan_accounts(
            _release(1), [_entry(acct, 1)], {"p": acct}, now, page=0, carry={}, more=False, offered=offered
        )
        return [r.role for r in _rows(planned)]

    # A product offering neither after-hours feature pages nobody; one offering X10 only on weekday nights.
    assert roles((), SUNDAY_3AM) == ["subscriber"]
    assert roles(("X10",), SUNDAY_3AM) == ["subscriber"]
    assert roles(("X10",), datetime(2026, 11, 24, 23, 0, tzinfo=UTC)) == ["oncall", "subscriber"]
    assert roles(("P1",), SUNDAY_3AM) == ["oncall", "subscriber"]


def test_the_oncall_copy_is_a_recipient_of_its_account_with_its_tier_in_the_release_s_batch() -> None:
    acct = _account("p", "premium")
    planned, carry = _plan(_release(1), [_entry(acct, 1)], {"p": acct}, SUNDAY_3AM, page=2)
    (batch,) = planned
    assert batch.release_id == "r1" and batch.batch_id.startswith("2-0-") and carry == {}
    assert batch.recipients == (
        Recipient("p", "oncall", "oncall@p.example", "premium", "oncall"),
        Recipient("p", "s1", "u1@p.example", "premium"),
    )


def test_an_account_none_of_whose_subscribers_takes_the_release_gets_no_role_copy() -> None:
    # GIVEN an elite account carried from the previous page with its batch, then an elite account whose only
    # subscriber wants no patches, last on a page that is not the last one, then on the last page
    carried, idle = _account("c", "elite"), _account("i", "elite")
    accounts = {"c": carried, "i": idle}
    first, carry = _plan(_release(1), [_entry(carried, 1)], accounts, SUNDAY_3AM, more=True)
    entries = [_entry(carried, 2), _wanting(idle, 3, kinds=("update",))]

    # WHEN that page is planned, then the empty last page
    second, carry2 = _plan(_release(1), entries, accounts, SUNDAY_3AM, page=1, carry=carry, more=True)
    last, _ = _plan(_release(1), [], accounts, SUNDAY_3AM, page=2, carry=carry2)

    # THEN the carried account gets its copies once it ends; the idle one none, on no page
    assert [(r.account_id, r.role) for r in _rows(second)] == [("c", "oncall"), ("c", "subscriber"), ("c", "csm")]
    assert carry2 == {"account": "i", "batches": [], "csm": "csm@i.vendor", "tier": "elite", "oncall": "oncall@i.example",
                      "seen": []}  # fmt: skip
    assert last == []


def test_an_account_missing_from_the_contracts_read_is_not_planned() -> None:
    acct = _account("p", "premium")
    planned, carry = _plan(_release(1), [_entry(acct, 1)], {}, SUNDAY_3AM)
    assert planned == [] and carry == {}


def test_a_carry_remembers_at_most_4000_addresses_the_lowest_digests_and_fits_an_sqs_message() -> None:
    # The carry keeps 4000 digests, sorted so that a retried page carries the same message, small enough for
    # the successor page's message to stay within SQS's 256 KiB.
    acct = _account("a", "elite")
    entries = [_entry(acct, n) for n in range(4001)]
    _, carry = _plan(_release(2), entries, {"a": acct}, TUESDAY_NOON, more=True)
    digests = sorted(fanout_plan.address_digest(e.email) for e in entries)
    assert carry["seen"] == digests[:4000]
    successor = FanoutPage("r1", page=1, cursor="c" * 200, carry=carry)
    assert len(json.dumps(successor.to_json()).encode()) < 256 * 1024
