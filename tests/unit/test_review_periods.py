"""Period arithmetic of the CSM's review and the thresholds of the support-period warnings (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain.accounts import periods
from chalicelib.domain.core.errors import BadRequest

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_the_period_just_ended_is_the_last_whole_month_week_day_or_minutes() -> None:
    assert periods.period_just_ended("month", NOW).public() == {
        "from": "2026-02-01T00:00:00Z",
        "to": "2026-03-01T00:00:00Z",
    }
    assert (
        periods.period_just_ended("month", datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)).public()["from"]
        == "2025-12-01T00:00:00Z"
    )
    assert periods.period_just_ended("week", NOW).public() == {
        "from": "2026-03-02T00:00:00Z",
        "to": "2026-03-09T00:00:00Z",
    }
    assert periods.period_just_ended("day", NOW).public()["from"] == "2026-03-09T00:00:00Z"
    assert periods.period_just_ended("5min", NOW).public() == {
        "from": "2026-03-10T11:55:00Z",
        "to": "2026-03-10T12:00:00Z",
    }


def test_an_unknown_period_setting_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="PATCHCAST_REVIEW_PERIOD"):
        periods.check_period_setting("fortnight")


def test_a_requested_range_takes_dates_with_to_inclusive_and_defaults_to_the_last_period() -> None:
    got = periods.requested({"from": "2026-01-01", "to": "2026-01-31"}, spec="month", now=NOW)
    assert got.public() == {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
    assert periods.requested({}, spec="month", now=NOW) == periods.period_just_ended("month", NOW)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "invalid_range"),
        ({"from": "2024-01-01", "to": "2025-12-31"}, "invalid_range"),
        ({"from": "yesterday"}, "invalid_field"),
        ({"since": "2026-01-01"}, "unknown_parameter"),
    ],
)
def test_a_reversed_range_one_over_a_year_a_bad_date_or_an_unknown_parameter_is_a_400(
    params: dict[str, str], code: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        periods.requested(params, spec="month", now=NOW)
    assert caught.value.code == code


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "2026-01-01 10:00"])
def test_a_bad_bound_is_told_both_forms_it_takes(bad: str) -> None:
    with pytest.raises(BadRequest) as caught:
        periods.requested({"from": bad}, spec="month", now=NOW)
    assert (
        "must be a date (YYYY-MM-DD) or an RFC 3339 timestamp" in caught.value.message and bad in caught.value.message
    )


def test_a_whole_leap_year_is_allowed() -> None:
    assert periods.requested({"from": "2028-01-01", "to": "2028-12-31"}, spec="month", now=NOW)


def test_warnings_are_due_30_and_7_days_before_and_on_the_day_with_two_days_of_catch_up() -> None:
    end = date(2026, 6, 30)

    def due(days_before: int) -> int | None:
        return periods.due_threshold(end, date.fromordinal(end.toordinal() - days_before))

    assert [due(d) for d in (31, 30, 29, 28, 27)] == [None, 30, 30, 30, None]
    assert [due(d) for d in (8, 7, 6, 5, 4)] == [None, 7, 7, 7, None]
    assert [due(d) for d in (1, 0, -1, -2, -3)] == [None, 0, 0, 0, None]


def _z(at: datetime) -> str:
    return periods.stamp(at)


@pytest.mark.parametrize(
    ("tz", "now", "period"),
    [
        # New York: February (EST) just ended on 1 March; March spans the change to EDT on 8 March
        ("America/New_York", datetime(2026, 3, 10, 12, tzinfo=UTC), ("2026-02-01T05:00:00Z", "2026-03-01T05:00:00Z")),
        ("America/New_York", datetime(2026, 4, 1, 12, tzinfo=UTC), ("2026-03-01T05:00:00Z", "2026-04-01T04:00:00Z")),
        # ... and back to EST on 1 November: October ends at 04:00 UTC, November at 05:00
        ("America/New_York", datetime(2026, 11, 1, 12, tzinfo=UTC), ("2026-10-01T04:00:00Z", "2026-11-01T04:00:00Z")),
        ("America/New_York", datetime(2026, 12, 1, 12, tzinfo=UTC), ("2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z")),
        # a New York evening of 31 March is still March there: February is the month just ended
        ("America/New_York", datetime(2026, 4, 1, 2, tzinfo=UTC), ("2026-02-01T05:00:00Z", "2026-03-01T05:00:00Z")),
        # east of UTC: Berlin's March starts on 28 February, 23:00 UTC, and ends after summer time began (29 March)
        ("Europe/Berlin", datetime(2026, 4, 1, 0, 30, tzinfo=UTC), ("2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z")),
        # Sydney leaves summer time on 5 April: April is 10 h ahead at its end, 11 h at its start
        ("Australia/Sydney", datetime(2026, 5, 3, tzinfo=UTC), ("2026-03-31T13:00:00Z", "2026-04-30T14:00:00Z")),
    ],
)
def test_a_monthly_review_period_is_the_accounts_month_across_daylight_saving(
    tz: str, now: datetime, period: tuple[str, str]
) -> None:
    got = periods.period_just_ended("month", now, tz)
    assert (_z(got.start), _z(got.end)) == period
    assert periods.requested({}, spec="month", now=now, tz=tz) == got
    # the review is due at 06:00 on the account's first day after it
    due = periods.review_due("month", got, tz)
    assert due.astimezone(periods.zone(tz)).hour == 6 and periods.local_day(due, tz) == periods.local_day(got.end, tz)


def test_a_requested_date_is_a_whole_day_of_the_accounts_zone() -> None:
    got = periods.requested({"from": "2026-03-08", "to": "2026-03-08"}, spec="month", now=NOW, tz="America/New_York")
    assert got.public() == {"from": "2026-03-08T05:00:00Z", "to": "2026-03-09T04:00:00Z"}  # 23 hours: DST began


@pytest.mark.parametrize(
    ("tz", "end", "due"),
    [
        # New York, ending 8 March (DST that night): 30 days before at 07:00 EST, on the day at 07:00 EDT
        (
            "America/New_York",
            date(2026, 3, 8),
            ["2026-02-06T12:00:00Z", "2026-03-01T12:00:00Z", "2026-03-08T11:00:00Z"],
        ),
        # ... and 1 November (back to EST): 7 days before at 07:00 EDT, on the day at 07:00 EST
        (
            "America/New_York",
            date(2026, 11, 1),
            ["2026-10-02T11:00:00Z", "2026-10-25T11:00:00Z", "2026-11-01T12:00:00Z"],
        ),
        # Berlin, east of UTC, across 29 March: 07:00 CET then CEST, the day before in UTC never
        ("Europe/Berlin", date(2026, 4, 2), ["2026-03-03T06:00:00Z", "2026-03-26T06:00:00Z", "2026-04-02T05:00:00Z"]),
        ("UTC", date(2026, 4, 2), ["2026-03-03T07:00:00Z", "2026-03-26T07:00:00Z", "2026-04-02T07:00:00Z"]),
    ],
)
def test_each_warning_is_due_at_seven_on_its_day_in_the_accounts_zone_across_daylight_saving(
    tz: str, end: date, due: list[str]
) -> None:
    before = datetime.combine(end, datetime.min.time(), tzinfo=UTC) - timedelta(days=60)
    first = periods.warning_due(end, tz, before)
    assert first is not None
    following = [first]
    for days in periods.WARNING_DAYS[:-1]:
        nxt = periods.warning_due(end, tz, following[-1], below=days)
        assert nxt is not None
        following.append(nxt)
    assert [_z(at) for at in following] == due
    assert periods.warning_due(end, tz, following[-1], below=0) is None
    # and when each is due, the account's day is the threshold's: "ends today" is the local day of the end
    assert [periods.due_threshold(end, periods.local_day(at, tz)) for at in following] == [30, 7, 0]


def test_an_ends_today_warning_reaches_new_york_on_the_day_not_the_evening_before() -> None:
    end = date(2026, 3, 8)
    evening_before = datetime(2026, 3, 8, 1, tzinfo=UTC)  # 20:00 on 7 March in New York
    assert periods.due_threshold(end, periods.local_day(evening_before, "America/New_York")) is None  # not yet
    assert periods.due_threshold(end, periods.local_day(evening_before, "UTC")) == 0


def test_a_missed_warning_is_still_due_while_it_may_be_caught_up_and_then_the_next_one() -> None:
    end = date(2026, 6, 30)
    two_days_late = datetime(2026, 6, 2, 12, tzinfo=UTC)
    assert periods.warning_due(end, "UTC", two_days_late) == datetime(2026, 5, 31, 7, tzinfo=UTC)  # 30 days, now
    assert periods.warning_due(end, "UTC", two_days_late + timedelta(days=1)) == datetime(2026, 6, 23, 7, tzinfo=UTC)
    assert periods.warning_due(end, "UTC", datetime(2026, 7, 2, 12, tzinfo=UTC)) == datetime(2026, 6, 30, 7, tzinfo=UTC)
    assert periods.warning_due(end, "UTC", datetime(2026, 7, 3, 12, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    "body",
    [
        {"schedule": "digest", "accounts": ["a"]},
        {"accounts": ["a"]},
        {"schedule": "review", "accounts": "a"},
        {"schedule": "review", "accounts": [""]},
        {"schedule": "review", "accounts": [f"a{i}" for i in range(11)]},
        {"schedule": "warning", "accounts": ["a"], "plan": True},
        {"schedule": "warning", "plan": "yes"},
    ],
)
def test_a_scheduled_batch_that_is_not_one_is_malformed_poison_for_the_dlq(body: dict[str, object]) -> None:
    from chalicelib.domain.accounts.due import ScheduledBatch
    from chalicelib.domain.core.messages import MalformedMessage

    with pytest.raises(MalformedMessage):
        ScheduledBatch.from_json(body)


def test_a_scheduled_batch_reads_back_what_it_wrote() -> None:
    from chalicelib.domain.accounts.due import ScheduledBatch

    for batch in (ScheduledBatch("review", ("a", "b")), ScheduledBatch("warning", plan=True)):
        assert ScheduledBatch.from_json(batch.to_json()) == batch
