"""Query-string and form values as the validators read them: a number only in ASCII digits, so that
``validation.integer`` refuses the rest with a 400 (``str.isdigit`` accepts "²", which ``int`` refuses)."""

from __future__ import annotations

MAX_DIGITS = 5  # more than any bound a list or filter takes: longer is refused as it stands


def number(value: str) -> int | str:
    """``value`` as an int when it is 1 to ``MAX_DIGITS`` ASCII digits; anything else stays the string it is."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= MAX_DIGITS else value
