"""A notice rendered once per batch by its builder (``chalicelib.domain.mail.notices.NOTICES``), then filled in for each
recipient with their address, links and a fresh Message-ID: the cheap way to write the same notice to many.
Pure (no AWS); a value that would not fit the rendered message (``chalicelib.domain.mail.mime``'s rules) is rendered in full.
"""

from __future__ import annotations

import email
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid, parseaddr
from functools import cached_property
from typing import Any

from chalicelib.domain.core.models import Release
from chalicelib.domain.mail.mime import ENCODERS, MAX_LINE, POLICY
from chalicelib.domain.mail.notices import Links, NoticeBuilder

# What may be dropped into a rendered notice for a placeholder: what the email package would itself have written
# verbatim in a header and what needs no escaping in HTML (printable ASCII without spaces, quotes or HTML
# specials), and never the "===...==" of the template's part boundary.
_FILLABLE = re.compile(rb"[A-Za-z0-9._~:/?=#@+%-]{1,900}")
_MESSAGE_ID = re.compile(rb"^Message-ID: <[^>\r\n]*>", re.MULTILINE)


@dataclass(frozen=True)
class _Encoded:
    """A quoted-printable or base64 part of the template: its text split at the placeholders (slot numbers)."""

    encode: Callable[[bytes], bytes]
    pieces: tuple[str | int, ...]

    def fill(self, values: list[str]) -> bytes:
        return self.encode("".join([p if isinstance(p, str) else values[p] for p in self.pieces]).encode())


class NoticeTemplate:
    """One release's notice rendered once by its builder, then filled in for each recipient.

    Rendering MIME with the email package costs more CPU than the SES call that sends it (~1 ms), and
    all but four values are the same for every recipient of a batch. The template is the builder's own
    output for placeholder values (random, so no user text can contain them), cut at the placeholders once:
    the headers and 7bit parts as bytes, each quoted-printable or base64 part as its decoded text, encoded
    again per recipient after the values are in (an encoded line can break anywhere, a placeholder too).
    Each recipient gets it with their address, links and a fresh Message-ID. A value the email package
    would not have written verbatim (an internationalized address, say), or one so long that a 7bit line
    would pass 998 octets, is rendered in full instead.
    """

    def __init__(self, build: NoticeBuilder, *, sender: str, release: Release, expires: datetime, download: bool):
        tag = secrets.token_hex(12)
        self._to, self._download, self._unsubscribe = (f"{tag}.{k}@patchcast.invalid" for k in ("to", "dl", "un"))
        self._msgid = f"<{tag}.id@patchcast.invalid>"
        self._build, self._sender, self._release = build, sender, release
        self._domain = parseaddr(sender)[1].rpartition("@")[2] or "patchcast.local"
        self.expires, self.download = expires, download

    @cached_property
    def _plan(self) -> tuple[tuple[bytes | int | _Encoded, ...], int] | None:
        """(the message as fixed bytes, slots and encoded parts; the longest value a slot may take), rendered at
        the first recipient (a batch of only on-call and CSM copies never needs it); None: render each in full."""
        links = Links(self._download if self.download else None, self._unsubscribe, self.expires)
        raw = self._build(sender=self._sender, to=self._to, release=self._release, links=links)
        raw = _MESSAGE_ID.sub(lambda _: b"Message-ID: " + self._msgid.encode(), raw, count=1)
        marks = (self._to, self._unsubscribe, self._download, self._msgid)
        split = re.compile("(" + "|".join(re.escape(m) for m in marks) + ")")
        slot = {m: n for n, m in enumerate(marks)}
        plan: list[bytes | int | _Encoded] = []
        pos = 0
        for part in _leaves(email.message_from_bytes(raw, policy=POLICY)):
            cte = str(part.get("Content-Transfer-Encoding", "7bit")).lower()
            if cte == "7bit" or cte not in ENCODERS:
                continue  # written verbatim: cut at the placeholders as bytes below
            body = part.get_content().replace("\r\n", "\n")
            encoded = ENCODERS[cte](body.encode("utf-8"))
            at = raw.find(encoded, pos)
            if at < 0:
                return None
            plan += _cut(raw[pos:at], split, slot)
            plan += _encoded(ENCODERS[cte], body, encoded, split, slot)
            pos = at + len(encoded)
        plan += _cut(raw[pos:], split, slot)
        return tuple(plan), _room(raw, marks)

    def render(self, to: str, links: Links) -> bytes:
        values = [to, links.unsubscribe, *([links.download] if links.download else [])]
        encoded = [v.encode("utf-8") for v in values]
        plan = self._plan
        if (
            plan is None
            or (links.download is not None) != self.download
            or links.expires != self.expires
            or not all(_FILLABLE.fullmatch(v) and b"==" not in v for v in encoded)  # "==": never a part boundary
            or max(map(len, encoded)) > plan[1]
        ):
            return self._build(sender=self._sender, to=to, release=self._release, links=links)
        if not self.download:  # slot 2 never occurs in the plan
            values.append("")
            encoded.append(b"")
        values.append(make_msgid(domain=self._domain))
        encoded.append(values[3].encode())
        out: list[bytes] = []
        for item in plan[0]:
            if isinstance(item, bytes):
                out.append(item)
            elif isinstance(item, int):
                out.append(encoded[item])
            else:
                out.append(item.fill(values))
        return b"".join(out)


def _leaves(msg: Any) -> list[Any]:
    return [p for p in msg.walk() if not p.is_multipart()]


def _encoded(
    encode: Callable[[bytes], bytes], body: str, encoded: bytes, split: re.Pattern[str], slot: dict[str, int]
) -> list[bytes | _Encoded]:
    """An encoded part of the plan. Quoted-printable encodes line by line, so only the lines holding a
    placeholder are encoded per recipient (checked: the lines encoded one by one must be the part as encoded)."""

    def filled(chunk: str) -> _Encoded:
        return _Encoded(encode, tuple(slot.get(p, p) for p in split.split(chunk) if p))

    if encode is not ENCODERS["quoted-printable"]:
        return [filled(body)]
    out: list[bytes | _Encoded] = []
    for line in body.splitlines(keepends=True):
        if split.search(line):
            out.append(filled(line))
        elif out and isinstance(out[-1], bytes):
            out[-1] += encode(line.encode("utf-8"))
        else:
            out.append(encode(line.encode("utf-8")))
    marks = {n: m for m, n in slot.items()}
    whole = b"".join(p if isinstance(p, bytes) else p.fill([marks[n] for n in range(len(marks))]) for p in out)
    return out if whole == encoded else [filled(body)]


def _cut(raw: bytes, split: re.Pattern[str], slot: dict[str, int]) -> list[bytes | int]:
    """Verbatim bytes cut at the placeholders (surrogateescape: an 8bit part some builder wrote survives intact)."""
    text = raw.decode("ascii", "surrogateescape")
    return [slot[p] if p in slot else p.encode("ascii", "surrogateescape") for p in split.split(text) if p]


def _room(raw: bytes, marks: tuple[str, ...]) -> int:
    """The longest value a slot may take while every line holding a placeholder stays within 998 octets
    (lines of an encoded part are encoded again, so counting them only makes the bound safer)."""
    room = MAX_LINE
    for line in raw.split(b"\r\n"):
        counts = [line.count(m.encode()) for m in marks]
        if any(counts):
            fixed = len(line) - sum(len(m) * c for m, c in zip(marks, counts, strict=True))
            room = min(room, (MAX_LINE - fixed) // sum(counts))
    return room
