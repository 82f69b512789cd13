"""Pure parts of release publishing: the recall notice, part sizing, progress only on a terminal."""

from __future__ import annotations

import email
import io
from datetime import UTC, datetime
from email.policy import default

from chalicelib.domain.mail import notices as mail
from chalicelib.domain.releases.editing import MAX_PARTS, UploadLimits
from patchcast_tools.cli.upload import show_progress
from tests.unit.test_mail import _release

MiB = 1024 * 1024


def _recall(**kw: object) -> email.message.EmailMessage:
    release = _release(status="yanked", reason="corrupts <b>ledgers</b>\r\nBcc: x@evil.example", **kw)
    links = mail.Links(None, "https://p.test/unsubscribe?token=u", datetime(2027, 1, 1, tzinfo=UTC))
    raw = mail.NOTICES["recall"](sender="alerts@p.test", to="ops@acme.example", release=release, links=links)
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


def test_a_recall_says_why_names_the_successor_and_escapes_user_text() -> None:
    msg = _recall(superseded_by="r2", superseded_version="13.4.1", title="Fix\r\nBcc: all@example.com")
    assert str(msg["Subject"]).startswith("[RECALL] [Sev 1] [M3]") and msg["Bcc"] is None
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, page = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
    assert "13.4.1" in text and "corrupts <b>ledgers</b>" in text
    assert "&lt;b&gt;ledgers&lt;/b&gt;" in page and "<b>ledgers" not in page


def test_a_recall_is_sendable_only_for_a_yanked_release() -> None:
    assert mail.SENDABLE["recall"] == ("yanked",) and mail.SENDABLE["release"] == ("published",)


def test_parts_grow_so_that_even_5_tib_fits_in_10000_parts() -> None:
    limits = UploadLimits(threshold=5 * 1024**3, part_size=64 * MiB)
    assert limits.part_size_for(6 * 1024**3) == 64 * MiB
    size = 5 * 1024**4
    part = limits.part_size_for(size)
    assert part % MiB == 0 and -(-size // part) <= MAX_PARTS


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_only_on_a_terminal_and_never_with_json() -> None:
    assert show_progress(False, _Tty()) is True
    assert show_progress(False, io.StringIO()) is False  # piped
    assert show_progress(True, _Tty()) is False
