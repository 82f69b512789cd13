"""Version lines: which lines a release applies to (``applies_to``) and which a contact runs per product
(``installed``), and whether the two meet. A line is numbers separated by dots (``13``, ``13.4``, ``13.4.2``)
and covers itself and every version below it as a dotted prefix: 13.4 covers 13.4.2, never 13.40. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from chalicelib.domain.core.errors import BadRequest

MAX_LINES = 20
_LINE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9}){0,5}", re.ASCII)


def _wrong(field: str, why: str) -> BadRequest:
    return BadRequest(f"Field '{field}' must be {why}.", code="invalid_field")


def line(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _wrong(field, "a list of version lines, none of them empty")
    if not _LINE.fullmatch(value):
        raise _wrong(field, f"a list of version lines as numbers separated by dots, e.g. 13.4 (not {value[:40]!r})")
    return value


def lines(value: Any, field: str) -> tuple[str, ...]:
    """A list of 1 to 20 version lines, in numeric order, each once."""
    if not isinstance(value, list) or not value or len(value) > MAX_LINES:
        raise _wrong(field, f'a non-empty list of at most {MAX_LINES} version lines, e.g. ["13.4", "13.5"]')
    return tuple(sorted({line(v, field) for v in value}, key=lambda s: tuple(int(n) for n in s.split("."))))


def installed(value: Any, contract_products: Iterable[str], field: str = "installed") -> dict[str, tuple[str, ...]]:
    """``{"M3": ["13.4"], ...}``: per product of the contract, the lines the contact runs."""
    if not isinstance(value, dict) or not value:
        raise _wrong(field, 'an object of product id to version lines, e.g. {"M3": ["13.4"]}')
    outside = sorted(str(p) for p in value if p not in set(contract_products))
    if outside:
        raise BadRequest(
            f"Field '{field}' names product(s) not in the account's contract: {', '.join(outside)[:200]}.",
            code="unknown_product",
        )
    return {str(p): lines(v, f"{field}.{p}") for p, v in sorted(value.items())}


def covers(outer: str, version: str) -> bool:
    return version == outer or version.startswith(outer + ".")


def meets(applies_to: Iterable[str] | None, runs: Iterable[str] | None) -> bool:
    """Whether a release for ``applies_to`` concerns a contact on ``runs`` (either absent: all lines). A line
    and a more precise one meet either way round: a fix for 13.4.2 may matter to a contact who said 13.4."""
    if not applies_to or runs is None:
        return True
    ours = list(runs)
    return any(covers(a, r) or covers(r, a) for a in applies_to for r in ours)


def order_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A release version's place in natural order: runs of digits compare as numbers, the rest as text, so
    2.9 < 2.10 < 2.10.1 and SP2 < SP10. Any version a release may carry (letters, digits, ``._+-``) has one."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"[0-9]+|[^0-9.]+", version))
