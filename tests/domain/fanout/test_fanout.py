"""Fan-out on the in-memory store: who a page plans, in which batches, and that a page is planned once."""

from __future__ import annotations

import dataclasses

from pytest import MonkeyPatch

from chalicelib.domain.core.messages import FanoutPage, recipient_from_json
from chalicelib.domain.core.models import Product, Recipient
from chalicelib.domain.core.states import ClaimStatus, DeliveryStatus, ReleaseStatus, Role, SubscriptionStatus
from chalicelib.domain.fanout import pages as fanout
from tests.domain.logs import log_lines
from tests.domain.world import NAMES, PRODUCT, Queues, account, release, store_with, subscription
from tests.memory_store import MemoryStore


def _recipients(queues: Queues, name: str) -> list[Recipient]:
    return [recipient_from_json(row) for b in queues.on(name) for row in b["recipients"]]


def test_a_page_plans_the_wanting_and_entitled_elite_first_and_queues_its_successor() -> None:
    # GIVEN an elite and a premium account, two subscribers each, one premium subscriber not wanting patches,
    # and an account whose contract lacks the product
    elite, premium, lapsed = account("elite1", "elite"), account("prem1", "premium"), account("gone1", "premium")
    store = store_with(premium, elite, subscribers=2)
    store.put_subscription(subscription(premium, 1, kinds=("update",)))
    store.put_account(dataclasses.replace(lapsed, products=()))
    store.put_subscription(subscription(lapsed, 0))
    queues = Queues()

    # WHEN the first page (of three entries per page) is planned
    fanout.PAGE_SIZE, saved = 3, fanout.PAGE_SIZE
    try:
        planned = fanout.run(store, queues, FanoutPage.from_json({"release_id": "r1", "page": 0, "cursor": None}))
    finally:
        fanout.PAGE_SIZE = saved

    # THEN elite's two come first, the premium one wanting patches follows, and page 1 is queued after them
    people = [
        (r.account_id, r.subscription_id) for r in _recipients(queues, NAMES.deliver_queue) if r.role == Role.SUBSCRIBER
    ]
    assert people == [("elite1", "s0"), ("elite1", "s1"), ("prem1", "s0")] and planned >= 3
    (successor,) = queues.on(NAMES.fanout_queue)
    assert successor["page"] == 1 and successor["cursor"]


def test_a_page_delivered_twice_is_planned_once() -> None:
    store = store_with(account("prem1", "premium"), subscribers=3)
    queues = Queues()
    message = {"release_id": "r1", "page": 0, "cursor": None}
    assert fanout.run(store, queues, FanoutPage.from_json(message)) == 3
    assert fanout.run(store, queues, FanoutPage.from_json(message)) == 0
    assert len(_recipients(queues, NAMES.deliver_queue)) == 3 and queues.on(NAMES.fanout_queue) == []


def test_batches_hold_at_most_49_and_an_elite_csm_copy_waits_for_the_account_batches() -> None:
    elite = account("elite1", "elite", csm_email="csm@vendor.example")
    store = store_with(elite, subscribers=60)
    queues = Queues()
    fanout.run(store, queues, FanoutPage.from_json({"release_id": "r1", "page": 0, "cursor": None}))
    batches = queues.on(NAMES.deliver_queue)
    sizes = [len(b["recipients"]) for b in batches if not b["batch_id"].startswith("csm-")]
    (csm,) = [b for b in batches if b["batch_id"].startswith("csm-")]
    assert sizes == [49, 11]
    assert csm["after"] == [b["batch_id"] for b in batches if b is not csm]
    assert [recipient_from_json(r) for r in csm["recipients"]] == [
        Recipient("elite1", Role.CSM, "csm@vendor.example", "elite", Role.CSM)
    ]


def test_an_unsubscribed_subscription_is_not_in_the_audience() -> None:
    prem = account("prem1", "premium")
    store = store_with(prem, subscribers=2)
    store.put_subscription(subscription(prem, 0, status=SubscriptionStatus.UNSUBSCRIBED))
    entries, cursor = store.audience_page(PRODUCT, limit=10, cursor=None)
    assert [e.subscription_id for e in entries] == ["s1"] and cursor is None


def _first_page() -> FanoutPage:
    return FanoutPage.from_json({"release_id": "r1", "page": 0, "cursor": None})


