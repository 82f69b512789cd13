"""Digest choices and windows without AWS: what a body may say, which notices are always instant, when a
window ends in the account's time zone (DST, Monday, odd offsets), and fan-out's split of a page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib.domain.core.errors import BadRequest
from chalicelib.domain.core.models import Account, Release
from chalicelib.domain.core.records import AudienceEntry
from chalicelib.domain.digests import windows as digests
from chalicelib.domain.fanout import plan as fanout_plan


def _release(severity: int = 3, kind: str = "patch", published_at: str | None = "2026-12-01T10:00:00Z") -> Release:
    return Release(
        "r1", "M3", "1.0", kind, severity, "ga", "Fix", "Fixes", "published", "", "", published_at=published_at
    )


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"1": "daily"}, "digest.1"),
        ({"5": "daily"}, "digest"),
        ({"low": "weekly"}, "digest"),
        ({"3": "hourly"}, "digest.3"),
        ({"3": None}, "digest.3"),
        (["3", "daily"], "digest"),
        ("daily", "digest"),
    ],
)
def test_a_bad_digest_choice_is_refused_naming_the_field(body: Any, names: str) -> None:
    with pytest.raises(BadRequest) as caught:
        digests.parse(body)
    assert f"'{names}'" in caught.value.message


def test_a_digest_choice_keeps_only_what_is_not_instant() -> None:
    assert digests.parse({"4": "weekly", "2": "instant", "3": "daily"}) == {"3": "daily", "4": "weekly"}
    assert digests.parse({}) == {}


def test_severity_1_and_critical_solutions_are_always_instant_whatever_the_choice() -> None:
    choice = {"2": "daily", "3": "daily", "4": "weekly"}
    # even a stored choice for severity 1 (the API refuses one; a bulk load might not) is not honoured
    assert digests.frequency({"1": "daily", **choice}, _release(1)) == "instant"
    assert digests.frequency(choice, _release(3, kind="critical-solution")) == "instant"
    assert digests.frequency(choice, _release(3)) == "daily"
    assert digests.frequency(choice, _release(4)) == "weekly"
    assert digests.frequency(None, _release(4)) == "instant"


def test_a_daily_window_ends_at_the_next_8am_local_strictly_later() -> None:
    # Berlin is UTC+1 in December: 08:00 local is 07:00Z
    assert digests.due_after("daily", "Europe/Berlin", _utc(2026, 12, 1, 5, 59)) == _utc(2026, 12, 1, 7, 0)
    assert digests.due_after("daily", "Europe/Berlin", _utc(2026, 12, 1, 7, 0)) == _utc(2026, 12, 2, 7, 0)
    assert digests.due_after("daily", "UTC", _utc(2026, 12, 31, 23, 0)) == _utc(2027, 1, 1, 8, 0)


def test_a_daily_window_follows_summer_time_both_ways() -> None:
    # Berlin springs forward on Sunday 29 March 2026: the Sunday digest is 06:00Z, Saturday's was 07:00Z
    assert digests.due_after("daily", "Europe/Berlin", _utc(2026, 3, 27, 12)) == _utc(2026, 3, 28, 7, 0)
    assert digests.due_after("daily", "Europe/Berlin", _utc(2026, 3, 28, 12)) == _utc(2026, 3, 29, 6, 0)
    # New York falls back on Sunday 1 November 2026: 12:00Z (EDT) then 13:00Z (EST)
    assert digests.due_after("daily", "America/New_York", _utc(2026, 10, 30, 20)) == _utc(2026, 10, 31, 12, 0)
    assert digests.due_after("daily", "America/New_York", _utc(2026, 10, 31, 20)) == _utc(2026, 11, 1, 13, 0)


def test_a_weekly_window_ends_on_monday_8am_local() -> None:
    tuesday = _utc(2026, 12, 1, 12)
    assert digests.due_after("weekly", "UTC", tuesday) == _utc(2026, 12, 7, 8, 0)
    assert digests.due_after("weekly", "UTC", _utc(2026, 12, 7, 7, 59)) == _utc(2026, 12, 7, 8, 0)
    assert digests.due_after("weekly", "UTC", _utc(2026, 12, 7, 8, 0)) == _utc(2026, 12, 14, 8, 0)
    # Monday 08:00 in Auckland (UTC+13 in December) is still Sunday 19:00 in UTC
    assert digests.due_after("weekly", "Pacific/Auckland", tuesday) == _utc(2026, 12, 6, 19, 0)
    assert digests.due_after("weekly", "Pacific/Auckland", tuesday).astimezone(
        digests.zone("Pacific/Auckland")
    ).date() == date(2026, 12, 7)


def test_buckets_hold_quarter_hour_offsets_and_an_unknown_zone_is_utc() -> None:
    due = digests.due_after("daily", "Asia/Kathmandu", _utc(2026, 12, 1, 12))  # UTC+05:45
    assert digests.bucket(due) == "2026-12-02T02:15Z"
    assert digests.bucket_time("2026-12-02T02:15Z") == due
    assert digests.next_bucket("2026-12-02T23:45Z") == "2026-12-03T00:00Z"
    assert digests.due_after("daily", "Mars/Olympus", _utc(2026, 12, 1, 12)) == _utc(2026, 12, 2, 8, 0)


def test_the_runner_takes_a_bucket_only_once_its_grace_has_passed() -> None:
    assert digests.ready_bucket(_utc(2026, 12, 2, 8, 4)) == "2026-12-02T07:45Z"
    assert digests.ready_bucket(_utc(2026, 12, 2, 8, 5)) == "2026-12-02T08:00Z"


def test_a_notice_queues_for_its_publishing_window_unless_that_window_is_about_to_go() -> None:
    published = _utc(2026, 12, 2, 7, 50)
    assert digests.window_for("daily", "UTC", published, _utc(2026, 12, 2, 7, 55)) == (_utc(2026, 12, 2, 8, 0), False)
    # planned again later (a retried page), while the window is still open: the same item
    assert digests.window_for("daily", "UTC", published, _utc(2026, 12, 2, 8, 2)) == (_utc(2026, 12, 2, 8, 0), False)
    # too close to the runner taking it: the next window, marked late
    assert digests.window_for("daily", "UTC", published, _utc(2026, 12, 2, 8, 4)) == (_utc(2026, 12, 3, 8, 0), True)


def _account(account_id: str, timezone: str = "UTC") -> Account:
    return Account(account_id, account_id, "premium", ("M3",), date(2026, 1, 1), date(2030, 1, 1), timezone=timezone)


def _entry(
    account_id: str, n: int, digest: dict[str, str] | None = None, kinds: tuple[str, ...] = ("patch",)
) -> AudienceEntry:
    return AudienceEntry(account_id, f"s{n}", f"u{n}@{account_id}.example", kinds, ("ga",), 4, digest=digest or {})


def test_fanout_splits_a_page_into_digest_items_and_instant_entries() -> None:
    accounts = {"a": _account("a", "Europe/Berlin")}
    entries = [_entry("a", 1, {"3": "daily"}), _entry("a", 2), _entry("a", 3, {"3": "weekly"}, kinds=("update",))]
    now = _utc(2026, 12, 1, 10, 5)
    items, instant = digests.split(_release(3), entries, accounts, now, fanout_plan.eligible)
    assert [i["recipient"].subscription_id for i in items] == ["s1"]
    assert items[0]["bucket"] == "2026-12-02T07:00Z" and items[0]["frequency"] == "daily" and not items[0]["late"]
    # the instant one, and the one not eligible (its kinds), stay for fan-out's planning (which drops it)
    assert [e.subscription_id for e in instant] == ["s2", "s3"]
    items, instant = digests.split(_release(1), entries, accounts, now, fanout_plan.eligible)
    assert items == [] and len(instant) == 3


def test_a_crash_after_sending_can_repeat_at_most_a_write_of_25_digests() -> None:
    # Each write of sent digests holds at most 25 markers (as delivery's record chunks), whatever room the
    # transaction has left: SES accepting a digest and its marker's write are not atomic.
    from chalicelib.domain.core.models import Recipient
    from chalicelib.domain.core.records import SentDigest
    from chalicelib.domain.digests.chunk import Chunk

    writes: list[int] = []

    class Table:
        def record_digests(self, bucket: str, sent: list[SentDigest], tallies: dict[str, dict[str, int]]) -> None:
            writes.append(len(sent))

    release = _release(3)
    chunk = Chunk(Table(), "2026-12-02T07:00Z", {release.release_id: release})  # type: ignore[arg-type]
    for n in range(60):
        chunk.add(SentDigest(Recipient("a", f"s{n}", f"u{n}@a.example", "premium"), "skipped", (), None, "t"))
    chunk.flush()
    assert writes == [25, 25, 10]


def test_a_digest_work_message_round_trips_and_a_malformed_one_is_refused() -> None:
    import pytest

    from chalicelib.domain.core.messages import MalformedMessage
    from chalicelib.domain.digests.messages import DigestWork

    page = DigestWork("2026-12-08T07:00Z")
    batch = DigestWork("2026-12-08T07:00Z", 2, batch_id="2-ab", first="a#s1", last="a#s9")
    for work in (page, page.following("c1"), batch, batch.retry(), batch.retry().retry()):
        assert DigestWork.from_json(work.to_json()) == work
    assert batch.retry().retry().batch_id == "2-ab.r1.r2" and batch.retry().retry().attempt == 2
    for bad in (
        {"bucket": "yesterday"},
        {"bucket": "2026-12-08T07:00Z", "batch_id": "b"},  # a batch without its range
        {"bucket": "2026-12-08T07:00Z", "batch_id": "b", "first": "z#s", "last": "a#s"},
        {"bucket": "2026-12-08T07:00Z", "page": -1},
        "[]",
    ):
        with pytest.raises(MalformedMessage):
            DigestWork.from_json(bad)  # type: ignore[arg-type]
