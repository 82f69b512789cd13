"""Subscriptions on the in-memory store: a customer's address is confirmed once (double opt-in) and unsubscribes in
one click; confirmation emails are rate-limited and given back when SES refuses them; SES feedback suppresses an
address until support lifts it."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import unquote

import pytest

from chalicelib.domain.access.auth import Identity
from chalicelib.domain.core.errors import AddressSuppressed, AlreadySubscribed, RateLimited, Throttled
from chalicelib.domain.core.states import Group, SubscriptionStatus
from chalicelib.domain.subscriptions import confirmations, feedback, preregistration
from tests.domain.world import LINKS, PRODUCT, Mailer, account, store_with
from tests.memory_store import MemoryStore

CUSTOMER = Identity(subject="c-1", email="me@prem1.example", account_id="prem1", groups=frozenset({Group.CUSTOMER}))
SUPPORT = Identity(
    subject="s-1", email="admin@vendor.example", account_id=None, groups=frozenset({Group.SUPPORT_ADMINS})
)


def _subscribe(store: MemoryStore, mailer: Mailer, address: str) -> Any:
    body = {"email": address, "products": [PRODUCT], "kinds": ["patch"], "max_severity": 2}
    return preregistration.create(store, mailer, LINKS, CUSTOMER, body, confirm_hours=48)


def _token(raw: bytes, path: str) -> str:
    text = raw.decode(errors="replace").replace("=\r\n", "").replace("=3D", "=")
    return unquote(text.split(f"{path}?token=", 1)[1].split()[0].split('"')[0].split("<")[0])


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The confirmation limits' time, moved on by the test rather than waited for."""
    offset = [0.0]
    monkeypatch.setattr(confirmations, "clock", lambda: time.time() + offset[0])
    return offset


def test_a_subscription_is_confirmed_once_and_unsubscribed_in_one_click(clock: list[float]) -> None:
    # GIVEN a premium customer
    store, mailer = store_with(account("prem1", "premium"), subscribers=0), Mailer()
    # WHEN they subscribe an address, confirm it twice from its email, then unsubscribe
    sub = _subscribe(store, mailer, "me@prem1.example")
    ((to, raw),) = mailer.accepted
    confirmed = preregistration.confirm(store, LINKS.ring, _token(raw, "/subscriptions/confirm"))
    again = preregistration.confirm(store, LINKS.ring, _token(raw, "/subscriptions/confirm"))
    audience, _ = store.audience_page(PRODUCT, limit=10, cursor=None)
    unsubscribe = LINKS.unsubscribe("prem1", sub.subscription_id).split("token=", 1)[1]
    off = preregistration.unsubscribe(store, LINKS.ring, unquote(unsubscribe))
    # THEN one confirmation went to the address, it was active in the audience, and is off now
    assert to == "me@prem1.example" and sub.status == SubscriptionStatus.PENDING
    assert confirmed.status == again.status == SubscriptionStatus.ACTIVE
    assert [e.subscription_id for e in audience] == [sub.subscription_id]
    assert off is not None and off.status == SubscriptionStatus.UNSUBSCRIBED
    assert store.audience_page(PRODUCT, limit=10, cursor=None)[0] == []


def test_one_confirmation_per_address_per_10_minutes_and_none_for_an_address_held(clock: list[float]) -> None:
    store, mailer = store_with(account("prem1", "premium"), subscribers=0), Mailer()
    first = _subscribe(store, mailer, "me@prem1.example")
    with pytest.raises(AlreadySubscribed):
        _subscribe(store, mailer, "me@prem1.example")
    preregistration.remove(store, CUSTOMER, first.subscription_id)
    clock[0] = 120
    with pytest.raises(RateLimited) as held:
        _subscribe(store, mailer, "ME@prem1.example")
    clock[0] = 601
    _subscribe(store, mailer, "me@prem1.example")
    assert 470 <= held.value.retry_after <= 480 and len(mailer.accepted) == 2


def test_a_confirmation_ses_refuses_writes_nothing_and_counts_nothing(clock: list[float]) -> None:
    store, mailer = store_with(account("prem1", "premium"), subscribers=0), Mailer(throttle={"me@prem1.example"})
    with pytest.raises(Throttled):
        _subscribe(store, mailer, "me@prem1.example")
    assert store.list_subscriptions("prem1") == []
    mailer.throttle.clear()
    assert _subscribe(store, mailer, "me@prem1.example").status == SubscriptionStatus.PENDING


def test_a_permanent_bounce_suppresses_the_address_until_support_lifts_it(clock: list[float]) -> None:
    # GIVEN an active subscription of an address
    store, mailer = store_with(account("prem1", "premium"), subscribers=1), Mailer()
    (sub,) = store.list_subscriptions("prem1")
    bounce = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": sub.email}],
        },
    }
    # WHEN SES reports a permanent bounce, the customer subscribes the address again, and support lifts it
    outcome = feedback.handle(store, json.dumps(bounce))
    with pytest.raises(AddressSuppressed):
        _subscribe(store, mailer, sub.email)
    lifted = confirmations.lift(store, SUPPORT, sub.email)
    # THEN the subscription was turned off, nothing was sent while suppressed, and after the lift it may be again
    assert outcome.suppressed == [sub.email] and outcome.subscriptions_off == 1
    turned = store.get_subscription("prem1", sub.subscription_id)
    assert turned is not None and turned.status == SubscriptionStatus.SUPPRESSED
    assert lifted["lifted_by"] == "admin@vendor.example" and mailer.accepted == []
    assert _subscribe(store, mailer, sub.email).status == SubscriptionStatus.PENDING
