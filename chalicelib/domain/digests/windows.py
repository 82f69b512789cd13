"""Digests: a subscription's choice, per severity, of instant notices or a daily or weekly digest; the
windows (in the account's time zone) a digested notice waits in; and fan-out's split of a page into the
recipients notified now and the digest items it queues. Pure (no AWS).

A ``digest`` choice maps severities ``"2"``, ``"3"``, ``"4"`` to ``instant``, ``daily`` or ``weekly``
(absent: instant). Severity 1 and ``critical-solution`` releases are always instant, and so are recalls
(they are planned from the notices sent, never digested). A daily digest goes out at 08:00 local time,
a weekly one on Monday at 08:00 local time (see docs/digests.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.core.errors import BadRequest
from chalicelib.domain.core.models import Account, Recipient, Release
from chalicelib.domain.core.records import AudienceEntry

INSTANT, DAILY, WEEKLY = "instant", "daily", "weekly"
FREQUENCIES = (INSTANT, DAILY, WEEKLY)
DIGESTIBLE = ("2", "3", "4")  # severities a subscription may digest
ALWAYS_INSTANT_KINDS = ("critical-solution",)
SEND_AT = time(8, 0)  # local time of a digest's window end: the morning
MONDAY = 0
BUCKET_SECONDS = 15 * 60  # digest items are partitioned by their window's end, rounded down to this
# The runner takes a window this long after its end: a fan-out invocation (60 s timeout) that read the clock
# before the end has written its items by then.
GRACE_SECONDS = 300
FANOUT_MARGIN_SECONDS = 120  # fan-out writes to a window only if it closes at least this much later


def parse(value: Any, field: str = "digest") -> dict[str, str]:
    """A digest choice from a request body: only the non-instant choices are kept ({} = all instant)."""
    if not isinstance(value, dict):
        raise BadRequest(
            f'Field \'{field}\' must be an object of severity to frequency, e.g. {{"3": "daily"}}.',
            code="invalid_field",
        )
    choice: dict[str, str] = {}
    for severity, frequency in value.items():
        if severity == "1":
            raise BadRequest(
                f"Field '{field}.1': severity 1 (critical) is always sent at once and cannot be digested.",
                code="invalid_field",
            )
        if severity not in DIGESTIBLE:
            raise BadRequest(
                f'Field \'{field}\' has an unknown severity {str(severity)[:20]!r}: use "2", "3" or "4".',
                code="invalid_field",
            )
        if frequency not in FREQUENCIES:
            raise BadRequest(
                f"Field '{field}.{severity}' must be one of {', '.join(FREQUENCIES)}.", code="invalid_field"
            )
        if frequency != INSTANT:
            choice[severity] = frequency
    return dict(sorted(choice.items()))


def always_instant(release: Release) -> bool:
    return release.severity == 1 or release.kind in ALWAYS_INSTANT_KINDS


def frequency(choice: Mapping[str, str] | None, release: Release) -> str:
    """How this subscription gets this release's notice: ``instant``, ``daily`` or ``weekly``."""
    if always_instant(release):
        return INSTANT
    found = (choice or {}).get(str(release.severity), INSTANT)
    return found if found in FREQUENCIES else INSTANT


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # validated on import; a zone missing from this runtime falls back to UTC


def _at(day: date, tz: ZoneInfo) -> datetime:
    # 08:00 exists on every day of every zone (transitions happen at night), so no fold to choose.
    return datetime.combine(day, SEND_AT, tzinfo=tz).astimezone(UTC)


def due_after(freq: str, timezone: str, after: datetime) -> datetime:
    """The end (UTC) of the window a notice of time ``after`` waits in: the next 08:00 local strictly later
    (daily), or the next Monday 08:00 local strictly later (weekly)."""
    tz = zone(timezone)
    day = after.astimezone(tz).date()
    while True:
        if freq != WEEKLY or day.weekday() == MONDAY:
            candidate = _at(day, tz)
            if candidate > after:
                return candidate
        day += timedelta(days=1)


def bucket(at: datetime) -> str:
    """A window end as the key of its partition: UTC, rounded down to ``BUCKET_SECONDS``."""
    epoch = int(at.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%MZ")


def bucket_time(name: str) -> datetime:
    return datetime.strptime(name, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)


def next_bucket(name: str) -> str:
    return bucket(bucket_time(name) + timedelta(seconds=BUCKET_SECONDS))


def ready_bucket(now: datetime) -> str:
    """The latest bucket the runner may send: its windows ended ``GRACE_SECONDS`` ago or more."""
    return bucket(now - timedelta(seconds=GRACE_SECONDS))


def window_for(freq: str, timezone: str, published: datetime, now: datetime) -> tuple[datetime, bool]:
    """The window end a digested notice is queued for, and whether it is late (not the window its
    publishing time falls in). Derived from the publishing time, so a fan-out page planned again queues the
    same item; only a window about to be sent is passed over for the next, and such late items are checked
    against the delivery records before they go out (the earlier attempt may have queued them already)."""
    due = natural = due_after(freq, timezone, published)
    while now + timedelta(seconds=FANOUT_MARGIN_SECONDS) > due + timedelta(seconds=GRACE_SECONDS):
        due = due_after(freq, timezone, due)
    return due, due != natural


def _published(release: Release, now: datetime) -> datetime:
    if release.published_at:
        return datetime.fromisoformat(release.published_at.replace("Z", "+00:00"))
    return now


Eligible = Callable[[AudienceEntry, Release, Account | None, datetime], Recipient | None]


def split(
    release: Release, entries: list[AudienceEntry], accounts: dict[str, Account], now: datetime, eligible: Eligible
) -> tuple[list[dict[str, Any]], list[AudienceEntry]]:
    """One fan-out page: (the digest items to queue, the entries notified now). An entry is digested only
    when it is eligible (preferences and contract) and its choice for the release's severity is a digest."""
    if always_instant(release):
        return [], entries
    items: list[dict[str, Any]] = []
    instant: list[AudienceEntry] = []
    for entry in entries:
        freq = frequency(entry.digest, release)
        account = accounts.get(entry.account_id)
        recipient = eligible(entry, release, account, now) if freq != INSTANT else None
        if recipient is None or account is None:
            instant.append(entry)  # instant, or not eligible: fan-out's planning drops it as before
            continue
        published = _published(release, now)
        due, late = window_for(freq, account.timezone, published, now)
        window = due.astimezone(zone(account.timezone)).strftime("%a %d %b %Y %H:%M %Z")
        natural = bucket(due_after(freq, account.timezone, published)) if late else None
        items.append(
            {
                "bucket": bucket(due),
                "due": due.isoformat(),
                "frequency": freq,
                "late": late,
                "natural": natural,
                "window": window,
                "release_id": release.release_id,
                "recipient": recipient,
            }
        )
    return items, instant
