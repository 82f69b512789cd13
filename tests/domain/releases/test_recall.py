"""Recall on the in-memory store: a yank queues the recall once, its pages go to whom the notice reached
(once per address and account), threaded under the notice each recalls."""

from __future__ import annotations

import dataclasses
import email
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest

from chalicelib.domain.access.tokens import Purpose, verify
from chalicelib.domain.core.errors import BadRequest, Conflict, Forbidden, NotFound
from chalicelib.domain.core.messages import DeliveryBatch, FanoutPage
from chalicelib.domain.core.models import DeliveryOutcome, Product, Recipient, Release
from chalicelib.domain.core.records import DeliveryRecord
from chalicelib.domain.core.states import DeliveryStatus, Notice, ReleaseStatus, Role
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.releases import recall
from tests.domain.logs import log_lines
from tests.domain.world import (
    ENGINEER,
    LINKS,
    NAMES,
    PRODUCT,
    Mailer,
    Queues,
    account,
    deps,
    release,
    store_with,
)
from tests.memory_store import MemoryStore


def _notified(store: object, *people: tuple[str, str, DeliveryStatus]) -> None:
    outcomes = [
        DeliveryOutcome(Recipient("prem1", sub, email, "premium"), status, message_id=f"ses-{sub}")
        for sub, email, status in people
    ]
    store.record_deliveries("r1", "release", outcomes)  # type: ignore[attr-defined]


def test_a_yank_queues_the_recall_once_and_plans_it_for_whom_the_notice_reached() -> None:
    store, queues = store_with(account("prem1", "premium"), subscribers=3, fanout_at="2026-01-01T00:00:00Z"), Queues()
    _notified(
        store,
        ("s0", "u0@prem1.example", DeliveryStatus.SENT),
        ("s1", "u1@prem1.example", DeliveryStatus.FAILED),
        ("s2", "u0@PREM1.example", DeliveryStatus.SENT),
    )
    yanked = recall.yank(store, queues, ENGINEER, "r1", {"reason": "breaks totals"})
    recall.yank(store, queues, ENGINEER, "r1", {"reason": "breaks totals"})
    (page,) = queues.on(NAMES.fanout_queue)
    assert yanked.status == ReleaseStatus.YANKED and page["kind"] == "recall"

    assert recall.run_page(store, queues, FanoutPage.from_json(page)) == 1
    (batch,) = queues.on(NAMES.deliver_queue)
    assert batch["notice"] == "recall" and [r["email"] for r in batch["recipients"]] == ["u0@prem1.example"]


def test_a_recall_replies_to_the_notice_it_recalls() -> None:
    store, queues, mailer = store_with(account("prem1", "premium"), subscribers=1), Queues(), Mailer()
    _notified(store, ("s0", "u0@prem1.example", DeliveryStatus.SENT))
    store.transition_release("r1", from_status=[ReleaseStatus.PUBLISHED], to_status=ReleaseStatus.YANKED, reason="x")
    message = DeliveryBatch(
        "r1", "0-0", (Recipient("prem1", "s0", "u0@prem1.example", "premium"),), notice=Notice.RECALL
    )
    delivery.run(deps(store, mailer, queues), message)
    ((to, raw),) = mailer.accepted
    assert to == "u0@prem1.example" and b"In-Reply-To: <ses-s0@" in raw


def _yank(store: MemoryStore, body: dict[str, Any] | None = None, queues: Queues | None = None) -> Release:
    return recall.yank(store, queues or Queues(), ENGINEER, "r1", {"reason": "breaks totals", **(body or {})})


def test_a_yank_records_why_when_and_what_supersedes_it_and_queues_the_recall_s_first_page() -> None:
    store, queues = store_with(account("prem1", "premium"), fanout_at="2026-01-01T00:00:00Z"), Queues()
    store.create_release(release("r2", version="1.1"))
    yanked = _yank(store, {"superseded_by": "r2"}, queues)
    assert dataclasses.replace(store.releases["r1"], recall_at=None) == yanked  # recall_at: the page is queued
    assert (yanked.status, yanked.reason, yanked.superseded_by, yanked.superseded_version) == (
        ReleaseStatus.YANKED, "breaks totals", "r2", "1.1"
    )  # fmt: skip
    assert yanked.yanked_at and store.releases["r1"].recall_at
    assert queues.sent == [(NAMES.fanout_queue, FanoutPage("r1", "recall").to_json(), 0)]


