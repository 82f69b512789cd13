"""Period arithmetic of the CSM's review and the thresholds of the support-period warnings (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime

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


def test_the_ends_looked_at_cover_every_due_threshold_and_nothing_else() -> None:
    today = date(2026, 6, 1)
    ranges = periods.ends_to_look_at(today)
    covered = {date.fromordinal(d) for a, b in ranges for d in range(a.toordinal(), b.toordinal() + 1)}
    due = {
        date.fromordinal(today.toordinal() + n)
        for n in range(-10, 40)
        if periods.due_threshold(date.fromordinal(today.toordinal() + n), today) is not None
    }
    assert covered == due
