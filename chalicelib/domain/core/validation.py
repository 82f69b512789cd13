"""Request-body validation: strict JSON objects, no unknown fields, typed fields, safe strings.

Each check raises ``BadRequest`` with a code and a message naming the field, so the API and the
CLI can tell people exactly what to fix. Every pattern matches the whole value (``fullmatch``: ``$``
would also match before a final newline), and every string that may reach a header, a subject or a
page is checked against the one rule in ``chalicelib/domain/core/text.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.domain.core.errors import BadRequest
from chalicelib.domain.core.text import first_unsafe

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# An RFC 2047 encoded word ("=?charset?b?...?=") in an address is decoded by some mail readers into
# another address, and the email package refuses to fold it into a header: never accept one.
_ENCODED_WORD = re.compile(r"=\?.*\?=", re.DOTALL)
MAX_DEPTH = 32  # JSON nesting no request needs more of; deeper is refused before anything recurses over it


def parse_json_object(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None or raw in (b"", ""):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    try:
        value = json.loads(raw)
    except RecursionError as exc:  # the parser recurses per level: a body nested 100k deep must be a 400
        raise BadRequest(f"The request body is nested more than {MAX_DEPTH} levels deep.", code="invalid_json") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}.", code="invalid_json") from exc
    if not isinstance(value, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    _check_tree(value)
    return value


def _check_tree(root: dict[str, Any]) -> None:
    """Bound the nesting, and refuse lone surrogates (valid JSON, ``"\\ud800"``, but not text) in any key
    or string, naming where; iterative, so no depth can exhaust the stack."""
    stack: list[tuple[str, Any, int]] = [("", root, 1)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            _refuse_surrogate(value, f"Field '{path}'")
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise BadRequest(f"The request body is nested more than {MAX_DEPTH} levels deep.", code="invalid_json")
            for name, child in value.items() if isinstance(value, dict) else enumerate(value):
                if isinstance(name, str):
                    _refuse_surrogate(name, f"A field name in '{path or 'the body'}'")
                where = f"{path}[{name}]" if isinstance(name, int) else f"{path}.{name}" if path else name
                stack.append((where, child, depth + 1))


def _refuse_surrogate(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # only a lone surrogate cannot be encoded
        char = f"U+{ord(value[exc.start]):04X}"
        raise BadRequest(f"{what} contains {char}, a lone surrogate: send UTF-8 text.", code="invalid_field") from exc


def reject_unknown(body: dict[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(unknown)}.", code="unknown_field")


def missing(field: str) -> BadRequest:
    return BadRequest(f"Field '{field}' is required.", code="missing_field")


def wrong(field: str, expected: str) -> BadRequest:
    return BadRequest(f"Field '{field}' must be {expected}.", code="invalid_field")


def text(
    body: dict[str, Any], field: str, *, max_len: int, required: bool = True, multiline: bool = False
) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise missing(field)
        return None
    if not isinstance(value, str) or not value.strip():
        raise wrong(field, "a non-empty string")
    if len(value) > max_len:
        raise wrong(field, f"at most {max_len} characters")
    return safe(value, field, multiline=multiline).strip()


def safe(value: str, field: str, *, multiline: bool = False) -> str:
    """``value`` if every character may reach a header, a subject or a page; else a 400 naming the first
    that may not (``chalicelib/domain/core/text.py`` holds the rule)."""
    unsafe = first_unsafe(value, multiline=multiline)
    if unsafe is not None:
        allowed = " (line feeds and tabs are allowed)" if multiline else ""
        raise BadRequest(
            f"Field '{field}' contains {unsafe}: control, format (e.g. bidirectional) and line or paragraph "
            f"separator characters are not allowed{allowed}.",
            code="invalid_field",
        )
    return value


def identifier(body: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise missing(field)
        return None
    return ident(value, field)


def ident(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise wrong(field, "an identifier of letters, digits, '.', '_' or '-' (at most 64 characters)")
    return value


def email(value: Any, field: str = "email", *, test_domain: bool = False) -> str:
    """A deliverable-looking address, normalised as mail does (domain lower-cased, local part kept).

    Syntax only (no DNS at request time), checked by ``email-validator``: ASCII only (no SMTPUTF8), no
    quoted local parts, no domain literals; RFC 5321 lengths (local part <= 64, whole <= 254). Special-use
    domains are refused (``test_domain``: except ``.test``, for the local stage's own sender)."""
    if not isinstance(value, str):
        raise wrong(field, "an email address")
    safe(value, field)
    if _ENCODED_WORD.search(value):
        raise wrong(field, "a plain email address, without RFC 2047 encoded words (=?...?=)")
    from email_validator import EmailNotValidError, validate_email  # cold start: only where an address is read

    try:
        valid = validate_email(
            value,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            test_environment=test_domain,
        )
    except EmailNotValidError as exc:
        raise BadRequest(f"Field '{field}' must be a valid email address: {exc}", code="invalid_field") from exc
    address = f"{valid.local_part}@{valid.ascii_domain}"
    # email-validator tolerates longer local parts than RFC 5321 section 4.5.3.1 lets a server accept
    if len(valid.local_part) > 64 or len(address) > 254:
        raise wrong(field, "an email address of at most 254 characters, at most 64 before the @ (RFC 5321)")
    return address


def integer(body: dict[str, Any], field: str, *, low: int, high: int, required: bool = True) -> int | None:
    value = body.get(field)
    if value is None:
        if required:
            raise missing(field)
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise wrong(field, f"an integer from {low} to {high}")
    return value


def boolean(body: dict[str, Any], field: str, *, default: bool) -> bool:
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise wrong(field, "true or false")
    return value


def choice(body: dict[str, Any], field: str, options: Iterable[str], *, default: str | None = None) -> str:
    allowed = tuple(options)
    value = body.get(field, default)
    if value is None:
        raise missing(field)
    if value not in allowed:
        raise wrong(field, f"one of {', '.join(allowed)}")
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
            raise missing(field)
        return list(default)
    if not isinstance(value, list) or not value or len(value) > max_items:
        raise wrong(field, f"a non-empty list of at most {max_items} items")
    return sorted({item(v, field) for v in value})


def one_of(options: Iterable[str]) -> Callable[[Any, str], str]:
    allowed = tuple(options)

    def check(value: Any, field: str) -> str:
        if value not in allowed:
            raise wrong(field, f"a list of values from {', '.join(allowed)}")
        return str(value)

    return check


def unknown_products(unknown: list[str], known: set[str]) -> BadRequest:
    """The 400 for product ids not in the catalog, naming the known ones (and the case, where only that differs)."""
    by_case = {k.casefold(): k for k in known}
    hints = [f"{u} is {by_case[u.casefold()]}" for u in unknown if u.casefold() in by_case]
    listed = ", ".join(sorted(known))[:300] or "none yet"
    return BadRequest(
        f"Unknown product{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)[:200]}. "
        + (f"Product ids are case-sensitive: {'; '.join(hints)[:200]}. " if hints else "")
        + f"Known products: {listed}.",
        code="unknown_product",
    )