def test_yanking_again_queues_a_recall_that_the_first_yank_did_not_get_to_queue() -> None:
    # GIVEN a release yanked by an invocation that died before queueing its recall
    store = store_with(fanout_at="2026-01-01T00:00:00Z", status=ReleaseStatus.YANKED, reason="breaks totals")
    queues = Queues()

    # WHEN it is yanked again, twice, saying the same
    again = [_yank(store, queues=queues).status for _ in range(2)]

    # THEN the recall's first page is queued, once
    assert again == [ReleaseStatus.YANKED] * 2 and [body["kind"] for _, body, _ in queues.sent] == ["recall"]


def test_a_release_whose_notice_never_went_out_is_yanked_without_a_recall() -> None:
    store, queues = store_with(account("prem1", "premium"), status=ReleaseStatus.AVAILABLE), Queues()
    assert _yank(store, queues=queues).status == ReleaseStatus.YANKED and queues.sent == []


def test_a_release_is_yankable_until_it_is_yanked_unless_its_upload_was_rejected() -> None:
    for status in (ReleaseStatus.AWAITING_UPLOAD, ReleaseStatus.AVAILABLE, ReleaseStatus.SCHEDULED):
        assert _yank(store_with(status=status)).status == ReleaseStatus.YANKED
    with pytest.raises(Conflict) as refused:
        _yank(store_with(status=ReleaseStatus.REJECTED))
    assert refused.value.code == "not_yankable" and "rejected" in refused.value.message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"reason": None}, "missing_field"),
        ({"reason": "x" * 501}, "invalid_field"),
        ({"note": "x"}, "unknown_field"),
        ({"superseded_by": "r9"}, "invalid_field"),
        ({"superseded_by": "r1"}, "invalid_field"),
        ({"superseded_by": "not an id"}, "invalid_field"),
    ],
)
def test_a_yank_refuses_a_body_it_cannot_record(body: dict[str, Any], code: str) -> None:
    store = store_with()
    with pytest.raises(BadRequest) as refused:
        _yank(store, body)
    assert refused.value.code == code and next(iter(body)) in refused.value.message  # it names the field
    assert store.get_release("r1").status == ReleaseStatus.PUBLISHED  # type: ignore[union-attr]


def test_a_yank_takes_a_reason_of_500_characters_from_a_release_engineer_for_a_release_that_exists() -> None:
    store = store_with()
    customer = dataclasses.replace(ENGINEER, groups=frozenset())
    with pytest.raises(Forbidden):
        recall.yank(store, Queues(), customer, "r1", {"reason": "x"})
    with pytest.raises(NotFound) as unknown:
        recall.yank(store, Queues(), ENGINEER, "r9", {"reason": "x"})
    assert "r9" in unknown.value.message
    assert _yank(store, {"reason": "x" * 500}).reason == "x" * 500


