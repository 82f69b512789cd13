"""The store contract (tests/adapters/test_store_contract.py; its ``store`` fixture in tests/adapters/conftest.py)
for what ``accounts``, ``subscriptions`` and ``reports`` ask of the store: the in-memory store
(tests/memory_accounts.py) and the real table answer these scenarios the same way. Each scenario uses fresh ids:
the real table is shared by the whole session."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.core.errors import AlreadySubscribed, BadRequest, Conflict, CountersMoved, NotFound
from chalicelib.domain.core.models import Account, DeliveryOutcome, Product, Recipient, Subscription, now_iso
from chalicelib.domain.core.states import DeliveryStatus, SubscriptionStatus
from tests.adapters.test_store_contract import _release, _world
from tests.conftest import unique


def _pending(account_id: str, n: int = 0, email: str = "") -> Subscription:
    return Subscription(
        account_id,
        unique(f"s{n}-"),
        email or f"u{n}@{account_id}.example",
        ("M3",),
        ("patch",),
        4,
        ("ga",),
        SubscriptionStatus.PENDING,
        now_iso(),
    )


def _account(store: Any, tier: str = "premium", end: date = date(2030, 12, 31)) -> Account:
    """A contract (not stored) for a product of its own, which is in the catalog: the shared table's contracts
    must all name known products (tests/app/test_accounts_admin.py exports and imports them back)."""
    product = unique("P")
    store.put_product(Product(product, product))
    return Account(unique("acct-"), "Acme", tier, (product,), date(2026, 1, 1), end)


def test_one_pending_or_active_subscription_per_address_until_it_is_turned_off(store: Any) -> None:
    # GIVEN an account and a pending subscription of an address
    acct = _account(store)
    store.put_account(acct)
    first = _pending(acct.account_id)
    store.put_pending_subscription(first, expires_at=int(time.time()) + 3600)
    # WHEN the address is subscribed again, the first confirmed twice, then changed
    with pytest.raises(AlreadySubscribed) as taken:
        store.put_pending_subscription(_pending(acct.account_id, email=first.email), expires_at=int(time.time()) + 60)
    active = store.activate_subscription(acct.account_id, first.subscription_id, tier="premium")
    again = store.activate_subscription(acct.account_id, first.subscription_id, tier="premium")
    changed = store.change_subscription(
        Subscription(**{**active.__dict__, "kinds": ("patch", "update"), "max_severity": 2}),
        tier="premium",
        contract_products=("M3",),
    )
    # THEN the holder is named, the second confirmation changes nothing, the change keeps the status
    assert taken.value.subscription_id == first.subscription_id
    assert active.status == again.status == SubscriptionStatus.ACTIVE and active.confirmed_at
    assert (changed.kinds, changed.max_severity, changed.status) == (("patch", "update"), 2, SubscriptionStatus.ACTIVE)
    assert store.get_subscription(acct.account_id, first.subscription_id) == changed
    # AND once unsubscribed the address is free again, and a deleted subscription is gone
    off = store.turn_off_subscription(acct.account_id, first.subscription_id, SubscriptionStatus.UNSUBSCRIBED)
    assert off.status == SubscriptionStatus.UNSUBSCRIBED
    assert store.turn_off_subscription(acct.account_id, first.subscription_id, SubscriptionStatus.SUPPRESSED) == off
    second = _pending(acct.account_id, email=first.email)
    store.put_pending_subscription(second, expires_at=int(time.time()) + 3600)
    assert store.delete_subscription(acct.account_id, second.subscription_id) is True
    assert store.delete_subscription(acct.account_id, second.subscription_id) is False
    assert store.get_subscription(acct.account_id, second.subscription_id) is None
    assert [s.subscription_id for s in store.list_subscriptions(acct.account_id)] == [first.subscription_id]
    with pytest.raises(NotFound):
        store.activate_subscription(acct.account_id, second.subscription_id, tier="premium")


def test_a_pending_subscription_past_its_window_is_not_listed_and_frees_its_address(store: Any) -> None:
    acct = _account(store)
    store.put_account(acct)
    stale = _pending(acct.account_id)
    store.put_pending_subscription(stale, expires_at=int(time.time()) - 10)
    assert store.list_subscriptions(acct.account_id) == []
    fresh = _pending(acct.account_id, email=stale.email)
    store.put_pending_subscription(fresh, expires_at=int(time.time()) + 3600)
    assert [s.subscription_id for s in store.list_subscriptions(acct.account_id)] == [fresh.subscription_id]


def test_confirmation_counters_move_only_from_the_revision_read_and_never_for_a_suppressed_address(store: Any) -> None:
    # GIVEN an address with no confirmations yet
    account_id, address = unique("acct-"), f"{unique('c')}@example.com"
    before = store.confirmation_history(account_id, address)
    now = int(time.time())
    # WHEN one is taken, then one more from the stale reading, then it is given back
    store.take_confirmation(store.confirmation_guards(before, account_id, address, now))
    taken = store.confirmation_history(account_id, address)
    with pytest.raises(CountersMoved):
        store.take_confirmation(store.confirmation_guards(before, account_id, address, now + 1))
    store.give_back_confirmation(account_id, address, now)
    # THEN the counters saw exactly the one, and are empty again
    assert (before.address.sent, before.address.rev, before.account.rev) == ((), 0, 0)
    assert (taken.address.sent, taken.account.sent) == ((now,), (now,))
    assert store.confirmation_history(account_id, address).address.sent == ()
    # AND nothing is taken for an address suppressed since it was read
    store.suppress_address(address, reason="complaint", detail="", feedback_id="f")
    with pytest.raises(CountersMoved):
        store.take_confirmation(
            store.confirmation_guards(store.confirmation_history(account_id, address), account_id, address, now)
        )


def test_a_suppression_turns_the_address_off_holds_until_lifted_and_is_audited(store: Any) -> None:
    # GIVEN an active and a pending subscription of one address (in two accounts)
    a, b = _account(store), _account(store)
    store.put_account(a)
    store.put_account(b)
    address = f"{unique('x')}@Example.com"
    active, pending = _pending(a.account_id, email=address), _pending(b.account_id, email=address)
    for sub in (active, pending):
        store.put_pending_subscription(sub, expires_at=int(time.time()) + 3600)
    store.activate_subscription(a.account_id, active.subscription_id, tier="premium")
    # WHEN SES says it bounced for good
    turned = store.suppress_address(address, reason="bounce", detail="550", feedback_id="f1")
    # THEN both are turned off, the pending one can no longer be confirmed, and the lists agree
    assert sorted(s.subscription_id for s in turned) == sorted([active.subscription_id, pending.subscription_id])
    assert {s.status for s in turned} == {SubscriptionStatus.SUPPRESSED}
    with pytest.raises(Conflict):
        store.activate_subscription(b.account_id, pending.subscription_id, tier="premium")
    assert store.suppression(address)["reason"] == "bounce"
    assert store.suppressed([address, "nobody@example.com"]) == {address.lower()}
    # AND lifting it once is audited, a second time finds nothing
    lifted = store.lift_suppression(address, by="admin@vendor.example")
    assert (lifted["email"], lifted["reason"], lifted["lifted_by"]) == (
        address.lower(),
        "bounce",
        "admin@vendor.example",
    )
    assert store.suppression(address) is None and store.lift_suppression(address, by="x") is None


def test_transient_bounces_are_counted_per_address(store: Any) -> None:
    address = f"{unique('t')}@Example.com"
    assert (store.count_transient_bounce(address), store.count_transient_bounce(address.lower())) == (1, 2)
    assert store.transient_bounces([address, "quiet@example.com"]) == {address.lower(): 2}


def test_a_mail_is_sent_once_per_account_and_key_and_a_failed_run_gives_it_back(store: Any) -> None:
    account_id, what = unique("acct-"), "REVIEW#2026-01"
    assert store.claim_once(account_id, what, lease_seconds=300) == ("claimed", set())
    assert store.claim_once(account_id, what, lease_seconds=300)[0] == "busy"
    store.note_once_sent(account_id, what, "CSM@vendor.example")
    store.finish_once(account_id, what, give_back=True)
    assert store.claim_once(account_id, what, lease_seconds=300) == ("claimed", {"csm@vendor.example"})
    store.finish_once(account_id, what)
    assert store.claim_once(account_id, what, lease_seconds=300)[0] == "done"


def test_contracts_page_in_id_order_and_change_once(store: Any) -> None:
    # GIVEN three contracts
    accounts = sorted((_account(store) for _ in range(3)), key=lambda a: a.account_id)
    assert [store.put_account(a) for a in accounts] == [True] * 3
    # WHEN one is stored again unchanged, and the list is read two at a time
    assert store.put_account(accounts[0]) is False
    seen, cursor = [], None
    while True:
        page, cursor = store.accounts_page(limit=2, cursor=cursor)
        seen += [a.account_id for a in page]
        if cursor is None:
            break
    # THEN every one is listed once, in id order
    ours = [a for a in seen if a in {x.account_id for x in accounts}]
    assert ours == [a.account_id for a in accounts] and seen == sorted(seen)
    assert store.get_account(accounts[1].account_id) == accounts[1]
    with pytest.raises(BadRequest):
        store.accounts_page(limit=2, cursor="not-a-cursor")


def test_a_release_s_counters_sum_what_delivery_and_downloads_added(store: Any) -> None:
    release_id = unique("r")
    r = Recipient("a", "s0", "u0@a.example", "elite")
    store.claim_batch(release_id, "release#b", lease_seconds=60)
    store.finish_batch(
        release_id,
        "release#b",
        {"sent": 1},
        tally={"elite#subscriber#sent": 1},
        records=[DeliveryOutcome(r, DeliveryStatus.SENT)],
    )
    assert store.first_download(release_id) is None
    store.record_download(
        release_id, account_id="a", subscription_id="s0", ip="192.0.2.1", user_agent="ua", tier="elite"
    )
    tallies = store.tallies(release_id)
    assert tallies["release"] == {"elite#subscriber#sent": 1}
    assert tallies["download"] == {"elite#downloaded": 1, "elite#downloaders": 1}
    assert store.first_download(release_id)


def test_the_review_reads_the_period_s_releases_and_one_account_s_part_of_each(store: Any) -> None:
    # GIVEN two accounts' subscribers of a product, a release of it published now and one of another product
    product, (a, b), subs = _world(store, "elite", "elite", subscribers=1)
    now = datetime.now(UTC).replace(microsecond=0)
    published = _release(store, product, published_at=now.isoformat().replace("+00:00", "Z"))
    _release(store, unique("P"), published_at=now.isoformat().replace("+00:00", "Z"))
    mine, theirs = (Recipient(s.account_id, s.subscription_id, s.email, "elite") for s in subs)
    store.record_deliveries(published.release_id, "release", [DeliveryOutcome(mine, DeliveryStatus.SENT, "m-1")])
    store.record_deliveries(published.release_id, "release", [DeliveryOutcome(theirs, DeliveryStatus.FAILED)])
    for _ in range(2):
        store.record_download(
            published.release_id, account_id=a.account_id, subscription_id=mine.subscription_id, ip="192.0.2.1",
            user_agent="ua", email=mine.email, tier="elite",
        )  # fmt: skip
    # WHEN the review reads the hour up to now (to its next second), and account a's part of the release
    found = store.published_between(now - timedelta(hours=1), now + timedelta(seconds=1), [product])
    part = store.account_part(published.release_id, a.account_id)
    # THEN only the product's release, and only a's record and downloader marker (two clicks, first time kept)
    assert [r.release_id for r in found] == [published.release_id]
    assert store.published_between(now + timedelta(seconds=1), now + timedelta(hours=1), [product]) == []
    assert [(r["email"], r["role"], r["status"]) for r in part["release"]] == [(mine.email, "subscriber", "sent")]
    assert part["release"][0]["at"] and part["recall"] == []
    (marker,) = part["downloads"]
    assert (marker["SK"], marker["email"], int(marker["clicks"])) == (
        f"DOWNLOADER#{a.account_id}#{mine.subscription_id}",
        mine.email,
        2,
    )
    assert marker["at"] and b.account_id != a.account_id
