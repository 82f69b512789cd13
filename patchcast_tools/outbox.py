"""Reading the local outbox (``<state>/outbox/<n>.eml``): the demo, the end-to-end tests and the
benchmark all wait on it the same way."""

from __future__ import annotations

import email
import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

_LINK = re.compile(r"https?://[^\s\"'<>]+")


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def messages(self) -> list[EmailMessage]:
        paths = sorted(self.dir.glob("*.eml"), key=lambda p: int(p.stem)) if self.dir.exists() else []
        return [email.message_from_bytes(p.read_bytes(), policy=default) for p in paths]  # type: ignore[misc]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address in str(m["To"])]

    def wait_for(
        self, match: Callable[[EmailMessage], bool], *, count: int = 1, timeout: float = 30
    ) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages() if match(m)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    return body.get_content() if body is not None else ""


def link(msg: EmailMessage, marker: str) -> str:
    for url in _LINK.findall(text_of(msg)):
        if marker in url:
            return url
    raise LookupError(f"no link containing {marker!r} in the message to {msg['To']}")