@pytest.mark.parametrize(
    ("successor", "rule"),
    [
        ({"product": "M4"}, "is a release of M4, not of"),
        ({"status": ReleaseStatus.SCHEDULED}, "is scheduled, not published: publish it first"),
        ({"status": ReleaseStatus.AVAILABLE}, "is available, not published"),
        ({"status": ReleaseStatus.YANKED}, "is yanked, not published"),
        ({"channel": "beta"}, "beta release, which the GA release's Premium and Xtreme recipients may not see"),
        ({"version": "1.0", "kind": "update"}, "has version 1.0, not newer than 1.0"),
        ({"version": "0.9.9"}, "has version 0.9.9, not newer than 1.0"),
    ],
)
def test_a_successor_is_the_same_product_published_on_a_channel_every_recipient_sees_and_newer(
    successor: dict[str, Any], rule: str
) -> None:
    # GIVEN a published GA release 1.0 and a would-be successor that breaks one rule
    store = store_with(fanout_at="2026-01-01T00:00:00Z")
    store.create_release(release("r2", **{"version": "1.1", **successor}))
    # WHEN it is named as the successor
    with pytest.raises(BadRequest) as refused:
        _yank(store, {"superseded_by": "r2"})
    # THEN a 400 names the field and the rule, and nothing changed
    assert refused.value.code == "invalid_successor"
    assert "superseded_by" in refused.value.message and rule in refused.value.message
    assert store.get_release("r1").status == ReleaseStatus.PUBLISHED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ({"channel": "beta"}, {"channel": "beta", "version": "1.1"}),  # a beta's recipients are Elite: they see beta
        ({"channel": "beta"}, {"channel": "ga", "version": "1.1"}),
        ({"version": "2.9"}, {"version": "2.10"}),  # natural order, not text order
        ({"version": "13.4-SP2"}, {"version": "13.4-SP10"}),
        ({"version": "2.1"}, {"version": "2.1.1", "kind": "service-pack"}),
    ],
)
def test_a_successor_that_keeps_the_rules_is_recorded_with_its_own_kind_and_version(
    ours: dict[str, Any], theirs: dict[str, Any]
) -> None:
    store = store_with(fanout_at="2026-01-01T00:00:00Z", **ours)
    store.create_release(release("r2", **theirs))
    yanked = _yank(store, {"superseded_by": "r2"})
    assert (yanked.superseded_by, yanked.superseded_version) == (
        "r2",
        theirs["version"],
    )
    assert yanked.superseded_kind == theirs.get("kind", "patch")
    assert (
        yanked.successor_name() == f"{PRODUCT} {theirs.get('kind', 'patch')} {yanked.superseded_version} (release r2)"
    )


def test_a_repeated_yank_with_another_reason_is_a_conflict_naming_the_reason_kept_and_still_queues_the_recall() -> None:
    # GIVEN a yanked release whose recall was not queued yet
    store, queues = (
        store_with(fanout_at="2026-01-01T00:00:00Z", status=ReleaseStatus.YANKED, reason="breaks totals"),
        Queues(),
    )
    # WHEN it is yanked again with another reason
    with pytest.raises(Conflict) as refused:
        recall.yank(store, queues, ENGINEER, "r1", {"reason": "wrong checksum"})
    # THEN a 409 names the reason kept; the reason is unchanged; the recall is queued once all the same
    assert refused.value.code == "already_yanked" and "breaks totals" in refused.value.message
    assert store.releases["r1"].reason == "breaks totals"
    assert [body["kind"] for _, body, _ in queues.sent] == ["recall"]


class _YankedMeanwhile(MemoryStore):
    """A store where another engineer's yank lands between this one's read and its transition."""

    def transition_release(self, release_id: str, **kw: Any) -> Release | None:
        if kw.get("to_status") == ReleaseStatus.YANKED and self.releases[release_id].status != ReleaseStatus.YANKED:
            super().transition_release(
                release_id,
                from_status=[ReleaseStatus.PUBLISHED],
                to_status=ReleaseStatus.YANKED,
                reason="breaks totals",
            )
            return None
        return super().transition_release(release_id, **kw)


def test_a_yank_that_loses_the_race_to_another_yank_still_queues_the_recall_once() -> None:
    store, queues = _YankedMeanwhile(), Queues()
    store.put_product(Product(PRODUCT, "M3 Suite"))
    store.create_release(release(fanout_at="2026-01-01T00:00:00Z"))
    assert _yank(store, queues=queues).status == ReleaseStatus.YANKED
    assert _yank(store, queues=queues).status == ReleaseStatus.YANKED
    assert [body["kind"] for _, body, _ in queues.sent] == ["recall"]


def _sent_to(store: MemoryStore, people: list[Recipient]) -> None:
    store.record_deliveries("r1", "release", [DeliveryOutcome(r, DeliveryStatus.SENT, f"ses-{r.key}") for r in people])


