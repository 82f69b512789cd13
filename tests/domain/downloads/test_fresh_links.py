"""A fresh link for an expired one, on the in-memory store: what the email holds and whom it goes to,
the thread it joins, the once-per-window limit per subscriber and release, and a failed send that leaves
the limit untaken."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.domain.access.tokens import Claims, Purpose, verify
from chalicelib.domain.core.errors import PatchcastError, Rejected, ServiceUnavailable
from chalicelib.domain.core.models import Recipient
from chalicelib.domain.core.records import DeliveryRecord
from chalicelib.domain.core.states import DeliveryStatus, SubscriptionStatus
from chalicelib.domain.downloads import fresh_links
from tests.domain.host import local_time_zone, log_lines
from tests.domain.world import LINKS, Mailer, account, release, store_with, subscription
from tests.helpers import link, parse
from tests.memory_store import MemoryStore

PREM = account("prem1", "premium")
LONG_AGO = 1_700_000_000


def _expired(release_id: str = "r1", sub: str = "s0") -> str:
    return LINKS.download("prem1", sub, release_id, expires=LONG_AGO).rsplit("/", 1)[1]


def _send(store: MemoryStore, mailer: Any, token: str | None = None, *, region: str = "us-east-1") -> datetime:
    return fresh_links.send_fresh_link(store, mailer, LINKS, token or _expired(), days=7, region=region)


def _refused(store: MemoryStore, mailer: Any, token: str | None = None) -> tuple[int, str, str, str | None]:
    with pytest.raises(PatchcastError) as refused:
        _send(store, mailer, token)
    err = refused.value
    return err.status, err.code, err.message, err.hint


def _at(store: MemoryStore, second: int) -> None:
    store.clock = lambda: second


def test_the_fresh_link_is_a_notice_to_the_subscribed_address_with_a_new_download_link_for_days_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, mailer = store_with(PREM, subscribers=1), Mailer()
    before = int(time.time())
    with local_time_zone("Asia/Tokyo"), log_lines(monkeypatch) as lines:
        expires = _send(store, mailer)
    after = int(time.time())
    assert [(x["message"], x["release_id"], x["account_id"]) for x in lines] == [
        ("fresh download link sent", "r1", "prem1")
    ]
    # THEN the link lives the given days from now, and the email says so
    at = int(expires.timestamp())  # to the minute the email states
    assert (before + 7 * 86400) // 60 * 60 <= at <= after + 7 * 86400 and at % 60 == 0 and expires.tzinfo is UTC
    ((to, raw),) = mailer.accepted
    msg = parse(raw)
    assert to == msg["To"] == "u0@prem1.example" and msg["From"] == "alerts@patchcast.test"
    body = msg.get_body(("plain",)).get_content()
    assert "You asked for a fresh download link; the earlier one has expired or is about to." in body.splitlines()
    assert f"This link works until {expires:%Y-%m-%d %H:%M} UTC" in body
    # AND it carries a working link to the same release for the same subscriber, and their unsubscribe link
    download = verify(LINKS.ring, link(msg, "/d/").rsplit("/", 1)[1], Purpose.DOWNLOAD)
    assert download == Claims(Purpose.DOWNLOAD, "prem1", "s0", "r1", int(expires.timestamp()))
    unsubscribe = parse_qs(urlsplit(link(msg, "/unsubscribe")).query)["token"][0]
    claims = verify(LINKS.ring, unsubscribe, Purpose.UNSUBSCRIBE)
    assert (claims.account_id, claims.subject) == ("prem1", "s0")
    assert msg["In-Reply-To"] is None


@pytest.mark.parametrize(
    ("region", "parent"),
    [("us-east-1", "<m-first@email.amazonses.com>"), ("eu-west-1", "<m-first@eu-west-1.amazonses.com>")],
)
def test_the_fresh_link_replies_to_the_release_s_notice(region: str, parent: str) -> None:
    store, mailer = store_with(PREM, subscribers=1), Mailer()
    recipient = Recipient("prem1", "s0", "u0@prem1.example", "premium")
    notices = store.deliveries.setdefault(("r1", "release"), {})
    notices[recipient.key] = DeliveryRecord(recipient, DeliveryStatus.SENT, message_id="m-first")
    _send(store, mailer, region=region)
    msg = parse(mailer.accepted[0][1])
    assert (msg["In-Reply-To"], msg["References"]) == (parent, parent)


def test_no_fresh_link_for_an_address_that_no_longer_receives_alerts() -> None:
    store, mailer = store_with(PREM, subscribers=1), Mailer()
    store.put_subscription(subscription(PREM, 0, status=SubscriptionStatus.UNSUBSCRIBED))
    assert _refused(store, mailer) == (
        403,
        "not_subscribed",
        "The address this link was sent to no longer receives alerts, so we cannot email it a fresh link.",
        "Subscribe again to M3 alerts, or ask your support administrator for the file.",
    )
    assert mailer.accepted == []


def test_a_fresh_link_goes_out_once_per_fifteen_minutes_per_subscriber_and_release() -> None:
    store, mailer = store_with(PREM, subscribers=2), Mailer()
    store.create_release(release("r2", version="1.1"))
    _at(store, 1_000_000)
    _send(store, mailer)
    # WHEN asked again just inside the window: refused, without another email
    _at(store, 1_000_899)
    assert _refused(store, mailer) == (
        429,
        "fresh_link_recently_sent",
        "A fresh link for this release was emailed less than 15 minutes ago.",
        "Check the inbox (and spam folder) of the address the original link was sent to.",
    )
    # BUT another subscriber, or another release, has a window of its own
    _send(store, mailer, _expired(sub="s1"))
    _send(store, mailer, _expired("r2"))
    # AND once the window has passed the same one goes out again
    _at(store, 1_000_900)
    _send(store, mailer)
    assert mailer.to() == ["u0@prem1.example", "u1@prem1.example", "u0@prem1.example", "u0@prem1.example"]


@dataclass
class _Refusing(Mailer):
    def send_raw(self, to: str, raw: bytes) -> str:
        raise Rejected("content rejected")


@pytest.mark.parametrize("mailer", [Mailer(throttle={"u0@prem1.example"}), _Refusing()])
def test_a_fresh_link_that_could_not_be_sent_can_be_asked_for_again_right_away(mailer: Mailer) -> None:
    store = store_with(PREM, subscribers=1)
    with pytest.raises(ServiceUnavailable) as unavailable:
        _send(store, mailer)
    assert unavailable.value.message == "We could not send the email just now; please try again in a few minutes."
    working = Mailer()
    _send(store, working)
    assert working.to() == ["u0@prem1.example"]
