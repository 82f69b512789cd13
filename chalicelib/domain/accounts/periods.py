"""Period arithmetic for the CSM's review (the period just ended, a requested range) and the support-period
warnings (which thresholds are due). Pure: no AWS, no clock of its own (``now`` is passed in).

A review period is ``[start, end)`` in UTC. ``PATCHCAST_REVIEW_PERIOD`` names its length: ``month`` (the
default), ``week`` (Monday to Monday), ``day``, or ``<n>min`` (n minutes from the epoch: for trying the
schedule on the local stack, where it runs every few seconds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from chalicelib.domain.core.errors import BadRequest

MAX_RANGE = timedelta(days=366)  # a review of at most a year (a leap year's included)
WARNING_DAYS = (30, 7, 0)  # days before support_end that a warning goes out (0: on the day)
# A warning whose day the schedule missed (it did not run, or failed all day) still goes out this many days
# late, but never once the next threshold is due: each account gets one warning per threshold at most.
CATCH_UP_DAYS = 2
_MINUTES = re.compile(r"([1-9][0-9]{0,4})min")


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC

    @property
    def key(self) -> str:
        """The period as a claim key: the same period always gives the same key."""
        return f"{stamp(self.start)}#{stamp(self.end)}"

    def public(self) -> dict[str, str]:
        return {"from": stamp(self.start), "to": stamp(self.end)}


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_period_setting(spec: str) -> str:
    """``PATCHCAST_REVIEW_PERIOD`` as given, or ValueError naming what it may be."""
    if spec in ("month", "week", "day") or _MINUTES.fullmatch(spec):
        return spec
    raise ValueError(f"PATCHCAST_REVIEW_PERIOD must be month, week, day or <n>min, got {spec!r}")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def period_containing(spec: str, at: datetime) -> Period:
    at = at.astimezone(UTC)
    if spec == "month":
        start = _midnight(at.date().replace(day=1))
        following = (start + timedelta(days=32)).replace(day=1)
        return Period(start, following)
    if spec == "week":
        start = _midnight(at.date() - timedelta(days=at.weekday()))
        return Period(start, start + timedelta(days=7))
    if spec == "day":
        start = _midnight(at.date())
        return Period(start, start + timedelta(days=1))
    minutes = int(check_period_setting(spec).removesuffix("min"))
    epoch = int(at.timestamp()) // (60 * minutes) * 60 * minutes
    start = datetime.fromtimestamp(epoch, UTC)
    return Period(start, start + timedelta(minutes=minutes))


def period_just_ended(spec: str, now: datetime) -> Period:
    """The last whole period before ``now``: the one a scheduled review covers."""
    current = period_containing(spec, now)
    return period_containing(spec, current.start - timedelta(seconds=1))


def _bound(value: str, field: str, *, end: bool) -> datetime:
    """A date (the whole day: its start, or for ``to`` the next midnight) or an RFC 3339 timestamp."""
    from chalicelib.domain.core.timestamps import parse_date, parse_timestamp

    try:
        if len(value) == 10:
            day = parse_date(value, field)
            return _midnight(day + timedelta(days=1)) if end else _midnight(day)
        return parse_timestamp(value, field).astimezone(UTC)
    except BadRequest as exc:  # say both forms it takes, as patchctl's --help does
        raise BadRequest(
            f"Query parameter '{field}' must be a date (YYYY-MM-DD) or an RFC 3339 timestamp, not {value[:40]!r}.",
            code=exc.code,
        ) from exc


def requested(params: dict[str, str], *, spec: str, now: datetime) -> Period:
    """The range of ``GET /accounts/{id}/review``: ``from`` and ``to`` (dates, ``to`` inclusive, or
    timestamps), each defaulting to the period just ended; reversed or over a year is a 400."""
    unknown = sorted(set(params) - {"from", "to"})
    if unknown:
        raise BadRequest(
            f"Unknown query parameter '{unknown[0]}': only from and to are taken.", code="unknown_parameter"
        )
    last = period_just_ended(spec, now)
    start = _bound(params["from"], "from", end=False) if params.get("from") else last.start
    end = _bound(params["to"], "to", end=True) if params.get("to") else last.end
    if end <= start:
        raise BadRequest("Query parameter 'to' must come after 'from'.", code="invalid_range")
    if end - start > MAX_RANGE:
        raise BadRequest("Query parameters 'from' and 'to' may span at most a year (366 days).", code="invalid_range")
    return Period(start, end)


def due_threshold(support_end: date, today: date) -> int | None:
    """Which warning (days before ``support_end``) is due today, counting a missed day up to
    ``CATCH_UP_DAYS`` late but never past the next threshold; None if none is."""
    left = (support_end - today).days
    for n, days in enumerate(WARNING_DAYS):
        following = WARNING_DAYS[n + 1] if n + 1 < len(WARNING_DAYS) else None
        if days - CATCH_UP_DAYS <= left <= days and (following is None or left > following):
            return days
    return None


def ends_to_look_at(today: date) -> list[tuple[date, date]]:
    """The ranges of ``support_end`` dates whose warnings may be due today (inclusive ranges, one per
    threshold): what the daily run queries its index for."""
    return [(today + timedelta(days=days - CATCH_UP_DAYS), today + timedelta(days=days)) for days in WARNING_DAYS]
