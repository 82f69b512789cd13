"""Period arithmetic for the CSM's review (the period just ended, a requested range) and the support-period
warnings (which thresholds are due). Pure: no AWS, no clock of its own (``now`` is passed in).

A review period is ``[start, end)``, stored as UTC instants, whose bounds are midnights in the account's time
zone (an IANA name; a month in America/New_York starts at 04:00 or 05:00 UTC, as daylight saving has it).
``PATCHCAST_REVIEW_PERIOD`` names its length: ``month`` (the default), ``week`` (Monday to Monday), ``day``,
or ``<n>min`` (n minutes from the epoch, in every zone: for trying the schedule on the local stack, where it
runs every few seconds). The warnings count days in the account's zone too: "ends today" is its local day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.core.errors import BadRequest

MAX_RANGE = timedelta(days=366)  # a review of at most a year (a leap year's included)
WARNING_DAYS = (30, 7, 0)  # days before support_end that a warning goes out (0: on the day)
# A warning whose day the schedule missed (it did not run, or failed all day) still goes out this many days
# late, but never once the next threshold is due: each account gets one warning per threshold at most.
CATCH_UP_DAYS = 2
REVIEW_HOUR = 6  # the review of a period just ended is due at 06:00 in the account's zone
WARNING_HOUR = 7  # a warning is due at 07:00 in the account's zone on its day
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


def zone(name: str) -> ZoneInfo:
    """The account's zone; a name this runtime lacks (contracts are validated on import) falls back to UTC."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _midnight(day: date, tz: str = "UTC") -> datetime:
    return local_time(day, 0, tz)


def local_time(day: date, hour: int, tz: str) -> datetime:
    """``hour`` o'clock of ``day`` in zone ``tz``, as a UTC instant (midnight and the morning hours used here
    exist on every day: transitions happen at 01:00 to 03:00, and a midnight in a gap moves forward)."""
    return datetime.combine(day, time(hour), tzinfo=zone(tz)).astimezone(UTC)


def local_day(at: datetime, tz: str) -> date:
    """The date at ``at`` in zone ``tz``."""
    return at.astimezone(zone(tz)).date()


def period_containing(spec: str, at: datetime, tz: str = "UTC") -> Period:
    day = local_day(at, tz)
    if spec == "month":
        first = day.replace(day=1)
        return Period(_midnight(first, tz), _midnight((first + timedelta(days=32)).replace(day=1), tz))
    if spec in ("week", "day"):
        first = day - timedelta(days=day.weekday()) if spec == "week" else day
        return Period(_midnight(first, tz), _midnight(first + timedelta(days=7 if spec == "week" else 1), tz))
    minutes = int(check_period_setting(spec).removesuffix("min"))
    epoch = int(at.timestamp()) // (60 * minutes) * 60 * minutes
    start = datetime.fromtimestamp(epoch, UTC)
    return Period(start, start + timedelta(minutes=minutes))


def period_just_ended(spec: str, now: datetime, tz: str = "UTC") -> Period:
    """The last whole period before ``now`` in zone ``tz``: the one a scheduled review covers."""
    current = period_containing(spec, now, tz)
    return period_containing(spec, current.start - timedelta(seconds=1), tz)


def _bound(value: str, field: str, *, end: bool, tz: str) -> datetime:
    """A date (the whole day in zone ``tz``: its start, or for ``to`` the next midnight) or an RFC 3339 timestamp."""
    from chalicelib.domain.core.timestamps import parse_date, parse_timestamp

    try:
        if len(value) == 10:
            day = parse_date(value, field)
            return _midnight(day + timedelta(days=1), tz) if end else _midnight(day, tz)
        return parse_timestamp(value, field).astimezone(UTC)
    except BadRequest as exc:  # say both forms it takes, as patchctl's --help does
        raise BadRequest(
            f"Query parameter '{field}' must be a date (YYYY-MM-DD) or an RFC 3339 timestamp, not {value[:40]!r}.",
            code=exc.code,
        ) from exc


def requested(params: dict[str, str], *, spec: str, now: datetime, tz: str = "UTC") -> Period:
    """The range of ``GET /accounts/{id}/review``: ``from`` and ``to`` (dates of the account's zone ``tz``,
    ``to`` inclusive, or timestamps), each defaulting to the period just ended; reversed or over a year is a 400."""
    unknown = sorted(set(params) - {"from", "to"})
    if unknown:
        raise BadRequest(
            f"Unknown query parameter '{unknown[0]}': only from and to are taken.", code="unknown_parameter"
        )
    last = period_just_ended(spec, now, tz)
    start = _bound(params["from"], "from", end=False, tz=tz) if params.get("from") else last.start
    end = _bound(params["to"], "to", end=True, tz=tz) if params.get("to") else last.end
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


def review_due(spec: str, period: Period, tz: str) -> datetime:
    """When the review of ``period`` is due: ``REVIEW_HOUR`` o'clock in the account's zone on the day it ends
    (a period of minutes: at its end)."""
    if spec in ("month", "week", "day"):
        return local_time(local_day(period.end, tz), REVIEW_HOUR, tz)
    return period.end


def warning_due(support_end: date, tz: str, now: datetime, *, below: int | None = None) -> datetime | None:
    """When the next warning (of a threshold under ``below``, if given) is due: ``WARNING_HOUR`` o'clock in the
    account's zone on the threshold's day, even if that is past while it may still be caught up (``due_threshold``);
    None when no threshold is left."""
    today = local_day(now, tz)
    for n, days in enumerate(WARNING_DAYS):
        following = WARNING_DAYS[n + 1] if n + 1 < len(WARNING_DAYS) else None
        if below is not None and days >= below:
            continue
        fewest = days - CATCH_UP_DAYS if following is None else max(days - CATCH_UP_DAYS, following + 1)
        if today <= support_end - timedelta(days=fewest):  # its last day of catching up is not past
            return local_time(support_end - timedelta(days=days), WARNING_HOUR, tz)
    return None