def test_a_recall_is_planned_in_pages_of_500_records_and_batches_of_49_on_the_queue_of_its_severity() -> None:
    # GIVEN a severity-1 release whose notice reached 501 subscribers, yanked
    store, queues = store_with(account("prem1", "premium"), severity=1, status=ReleaseStatus.YANKED), Queues()
    _sent_to(store, [Recipient("prem1", f"s{n:03}", f"u{n}@prem1.example", "premium") for n in range(501)])

    # WHEN its first page is planned, then the page it queued, then both again
    assert recall.run_page(store, queues, FanoutPage("r1", "recall")) == 500
    (successor,) = queues.on(NAMES.fanout_queue)
    assert recall.run_page(store, queues, FanoutPage.from_json(successor)) == 1
    again = [recall.run_page(store, queues, p) for p in (FanoutPage("r1", "recall"), FanoutPage.from_json(successor))]

    # THEN ten full batches and one of 11 on page 0, one batch on page 1, all recalls, on the critical queue
    batches = queues.on(NAMES.critical_queue)
    assert [(b["batch_id"], len(b["recipients"])) for b in batches] == [
        *((f"0-{n}", 49) for n in range(10)), ("0-10", 10), ("1-0", 1)
    ]  # fmt: skip
    assert {(b["release_id"], b["notice"]) for b in batches} == {("r1", "recall")}
    assert successor["page"] == 1 and successor["kind"] == "recall" and again == [0, 0]
    assert len(queues.sent) == 13


def test_a_recall_page_is_planned_only_for_a_yanked_release_and_waits_for_a_live_claim() -> None:
    store, queues = store_with(account("prem1", "premium")), Queues()
    _sent_to(store, [Recipient("prem1", "s0", "u0@prem1.example", "premium")])
    assert recall.run_page(store, queues, FanoutPage("r1", "recall")) == 0 and queues.sent == []
    assert recall.run_page(store, queues, FanoutPage("r9", "recall")) == 0 and queues.sent == []

    store.transition_release("r1", from_status=[ReleaseStatus.PUBLISHED], to_status=ReleaseStatus.YANKED)
    store.claim_page("r1", "recall", 0, lease_seconds=120)  # another invocation is planning it
    assert recall.run_page(store, queues, FanoutPage("r1", "recall")) == 0
    assert queues.sent == [(NAMES.fanout_queue, FanoutPage("r1", "recall").to_json(), 120)]


def test_a_recall_page_with_nobody_reached_carries_the_account_on_to_the_next() -> None:
    # GIVEN an account reached on page 0, records of nobody reached on page 1, the address again on page 2
    page0 = [DeliveryRecord(Recipient("a", "s1", "ops@a.example", "elite"), DeliveryStatus.SENT)]
    page1 = [DeliveryRecord(Recipient("a", "s2", "x@a.example", "elite"), DeliveryStatus.FAILED)]
    page2 = [DeliveryRecord(Recipient("a", "s3", "ops@A.EXAMPLE", "elite"), DeliveryStatus.SENT)]

    # WHEN the three pages are planned
    first, carry = recall.reached(page0, {}, more=True)
    second, carry1 = recall.reached(page1, carry, more=True)
    third, last = recall.reached(page2, carry1, more=False)

    # THEN one recall, the carry passing page 1 unchanged
    assert [r.subscription_id for r in first + second + third] == ["s1"] and carry1 == carry and last == {}


def test_an_account_spanning_two_recall_pages_is_recalled_once_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an account whose notice reached one address twice, the two records on two pages, then another account
    store, queues = store_with(account("prem1", "premium"), status=ReleaseStatus.YANKED), Queues()
    _sent_to(
        store,
        [
            Recipient("prem1", "s0", "ops@prem1.example", "premium"),
            Recipient("prem1", "s1", "dev@prem1.example", "premium"),
            Recipient("prem1", "s2", "ops@PREM1.example", "premium"),
            Recipient("prem2", "s0", "ops@prem1.example", "premium"),
        ],
    )
    monkeypatch.setattr(recall, "PAGE_SIZE", 2)

    # WHEN every page runs
    todo, planned = [FanoutPage("r1", "recall")], []
    while todo and len(planned) < 20:  # a page that never moves on fails the test instead of hanging it
        before = len(queues.sent)
        planned.append(recall.run_page(store, queues, todo.pop()))
        todo += [FanoutPage.from_json(b) for q, b, d in queues.sent[before:] if q == NAMES.fanout_queue and not d]

    # THEN the repeated address once in its account, and again in the other account
    people = [(r["account_id"], r["subscription_id"]) for b in queues.on(NAMES.deliver_queue) for r in b["recipients"]]
    assert people == [("prem1", "s0"), ("prem1", "s1"), ("prem2", "s0")] and planned == [2, 1]


