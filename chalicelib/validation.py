"""Request-body validation: strict JSON objects, no unknown fields, typed fields, safe strings.

Each check raises ``BadRequest`` with a code and a message naming the field, so the API and the
CLI can tell people exactly what to fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

from chalicelib.errors import BadRequest

# RFC 5321: local part <= 64 octets, domain <= 255, the whole path <= 254 usable characters.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_json_object(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None or raw in (b"", ""):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}.", code="invalid_json") from exc
    if not isinstance(value, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return value


def reject_unknown(body: dict[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(unknown)}.", code="unknown_field")


def _missing(field: str) -> BadRequest:
    return BadRequest(f"Field '{field}' is required.", code="missing_field")


def _wrong(field: str, expected: str) -> BadRequest:
    return BadRequest(f"Field '{field}' must be {expected}.", code="invalid_field")


def text(
    body: dict[str, Any], field: str, *, max_len: int, required: bool = True, multiline: bool = False
) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise _missing(field)
        return None
    if not isinstance(value, str) or not value.strip():
        raise _wrong(field, "a non-empty string")
    if len(value) > max_len:
        raise _wrong(field, f"at most {max_len} characters")
    stripped = value.replace("\n", "").replace("\t", "") if multiline else value
    if _CONTROL.search(stripped):
        raise _wrong(field, "free of control characters (no CR, LF or other control bytes)")
    return value.strip()


def identifier(body: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise _missing(field)
        return None
    return ident(value, field)


def ident(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise _wrong(field, "an identifier of letters, digits, '.', '_' or '-' (at most 64 characters)")
    return value


def email(value: Any, field: str = "email") -> str:
    if not isinstance(value, str):
        raise _wrong(field, "an email address")
    if _CONTROL.search(value):
        raise _wrong(field, "an email address without control characters")
    if len(value) > 254 or not _EMAIL.match(value):
        raise _wrong(field, "a valid email address of at most 254 characters (RFC 5321)")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def integer(body: dict[str, Any], field: str, *, low: int, high: int, required: bool = True) -> int | None:
    value = body.get(field)
    if value is None:
        if required:
            raise _missing(field)
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _wrong(field, f"an integer from {low} to {high}")
    return value


def boolean(body: dict[str, Any], field: str, *, default: bool) -> bool:
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise _wrong(field, "true or false")
    return value


def choice(body: dict[str, Any], field: str, options: Iterable[str], *, default: str | None = None) -> str:
    allowed = tuple(options)
    value = body.get(field, default)
    if value is None:
        raise _missing(field)
    if value not in allowed:
        raise _wrong(field, f"one of {', '.join(allowed)}")
    return str(value)


def string_list(
    body: dict[str, Any],
    field: str,
    *,
    item: Callable[[Any, str], str],
    required: bool = True,
    default: list[str] | None = None,
    max_items: int = 100,
) -> list[str]:
    value = body.get(field)
    if value is None:
        if required or default is None:
            raise _missing(field)
        return list(default)
    if not isinstance(value, list) or not value or len(value) > max_items:
        raise _wrong(field, f"a non-empty list of at most {max_items} items")
    return sorted({item(v, field) for v in value})


def one_of(options: Iterable[str]) -> Callable[[Any, str], str]:
    allowed = tuple(options)

    def check(value: Any, field: str) -> str:
        if value not in allowed:
            raise _wrong(field, f"a list of values from {', '.join(allowed)}")
        return str(value)

    return check


def iso_date(body: dict[str, Any], field: str) -> date:
    value = body.get(field)
    if value is None:
        raise _missing(field)
    return parse_date(value, field)


def parse_date(value: Any, field: str) -> date:
    if not isinstance(value, str):
        raise _wrong(field, "a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _wrong(field, "a date as YYYY-MM-DD") from exc


def timestamp(body: dict[str, Any], field: str) -> datetime | None:
    value = body.get(field)
    if value is None:
        return None
    return parse_timestamp(value, field)


def parse_timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise _wrong(field, "an RFC 3339 timestamp with a time zone, e.g. 2026-12-01T09:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise _wrong(field, "an RFC 3339 timestamp with a time zone, e.g. 2026-12-01T09:00:00Z") from exc
    if parsed.tzinfo is None:
        raise _wrong(field, "an RFC 3339 timestamp with a time zone, e.g. 2026-12-01T09:00:00Z")
    return parsed.astimezone(UTC)
