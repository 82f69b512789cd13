"""Request-body dates and timestamps: a date as YYYY-MM-DD, a timestamp as RFC 3339 with a time zone
(in UTC once parsed), each refusal a ``BadRequest`` naming the field, as the rest of ``validation``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from chalicelib.domain.core.validation import missing, wrong

# RFC 3339 (section 5.6) as fromisoformat alone is looser (week dates, no zone, a zone of seconds, ...).
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def iso_date(body: dict[str, Any], field: str) -> date:
    value = body.get(field)
    if value is None:
        raise missing(field)
    return parse_date(value, field)


def parse_date(value: Any, field: str) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise wrong(field, "a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise wrong(field, "a date as YYYY-MM-DD") from exc


def timestamp(body: dict[str, Any], field: str) -> datetime | None:
    value = body.get(field)
    if value is None:
        return None
    return parse_timestamp(value, field)


_RFC3339 = "an RFC 3339 timestamp with a time zone, e.g. 2026-12-01T09:00:00Z"


def parse_timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise wrong(field, _RFC3339)
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        # OverflowError: a valid local time whose UTC is outside years 1-9999 (9999-12-31T23:59:59-23:59)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise wrong(field, f"{_RFC3339}, in years 0001 to 9999 (UTC)") from exc
