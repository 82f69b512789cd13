"""Which characters may reach an email header, a subject or a page: one rule for input and for render.

Refused (at input) and replaced (at render): C0 and C1 controls (NEL included), the Unicode line and
paragraph separators, format characters (bidirectional overrides and isolates, zero-width characters,
the BOM, tag characters) and lone surrogates. Multi-line fields may keep LF and TAB.

The class is written out as ranges (not computed from ``unicodedata`` at import, which would cost cold
start); ``tests/unit/test_text.py`` checks it against the Unicode database for every code point.
"""

from __future__ import annotations

import re

_UNSAFE_RANGES = (
    "\x00-\x1f\x7f-\x9f"  # Cc: C0, DEL, C1 (U+0085 NEL among them)
    "\xad"  # soft hyphen (Cf)
    "\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"  # Arabic/Syriac/Mongolian format marks (Cf)
    "\u200b-\u200f"  # zero-width space/joiners, LRM, RLM (Cf)
    "\u2028-\u202e"  # LINE SEPARATOR (Zl), PARAGRAPH SEPARATOR (Zp), bidi embeddings and overrides (Cf)
    "\u2060-\u2064\u2066-\u206f"  # word joiner, invisible operators, bidi isolates, deprecated format (Cf)
    "\ufeff\ufff9-\ufffb"  # BOM / zero-width no-break space, interlinear annotation (Cf)
    "\ud800-\udfff"  # surrogates (Cs): only lone ones can exist in a str
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"  # other Cf: Kaithi, Egyptian, shorthand, music, tags
)
UNSAFE = re.compile(f"[{_UNSAFE_RANGES}]")
_UNSAFE_MULTILINE = re.compile(f"[{_UNSAFE_RANGES.replace(chr(0) + '-', chr(0) + '-' + chr(8) + chr(11) + '-', 1)}]")


def first_unsafe(value: str, *, multiline: bool = False) -> str | None:
    """The first character of ``value`` that may not reach a header or page, as ``U+XXXX``; None if all are safe."""
    found = (_UNSAFE_MULTILINE if multiline else UNSAFE).search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def clean(value: str, *, multiline: bool = False) -> str:
    """``value`` with every unsafe character replaced by a space (render time: old data cannot poison a message)."""
    return (_UNSAFE_MULTILINE if multiline else UNSAFE).sub(" ", value)
