"""The unsafe-character class matches the Unicode database: every Cc, Cf, Cs, Zl and Zp code point, and
nothing else but code points this Python's database does not assign yet (format characters of a newer Unicode)."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from chalicelib.domain.core import text

_REFUSED = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def test_the_class_is_exactly_the_refused_categories() -> None:
    # GIVEN every code point  WHEN classified by the module and by unicodedata  THEN they agree
    wrong = [
        f"U+{cp:04X} {unicodedata.category(chr(cp))}"
        for cp in range(sys.maxunicode + 1)
        if (text.first_unsafe(chr(cp)) is not None) != (unicodedata.category(chr(cp)) in _REFUSED)
        and unicodedata.category(chr(cp)) != "Cn"
    ]
    assert wrong == []


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\u202e", "\u2066", "\ud800", "\x00", "\r", "\n"])
def test_line_breaking_and_bidi_characters_are_named(char: str) -> None:
    assert text.first_unsafe(f"Invoice {char}rounding") == f"U+{ord(char):04X}"


def test_multiline_fields_keep_lf_and_tab_but_not_cr() -> None:
    assert text.first_unsafe("one\n\ttwo", multiline=True) is None
    assert text.first_unsafe("one\r\ntwo", multiline=True) == "U+000D"


def test_clean_replaces_each_unsafe_character_with_a_space() -> None:
    assert text.clean("a\u2028b\u202ec\ud800") == "a b c "
    assert text.clean("a\nb", multiline=True) == "a\nb"