def _compose(store: MemoryStore, *people: Recipient, region: str = "eu-west-1") -> Callable[[Recipient], bytes]:
    return recall.composer(
        store, LINKS, sender="alerts@patchcast.test", region=region, link_days=7, release=store.releases["r1"],
        recipients=list(people),
    )  # fmt: skip


def test_each_recall_replies_to_the_message_id_ses_gave_its_notice_in_its_region() -> None:
    store = store_with(account("prem1", "premium"), status=ReleaseStatus.YANKED)
    sub = Recipient("prem1", "s0", "u0@prem1.example", "premium")
    oncall = Recipient("prem1", Role.ONCALL, "oncall@prem1.example", "premium", Role.ONCALL)
    unnotified = Recipient("prem1", "s1", "u1@prem1.example", "premium")
    _sent_to(store, [sub, oncall])
    compose = _compose(store, sub, oncall, unnotified)

    subscriber, role, orphan = (_parse(compose(r)) for r in (sub, oncall, unnotified))
    assert subscriber["In-Reply-To"] == "<ses-prem1#s0#subscriber@eu-west-1.amazonses.com>"
    assert role["In-Reply-To"] == "<ses-prem1#oncall#oncall@eu-west-1.amazonses.com>" and orphan["In-Reply-To"] is None
    assert str(role["Subject"]).startswith("[RECALL] [On-call] ") and role["To"] == "oncall@prem1.example"
    assert role["List-Unsubscribe"] is None and subscriber["List-Unsubscribe"]
    assert {m["From"] for m in (subscriber, role, orphan)} == {"alerts@patchcast.test"}
    assert "prem1" in _text(compose(oncall))  # the role recall names the account it was paged for
    assert subscriber["To"] == "u0@prem1.example" and str(subscriber["Subject"]).startswith("[RECALL] ")


def test_a_subscriber_s_recall_offers_the_successor_only_where_the_contract_covers_it_for_link_days() -> None:
    # GIVEN a yanked release superseded by a beta one: elite accounts get beta, premium ones do not
    store = store_with(account("elite1", "elite"), account("prem1", "premium"))
    store.create_release(release("r2", version="1.1", channel="beta"))
    store.transition_release(
        "r1", from_status=[ReleaseStatus.PUBLISHED], to_status=ReleaseStatus.YANKED, superseded_by="r2",
        superseded_version="1.1",
    )  # fmt: skip
    elite, premium = (Recipient(a, "s0", f"u0@{a}.example", t) for a, t in (("elite1", "elite"), ("prem1", "premium")))

    # WHEN their recalls are composed
    before = int(time.time())
    compose = _compose(store, elite, premium)
    for_elite, for_premium = (_text(compose(r)) for r in (elite, premium))
    after = int(time.time())

    # THEN the elite subscriber's offers a download of r2 valid link_days (7 days), the premium one's none
    (token,) = re.findall(r"https://patchcast\.test/d/(\S+)", for_elite)
    claims = verify(LINKS.ring, token, Purpose.DOWNLOAD)
    assert (claims.account_id, claims.subject, claims.release_id) == ("elite1", "s0", "r2")
    assert (before + 7 * 86400) // 60 * 60 <= claims.expires <= after + 7 * 86400 and claims.expires % 60 == 0
    assert "Download 1.1 instead" in for_elite and "/d/" not in for_premium
    until = datetime.fromtimestamp(claims.expires, UTC).strftime("%Y-%m-%d %H:%M UTC")  # and says until when
    assert f"This link works until {until}" in for_elite and "works until" not in for_premium
    assert "https://patchcast.test/unsubscribe?token=" in for_premium


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


def _text(raw: bytes) -> str:
    return str(_parse(raw).get_body(("plain",)).get_content())  # type: ignore[union-attr]


def test_a_yank_and_each_recall_page_are_logged_with_the_release() -> None:
    store, queues = store_with(account("prem1", "premium"), fanout_at="2026-01-01T00:00:00Z"), Queues()
    _sent_to(store, [Recipient("prem1", "s0", "u0@prem1.example", "premium")])
    with log_lines("release_id", "page", "recipients") as lines:
        _yank(store, queues=queues)
        recall.run_page(store, queues, FanoutPage("r1", "recall"))
    assert lines == [("INFO", "release yanked", "r1", None, None), ("INFO", "recall page", "r1", 0, 1)]
