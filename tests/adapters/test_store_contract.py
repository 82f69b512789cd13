"""The in-memory store (tests/memory_store.py) and the real table (``chalicelib.adapters.store.Table`` on the session's
moto server) answer the same small scenarios the same way: what the domain tests rely on from the double
is what the table does, so the double cannot drift from it.

Each scenario uses fresh ids: the real table is shared by the whole session.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest

from chalicelib.domain.core.errors import AlreadyExists
from chalicelib.domain.core.models import Account, DeliveryOutcome, Product, Recipient, Release, Subscription, now_iso
from chalicelib.domain.core.states import ClaimStatus, DeliveryStatus, ReleaseStatus, Role, SubscriptionStatus
from tests.conftest import unique
from tests.memory_store import MemoryStore


def _world(
    store: Any, *tiers: str, subscribers: int = 1, product: str = "", **sub_fields: Any
) -> tuple[str, list[Account], list[Subscription]]:
    """A product, one account per tier holding it, active subscribers, and a published release of it."""
    product = product or unique("P")
    accounts = [Account(unique(f"{t}-"), t, t, (product,), date(2026, 1, 1), date(2030, 12, 31)) for t in tiers]
    subs = [
        Subscription(
            a.account_id,
            f"s{n}",
            f"u{n}@{a.account_id}.example",
            (product,),
            ("patch",),
            4,
            ("ga",),
            SubscriptionStatus.ACTIVE,
            now_iso(),
            **sub_fields,
        )
        for a in accounts
        for n in range(subscribers)
    ]
    store.put_product(Product(product, product))
    if isinstance(store, MemoryStore):
        for a in accounts:
            store.put_account(a)
        for s in subs:
            store.put_subscription(s)
    else:
        store.bulk_load(accounts, subs)
    return product, accounts, subs


def _release(store: Any, product: str, **kw: Any) -> Release:
    fields: dict[str, Any] = {"status": ReleaseStatus.PUBLISHED, **kw}
    release = Release(
        unique("r"), product, "1.0", "patch", 2, "ga", "Fix", "Fixes", created_at=now_iso(), created_by="re", **fields
    )
    store.create_release(release)
    return release


def test_a_batch_is_claimed_by_one_finished_once_and_its_records_kept_either_way(store: Any) -> None:
    release_id, batch = unique("r"), "release#0-0-aa"
    first = store.claim_batch(release_id, batch, lease_seconds=60, max_attempts=3, queue="q", body={"a": 1})
    busy = store.claim_batch(release_id, batch, lease_seconds=60, max_attempts=3)
    r1, r2 = (Recipient("a", f"s{n}", f"u{n}@a.example", "elite") for n in range(2))
    finished = store.finish_batch(
        release_id,
        batch,
        {"sent": 1},
        tally={"elite#subscriber#sent": 1},
        records=[DeliveryOutcome(r1, DeliveryStatus.SENT, message_id="m1")],
    )
    again = store.finish_batch(release_id, batch, {"sent": 1}, records=[DeliveryOutcome(r2, DeliveryStatus.SENT)])
    assert (first.status, first.attempts, busy.status) == (ClaimStatus.CLAIMED, 1, ClaimStatus.BUSY)
    assert (finished, again) == (True, False)
    assert store.claim_batch(release_id, batch, lease_seconds=60).status == ClaimStatus.DONE
    assert {r.email for r in store.account_deliveries(release_id, "release", "a")} == {"u0@a.example", "u1@a.example"}
    assert store.batch_states(release_id, [batch, "release#never"]) == {
        batch: store.batch_states(release_id, [batch])[batch]
    }
    assert store.batch_states(release_id, [batch])[batch].done is True


def test_a_batch_state_says_how_many_recipients_it_handed_to_a_retry_batch(store: Any) -> None:
    release_id = unique("r")
    store.claim_batch(release_id, "release#a", lease_seconds=60)
    store.claim_batch(release_id, "release#b", lease_seconds=60)
    store.finish_batch(release_id, "release#a", {"sent": 1, "retry": 2})
    states = store.batch_states(release_id, ["release#a", "release#b"])
    assert (states["release#a"].done, states["release#a"].retried) == (True, 2)
    assert (states["release#b"].done, states["release#b"].retried) == (False, 0)


def test_claims_run_out_are_exhausted_after_max_attempts_and_a_given_up_batch_stays_failed(store: Any) -> None:
    release_id = unique("r")
    assert store.claim_batch(release_id, "release#x", lease_seconds=-5, max_attempts=1).status == ClaimStatus.CLAIMED
    exhausted = store.claim_batch(release_id, "release#x", lease_seconds=60, max_attempts=1)
    claim = store.claim_batch(release_id, "release#y", lease_seconds=60)
    store.note_batch_error(release_id, "release#y", "boom", lease_until=claim.lease_until)
    store.fail_batch(release_id, "release#y", "gave up")
    failed = store.claim_batch(release_id, "release#y", lease_seconds=60)
    assert (exhausted.status, exhausted.attempts) == (ClaimStatus.EXHAUSTED, 1)
    assert (failed.status, failed.last_error) == (ClaimStatus.FAILED, "gave up")
    assert [(f.notice, f.batch_id, f.error, f.attempts) for f in store.failed_batches(release_id)] == [
        ("release", "y", "gave up", 1)
    ]


def test_a_stuck_claim_is_found_re_driven_by_one_caller_and_leaves_the_index_when_finished(store: Any) -> None:
    release_id = unique("r")
    store.claim_batch(release_id, "release#z", lease_seconds=-5, queue="q", body={"batch_id": "z"})
    now = int(time.time())
    (stuck,) = [s for s in store.stuck_batches(now, limit=1000) if s.release_id == release_id]
    assert (stuck.batch_id, stuck.queue, stuck.body, stuck.redrives) == ("release#z", "q", {"batch_id": "z"}, 0)
    assert store.mark_redriven(stuck, next_check=now + 240) is True
    assert store.mark_redriven(stuck, next_check=now + 240) is False  # someone else moved it already
    store.finish_batch(release_id, "release#z", {})
    assert [s for s in store.stuck_batches(now + 10_000, limit=1000) if s.release_id == release_id] == []


def test_a_page_is_claimed_once_and_done_once_its_successor_is_claimed(store: Any) -> None:
    release_id = unique("r")
    assert store.claim_page(release_id, "release", 0, lease_seconds=-5) == ClaimStatus.CLAIMED
    assert store.claim_page(release_id, "release", 1, lease_seconds=60) == ClaimStatus.CLAIMED
    assert store.claim_page(release_id, "release", 1, lease_seconds=60) == ClaimStatus.BUSY
    assert store.claim_page(release_id, "release", 0, lease_seconds=60) == ClaimStatus.DONE  # its lease ran out
    store.finish_page(release_id, "release", 1)
    assert store.claim_page(release_id, "release", 1, lease_seconds=60) == ClaimStatus.DONE


def test_the_audience_comes_elite_first_a_page_at_a_time(store: Any) -> None:
    product, accounts, _ = _world(store, "premium", "elite", subscribers=2)
    seen, cursor = [], None
    while True:
        page, cursor = store.audience_page(product, limit=3, cursor=cursor)
        seen += page
        if cursor is None:
            break
    assert [(e.account_id, e.subscription_id) for e in seen] == [
        (accounts[1].account_id, "s0"),
        (accounts[1].account_id, "s1"),
        (accounts[0].account_id, "s0"),
        (accounts[0].account_id, "s1"),
    ]
    assert seen[0].tier == "elite" and seen[0].kinds == ("patch",) and seen[0].max_severity == 4
    planning, _ = store.audience_page(product, limit=1, cursor=None, planning_only=True)
    assert planning[0].subscription_id == "s0" and planning[0].tier == ""


def test_an_audience_entry_carries_its_product_s_version_lines_and_the_digest_choice(store: Any) -> None:
    product = unique("P")
    installed = {product: ("13.4", "12.1"), "other": ("9.0",)}
    _world(store, "premium", product=product, installed=installed, digest={"3": "weekly"})
    ((entry,), _) = store.audience_page(product, limit=5, cursor=None)
    assert entry.installed == ("13.4", "12.1") and entry.digest == {"3": "weekly"}


def test_delivery_records_page_in_order_and_the_recheck_reads_them_consistently(store: Any) -> None:
    product, (acct,), subs = _world(store, "premium", subscribers=3)
    release = _release(store, product)
    people = [Recipient(s.account_id, s.subscription_id, s.email, "premium") for s in subs]
    oncall = Recipient(acct.account_id, "oncall", f"pager@{acct.account_id}.example", "premium", Role.ONCALL)
    store.record_deliveries(release.release_id, "release", [DeliveryOutcome(p, DeliveryStatus.SENT) for p in people])
    if isinstance(store, MemoryStore):
        store.suppress(oncall.email)
    else:
        store.suppress_address(oncall.email, reason="bounce", detail="", feedback_id="f")
    found, subs_now, sent, suppressed = store.delivery_context(release.release_id, "release", [*people, oncall])
    assert found == release and set(subs_now) == {f"{acct.account_id}#s{n}" for n in range(3)}
    assert sent == {p.key for p in people} and suppressed == {oncall.email}
    seen, cursor = [], None
    while True:
        page, cursor = store.delivery_page(release.release_id, "release", limit=2, cursor=cursor)
        seen += page
        if cursor is None:
            break
    assert [r.recipient.subscription_id for r in seen] == ["s0", "s1", "s2"]
    assert {r.status for r in seen} == {DeliveryStatus.SENT}


def test_a_release_moves_only_from_the_states_named_and_its_first_page_is_queued_once(store: Any) -> None:
    product, _, _ = _world(store, "premium")
    release = _release(store, product, status=ReleaseStatus.AVAILABLE)
    wrong = store.transition_release(
        release.release_id, from_status=[ReleaseStatus.SCHEDULED], to_status=ReleaseStatus.PUBLISHED
    )
    moved = store.transition_release(
        release.release_id,
        from_status=[ReleaseStatus.AVAILABLE],
        to_status=ReleaseStatus.PUBLISHED,
        published_at="2026-01-01T00:00:00Z",
    )
    assert wrong is None and moved.status == ReleaseStatus.PUBLISHED and moved.published_at == "2026-01-01T00:00:00Z"
    assert store.claim_queueing(release.release_id, "fanout", lease_seconds=60) is True
    assert store.claim_queueing(release.release_id, "fanout", lease_seconds=60) is False
    store.mark_queued(release.release_id, "fanout")
    assert store.get_release(release.release_id, consistent=True).fanout_at
    assert store.claim_queueing(release.release_id, "fanout", lease_seconds=-5) is False
    with pytest.raises(AlreadyExists):
        _release(store, product, status=ReleaseStatus.AVAILABLE)  # same product, kind and version


def test_the_schedule_publishes_only_a_release_whose_time_has_come(store: Any) -> None:
    product, _, _ = _world(store, "premium")
    release = _release(store, product, status=ReleaseStatus.AVAILABLE, notify_at="2026-06-01T00:00:00Z")
    scheduled = store.schedule_release(release)
    early = store.transition_release(
        release.release_id,
        from_status=[ReleaseStatus.SCHEDULED],
        to_status=ReleaseStatus.PUBLISHED,
        due_by="2026-05-31T23:59:59Z",
    )
    due = store.transition_release(
        release.release_id,
        from_status=[ReleaseStatus.SCHEDULED],
        to_status=ReleaseStatus.PUBLISHED,
        due_by="2026-06-01T00:00:00Z",
    )
    assert scheduled.status == ReleaseStatus.SCHEDULED and early is None and due.status == ReleaseStatus.PUBLISHED


def test_a_fresh_link_once_per_window_and_a_downloader_once(store: Any) -> None:
    product, (acct,), (sub,) = _world(store, "premium")
    release = _release(store, product)
    ids = (release.release_id, acct.account_id, sub.subscription_id)
    assert store.claim_fresh_link(*ids, window=900) is True
    assert store.claim_fresh_link(*ids, window=900) is False
    store.release_fresh_link(*ids)
    assert store.claim_fresh_link(*ids, window=900) is True
    assert store.download_context(*ids)[3] is False
    store.record_download(
        release.release_id,
        account_id=acct.account_id,
        subscription_id=sub.subscription_id,
        ip="192.0.2.1",
        user_agent="curl",
        email=sub.email,
        tier="premium",
    )
    found, account, subscription, before = store.download_context(*ids)
    assert (found, account, subscription, before) == (release, acct, sub, True)