def _all_pages(store: MemoryStore, queues: Queues, message: FanoutPage) -> list[int]:
    """Run a page and each successor it queues, as the fan-out queue would; what each page returned."""
    planned, todo = [], [message]
    while todo and len(planned) < 20:  # a page that never moves on fails the test instead of hanging it
        before = len(queues.sent)
        planned.append(fanout.run(store, queues, todo.pop()))
        todo += [FanoutPage.from_json(b) for q, b, d in queues.sent[before:] if q == NAMES.fanout_queue and not d]
    return planned


def test_every_page_reads_on_from_the_cursor_and_each_subscriber_is_planned_once(monkeypatch: MonkeyPatch) -> None:
    # GIVEN seven subscribers of two accounts, three entries a page, the elite one with a CSM
    elite = account("elite1", "elite", csm_email="csm@vendor.example")
    store = store_with(elite, account("prem1", "premium"), subscribers=4)
    store.put_subscription(subscription(store.accounts["prem1"], 3, status=SubscriptionStatus.UNSUBSCRIBED))
    queues = Queues()
    monkeypatch.setattr(fanout, "PAGE_SIZE", 3)

    # WHEN every page runs
    planned = _all_pages(store, queues, _first_page())

    # THEN pages 1 and 2 followed page 0, each returned the recipients it queued, everyone is in one batch of
    # its page, and the CSM copy went once the elite account ended, after its batches of both pages
    assert [p["page"] for p in queues.on(NAMES.fanout_queue)] == [1, 2] and planned == [3, 4, 1]
    people = [(r.account_id, r.subscription_id) for r in _recipients(queues, NAMES.deliver_queue)]
    elite_then_premium = [("elite1", f"s{n}") for n in range(4)] + [("prem1", "s0"), ("prem1", "s1")]
    assert people == [*elite_then_premium, ("elite1", "csm"), ("prem1", "s2")]
    batches = queues.on(NAMES.deliver_queue)
    ids = [b["batch_id"] for b in batches]
    assert [i.split("-")[0] for i in ids] == ["0", "1", "csm", "2"] and batches[2]["after"] == ids[:2]
    assert {b["release_id"] for b in queues.on(NAMES.deliver_queue)} == {"r1"}


def test_a_subscriber_digesting_the_severity_waits_in_its_digest_and_version_lines_filter_the_rest() -> None:
    # GIVEN a severity-2 release for the 13.4 line: subscribers on 13.4.1 (one digesting severity 2 daily), 12.0
    store, queues = store_with(account("prem1", "premium"), subscribers=0, applies_to=("13.4",)), Queues()
    acct = store.accounts["prem1"]
    for n, lines, digest in ((0, ("13.4.1",), {}), (1, ("13.4.1",), {"2": "daily"}), (2, ("12.0",), {})):
        store.put_subscription(subscription(acct, n, installed={PRODUCT: lines}, digest=digest))

    # WHEN the page is planned
    assert fanout.run(store, queues, _first_page()) == 1

    # THEN the 13.4.1 subscriber now, the digesting one as an item of its daily digest, the 12.0 one not at all
    assert [r.subscription_id for r in _recipients(queues, NAMES.deliver_queue)] == ["s0"]
    ((item_key, item),) = store.digest_items.items()
    assert item_key[1:] == ("prem1", "s1", "r1") and item["frequency"] == "daily"
    assert store.deliveries[("r1", "release")]["prem1#s1#subscriber"].status == DeliveryStatus.DIGEST


def test_a_page_is_ten_full_batches_one_sqs_call() -> None:
    store = store_with(account("prem1", "premium"), subscribers=10 * 49 + 1)
    queues = Queues()
    assert fanout.run(store, queues, _first_page()) == 490
    assert [len(b["recipients"]) for b in queues.on(NAMES.deliver_queue)] == [49] * 10
    (successor,) = queues.on(NAMES.fanout_queue)
    assert fanout.run(store, queues, FanoutPage.from_json(successor)) == 1


def test_severity_1_batches_go_to_the_critical_queue_and_others_to_the_delivery_queue() -> None:
    for severity, queue in ((1, NAMES.critical_queue), (2, NAMES.deliver_queue)):
        store, queues = store_with(account("prem1", "premium"), subscribers=1, severity=severity), Queues()
        fanout.run(store, queues, _first_page())
        assert [name for name, _, _ in queues.sent] == [queue]


def test_a_release_not_published_is_not_planned() -> None:
    for status in (ReleaseStatus.AVAILABLE, ReleaseStatus.YANKED):
        store, queues = store_with(account("prem1", "premium"), subscribers=1, status=status), Queues()
        assert fanout.run(store, queues, _first_page()) == 0
        assert queues.sent == []
    assert fanout.run(store, queues, FanoutPage("no-such-release")) == 0 and queues.sent == []


def test_a_page_held_by_a_live_invocation_is_looked_at_again_once_its_lease_could_have_run_out() -> None:
    # GIVEN page 0 claimed by another invocation (which then dies), on a store whose clock the test turns
    now = [1_000_000.0]
    store, queues = store_with(account("prem1", "premium"), subscribers=2), Queues()
    store.clock = lambda: now[0]
    assert store.claim_page("r1", "release", 0, lease_seconds=fanout.PAGE_LEASE_SECONDS) == ClaimStatus.CLAIMED

    # WHEN the page is delivered while the lease holds: it goes back on the queue 120 s later, nothing planned
    assert fanout.run(store, queues, _first_page()) == 0
    assert queues.sent == [(NAMES.fanout_queue, _first_page().to_json(), 120)]

    # AND WHEN it comes back after the lease ran out, it is planned, and done
    now[0] += 121
    assert fanout.run(store, queues, _first_page()) == 2
    assert store.claim_page("r1", "release", 0, lease_seconds=1) == ClaimStatus.DONE


def test_a_page_being_planned_holds_its_claim_for_120_seconds(monkeypatch: MonkeyPatch) -> None:
    # GIVEN page 0 of a two-page audience planned at t, its successor queued but not run yet
    now = [1_000_000.0]
    store, queues = store_with(account("prem1", "premium"), subscribers=2), Queues()
    store.clock = lambda: now[0]
    monkeypatch.setattr(fanout, "PAGE_SIZE", 1)
    assert fanout.run(store, queues, _first_page()) == 1

    # WHEN the same message comes back 120 s later, then 121 s later
    now[0] += 120
    assert fanout.run(store, queues, _first_page()) == 0
    now[0] += 1
    again = fanout.run(store, queues, _first_page())

    # THEN it is still held at 120 s (looked at again later), and planned again (the same batch) after that
    assert again == 1 and [d for q, _, d in queues.sent if q == NAMES.fanout_queue] == [0, 120, 0]
    assert len({b["batch_id"] for b in queues.on(NAMES.deliver_queue)}) == 1


def test_a_page_logs_what_it_planned_or_why_not_and_a_product_missing_from_the_catalog() -> None:
    # GIVEN a severity-1 release of a product the catalog lacks, and a release not published
    store, queues = store_with(account("prem1", "premium"), subscribers=1, severity=1), Queues()
    store.products.clear()
    store.create_release(release("r2", version="2.0", status=ReleaseStatus.AVAILABLE))

    # WHEN page 0 is planned, delivered again, and the unpublished release's page comes
    with log_lines("release_id", "product", "page", "entries", "recipients", "claim") as lines:
        fanout.run(store, queues, _first_page())
        fanout.run(store, queues, _first_page())
        fanout.run(store, queues, FanoutPage("r2"))

    # THEN the operator reads each: the missing entry as a warning, the page's counts, the drop and the skip
    assert lines == [
        ("WARNING", "product not in the catalog: on-call copies go as the tier's days say", "r1", PRODUCT, *[None] * 4),
        ("INFO", "fan-out page", "r1", None, 0, 1, 1, None),
        ("INFO", "fan-out page not planned again", "r1", None, None, None, None, "done"),
        ("INFO", "fan-out skipped: release not published", "r2", *[None] * 5),
    ]


def test_on_call_copies_go_as_the_catalog_says_the_release_s_product_offers_after_hours_paging() -> None:
    # GIVEN a premium account always out of hours (P1: paged every day), and its product's catalog entry
    acct = account("prem1", "premium", business_hours=(0, 0), oncall_email="oncall@prem1.example")

    def roles(features: tuple[str, ...] | None, severity: int = 1) -> list[str]:
        store, queues = store_with(acct, subscribers=1, severity=severity), Queues()
        if features is None:
            store.products.clear()
        else:
            store.put_product(Product(PRODUCT, "M3 Suite", features))
        fanout.run(store, queues, _first_page())
        return [r.role for r in _recipients(queues, NAMES.critical_queue if severity == 1 else NAMES.deliver_queue)]

    # THEN a product offering P1 pages, one offering neither after-hours feature does not, one missing from
    # the catalog pages as the tier says; below severity 1 nobody is paged
    assert roles(("P1",)) == ["oncall", "subscriber"]
    assert roles(("X1", "X2")) == ["subscriber"]
    assert roles(None) == ["oncall", "subscriber"]
    assert roles(("P1",), severity=2) == ["subscriber"]
