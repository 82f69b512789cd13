"""Announcements at the app level: the routes through chalice.test.Client, the fan-out and delivery handlers
fed by the runner, DynamoDB, SQS and SES on the session's moto server. An announcement reaches the Elite
account's matching contacts and its CSM with a calendar invitation, and nobody of another tier; moving and
cancelling it reach the same people, threaded, same UID, higher SEQUENCE; the release's notice threads
under it; and taking the advance notice away from Elite in the matrix stops it all."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import icalendar
import pytest
from chalice.test import Client

from chalicelib.domain.core import entitlements
from chalicelib.domain.core.models import Account, Product, Release, Subscription, now_iso
from chalicelib.domain.mail.notices import ses_message_id_header
from chalicelib.domain.releases import publishing
from tests.app import delivery_world
from tests.app.delivery_world import FaultyMailer, drain
from tests.conftest import auth, sent_messages
from tests.helpers import parse

mailer = delivery_world.mailer  # the shared fixture: the app's mailer, faulty, delivery's waits shortened
PLANNED = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()


@dataclasses.dataclass
class World:
    product: str
    accounts: dict[str, Account]
    wanted: list[str]  # the addresses an announcement of a service pack should reach
    others: list[str]  # subscribers it must not reach (other tiers, other preferences)


def _world(table: Any) -> World:
    tag = uuid.uuid4().hex[:8]
    product = f"P{tag}"
    table.put_product(Product(product, "Product"))
    accounts = {
        tier: Account(
            f"{tier}-{tag}",
            tier,
            tier,
            (product,),
            date(2026, 1, 1),
            date(2030, 12, 31),
            csm_email=f"csm.{tier}-{tag}@vendor.example",
        )
        for tier in ("elite", "premium", "xtreme")
    }

    def sub(tier: str, n: int, kinds: tuple[str, ...] = ("service-pack",), max_severity: int = 4) -> Subscription:
        return Subscription(
            accounts[tier].account_id,
            f"s{n}",
            f"u{n}@{tier}-{tag}.example",
            (product,),
            kinds,
            max_severity,
            ("ga",),
            "active",
            now_iso(),
        )

    subs = [
        sub("elite", 0),
        sub("elite", 1, ("patch",)),
        sub("elite", 2, max_severity=2),
        sub("premium", 0),
        sub("xtreme", 0),
    ]
    table.bulk_load(list(accounts.values()), subs)
    return World(
        product,
        accounts,
        [subs[0].email, str(accounts["elite"].csm_email)],
        [s.email for s in subs[1:]] + [str(accounts["premium"].csm_email)],
    )


def _body(world: World, **changes: Any) -> dict[str, Any]:
    return {
        "product": world.product,
        "kind": "service-pack",
        "version": "14.0",
        "planned_for": PLANNED,
        "title": "Service pack 14",
        "summary": "Ledger speed-ups.",
        "known_issues": "Reindex takes an hour.",
        **changes,
    }


def _planned(wired: Any, announcement_id: str) -> bool:
    """Whether the fan-out of the announcement's latest notice finished its last page (its batches queued)."""
    got = wired.table._db.query(
        TableName=wired.table.name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues={":pk": {"S": f"RELEASE#{announcement_id}"}, ":sk": {"S": "PAGE#"}},
    )
    return sum("done_at" in i for i in got["Items"]) >= wired.table.get_announcement(announcement_id).sequence + 1


def _sent_since(
    wired: Any, runner: Any, world: World, before: int, expected: int, about: str | None = None
) -> list[EmailMessage]:
    """What SES accepted for ``world`` since ``before`` once ``expected`` emails went out (and, with ``about``,
    once that announcement's notice is planned to its last page and delivered: nothing more is on its way).
    Only the world's own addresses count: the queues are the session's, and the runner delivers what other
    tests left in them too."""

    def ours() -> list[dict[str, object]]:
        tag = f"-{world.product.removeprefix('P')}"
        return [m for m in sent_messages(wired.settings.names.stage)[before:] if any(tag in to for to in m["to"])]  # type: ignore[attr-defined]

    def done() -> bool:
        return len(ours()) >= expected and (about is None or _planned(wired, about))

    drain(runner, timeout=60, done=done)
    for _ in range(3):  # batches queued by the last page, and a CSM copy waiting for them
        runner.pump()
    return [parse(m["raw"]) for m in ours()]


def _calendar(msg: EmailMessage) -> tuple[str, icalendar.Calendar]:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    return str(part.get_param("method")), icalendar.Calendar.from_ical(part.get_content())


def _event(msg: EmailMessage) -> Any:
    return _calendar(msg)[1].walk("VEVENT")[0]


def _announce(client: Client, world: World, **changes: Any) -> dict[str, Any]:
    resp = client.http.post(
        "/announcements", headers=auth("release-engineer"), body=json.dumps(_body(world, **changes))
    )
    assert resp.status_code == 201, resp.body
    return dict(json.loads(resp.body))


def test_an_announcement_reaches_the_elite_contacts_who_want_it_and_the_csm_and_no_other_tier(
    app_client: Client, wired: Any, runner: Any, mailer: FaultyMailer
) -> None:
    # GIVEN an elite, a premium and an xtreme account of a product, each with subscribers
    world = _world(wired.table)
    before = len(sent_messages(wired.settings.names.stage))

    # WHEN a release engineer announces a service pack of it
    created = _announce(app_client, world)
    sent = _sent_since(wired, runner, world, before, len(world.wanted), about=created["id"])

    # THEN the elite subscriber who wants service packs and the elite CSM get it, nobody else
    assert sorted(str(m["To"]) for m in sent) == sorted(world.wanted)
    for msg in sent:
        method, cal = _calendar(msg)
        event = cal.walk("VEVENT")[0]
        assert method == "REQUEST" and str(cal["METHOD"]) == "REQUEST"
        assert str(event["UID"]).startswith(created["id"]) and int(event["SEQUENCE"]) == 0 and "DTSTAMP" in event
        assert event.decoded("DTSTART") == date.fromisoformat(PLANNED)
        assert str(event["ORGANIZER"]) == f"mailto:{world.accounts['elite'].csm_email}"
        assert "[Planned]" in str(msg["Subject"])
    # AND only the elite tier's part of the audience was read: one page, no premium or xtreme page
    pages = wired.table._db.query(
        TableName=wired.table.name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues={":pk": {"S": f"RELEASE#{created['id']}"}, ":sk": {"S": "PAGE#"}},
    )["Items"]
    assert [p["SK"]["S"] for p in pages] == ["PAGE#announce#0"]
    subscriber = next(m for m in sent if str(m["To"]) == world.wanted[0])
    assert f"mailto:{world.accounts['elite'].csm_email}?subject=" in subscriber.get_body(("plain",)).get_content()
    assert subscriber["List-Unsubscribe"]


def test_moving_and_cancelling_reach_the_same_people_threaded_with_the_same_uid_and_a_higher_sequence(
    app_client: Client, wired: Any, runner: Any, mailer: FaultyMailer
) -> None:
    # GIVEN an announcement that reached its elite recipients
    world = _world(wired.table)
    before = len(sent_messages(wired.settings.names.stage))
    created = _announce(app_client, world)
    first = {str(m["To"]): m for m in _sent_since(wired, runner, world, before, len(world.wanted), about=created["id"])}
    records = {
        r.email: r.message_id
        for r in wired.table.account_deliveries(created["id"], "announce", world.accounts["elite"].account_id)
    }

    # AND since then the elite subscriber stopped asking for service packs (the calendar entry is still theirs)
    wired.table._db.update_item(
        TableName=wired.table.name,
        UpdateExpression="SET kinds = :k",
        ExpressionAttributeValues={":k": {"L": [{"S": "patch"}]}},
        Key={"PK": {"S": f"ACCOUNT#{world.accounts['elite'].account_id}"}, "SK": {"S": "SUB#s0"}},
    )

    # WHEN it moves to a later date
    later = (date.fromisoformat(PLANNED) + timedelta(days=7)).isoformat()
    before = len(sent_messages(wired.settings.names.stage))
    resp = app_client.http.patch(
        f"/announcements/{created['id']}", headers=auth("release-engineer"), body=json.dumps({"planned_for": later})
    )
    assert resp.status_code == 200 and json.loads(resp.body)["sequence"] == 1
    moved = _sent_since(wired, runner, world, before, len(world.wanted), about=created["id"])

    # THEN each of them gets one update: same UID, SEQUENCE 1, the new date, threaded under what they got
    assert sorted(str(m["To"]) for m in moved) == sorted(world.wanted)
    for msg in moved:
        event, original = _event(msg), _event(first[str(msg["To"])])
        assert _calendar(msg)[0] == "REQUEST" and event["UID"] == original["UID"] and int(event["SEQUENCE"]) == 1
        assert event.decoded("DTSTART") == date.fromisoformat(later)
        parent = ses_message_id_header(records[str(msg["To"])], "us-east-1")
        assert msg["In-Reply-To"] == parent and msg["References"] == parent

    # WHEN it is cancelled (twice: the second changes nothing)
    before = len(sent_messages(wired.settings.names.stage))
    for _ in range(2):
        resp = app_client.http.delete(f"/announcements/{created['id']}", headers=auth("release-engineer"))
        assert resp.status_code == 200 and json.loads(resp.body)["status"] == "cancelled"
    cancelled = _sent_since(wired, runner, world, before, len(world.wanted), about=created["id"])

    # THEN each gets one cancellation: METHOD:CANCEL, STATUS:CANCELLED, SEQUENCE 2, threaded
    assert sorted(str(m["To"]) for m in cancelled) == sorted(world.wanted)
    for msg in cancelled:
        method, cal = _calendar(msg)
        event = cal.walk("VEVENT")[0]
        assert method == "CANCEL" and str(cal["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
        assert int(event["SEQUENCE"]) == 2 and event["UID"] == _event(first[str(msg["To"])])["UID"]
        assert msg["In-Reply-To"] == ses_message_id_header(records[str(msg["To"])], "us-east-1")
    # AND a cancelled announcement no longer moves
    resp = app_client.http.patch(
        f"/announcements/{created['id']}", headers=auth("release-engineer"), body=json.dumps({"title": "Again"})
    )
    assert resp.status_code == 409


def test_the_published_release_threads_under_the_announcement_and_marks_it_released(
    app_client: Client, wired: Any, runner: Any, mailer: FaultyMailer
) -> None:
    # GIVEN an announcement that reached its elite recipients
    world = _world(wired.table)
    before = len(sent_messages(wired.settings.names.stage))
    created = _announce(app_client, world)
    _sent_since(wired, runner, world, before, len(world.wanted))
    elite = world.accounts["elite"].account_id
    parent = next(
        r.message_id
        for r in wired.table.account_deliveries(created["id"], "announce", elite)
        if r.email == world.wanted[0]
    )

    # WHEN the release of that product and version is published
    release = Release(
        f"rel-{uuid.uuid4().hex[:8]}",
        world.product,
        "14.0",
        "service-pack",
        3,
        "ga",
        "SP 14",
        "Speed-ups",
        "available",
        now_iso(),
        "test",
        article_url="https://kb.example/sp14",
    )
    wired.table.create_release(release)
    before = len(sent_messages(wired.settings.names.stage))
    publishing.publish(wired.table, wired.queues, release.release_id)
    sent = _sent_since(wired, runner, world, before, 4)  # premium and xtreme subscribers, the elite one and its CSM

    # THEN the elite subscriber's notice and the CSM's copy reply to the announcement each got; others' to nothing
    notice = next(m for m in sent if str(m["To"]) == world.wanted[0])
    assert notice["In-Reply-To"] == ses_message_id_header(parent, "us-east-1") == notice["References"]
    csm = next(m for m in sent if str(m["To"]) == world.wanted[1])
    csm_parent = next(
        r.message_id for r in wired.table.account_deliveries(created["id"], "announce", elite) if r.role == "csm"
    )
    assert str(csm["Subject"]).startswith("[CSM]") and csm["In-Reply-To"] == ses_message_id_header(
        csm_parent, "us-east-1"
    )
    assert all(m["In-Reply-To"] is None for m in sent if str(m["To"]) not in world.wanted)
    # AND the announcement is listed as released, naming the release
    listed = json.loads(app_client.http.get("/announcements", headers=auth("release-engineer")).body)["items"]
    mine = next(a for a in listed if a["id"] == created["id"])
    assert mine["status"] == "released" and mine["release_id"] == release.release_id


def test_taking_the_advance_notice_away_from_elite_stops_the_announcement(
    app_client: Client, wired: Any, runner: Any, mailer: FaultyMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the matrix without the advance update notice for Elite
    elite = entitlements.TIERS["elite"]
    monkeypatch.setitem(entitlements.TIERS, "elite", dataclasses.replace(elite, advance_update_notice=False))
    world = _world(wired.table)
    before = len(sent_messages(wired.settings.names.stage))

    # WHEN a service pack is announced
    created = _announce(app_client, world)
    _sent_since(wired, runner, world, before, 0, about=created["id"])

    # THEN nobody is sent anything, and no elite customer may list it
    assert [
        m
        for m in sent_messages(wired.settings.names.stage)[before:]
        if world.product in str(parse(m["raw"])["Subject"])
    ] == []
    assert list(wired.table.delivery_outcomes(created["id"], "announce")) == []
    customer = auth("customer", world.accounts["elite"].account_id, world.wanted[0])
    assert app_client.http.get("/announcements", headers=customer).status_code == 403


def test_giving_the_advance_notice_to_premium_in_the_matrix_reaches_premium_too(
    app_client: Client, wired: Any, runner: Any, mailer: FaultyMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    premium = entitlements.TIERS["premium"]
    monkeypatch.setitem(entitlements.TIERS, "premium", dataclasses.replace(premium, advance_update_notice=True))
    world = _world(wired.table)
    before = len(sent_messages(wired.settings.names.stage))
    created = _announce(app_client, world)
    sent = _sent_since(wired, runner, world, before, len(world.wanted) + 1, about=created["id"])
    premium_subscriber = f"u0@{world.accounts['premium'].account_id}.example"
    assert sorted(str(m["To"]) for m in sent) == sorted([*world.wanted, premium_subscriber])  # no CSM copy: E-only


def test_the_same_announcement_posted_again_is_the_same_one_and_is_sent_once(
    app_client: Client, wired: Any, runner: Any, mailer: FaultyMailer
) -> None:
    world = _world(wired.table)
    before = len(sent_messages(wired.settings.names.stage))
    first, again = _announce(app_client, world), _announce(app_client, world)
    assert again["id"] == first["id"]
    sent = _sent_since(wired, runner, world, before, len(world.wanted), about=first["id"])
    assert sorted(str(m["To"]) for m in sent) == sorted(world.wanted)
    other = app_client.http.post(
        "/announcements", headers=auth("release-engineer"), body=json.dumps(_body(world, title="Another"))
    )
    assert other.status_code == 409


def test_an_account_no_longer_elite_hears_nothing_even_while_its_audience_is_still_ranked_elite(
    app_client: Client, wired: Any, runner: Any, mailer: FaultyMailer
) -> None:
    # GIVEN an elite account downgraded to premium, its audience entries not re-ranked yet
    world = _world(wired.table)
    wired.table.put_account(dataclasses.replace(world.accounts["elite"], tier="premium"))
    before = len(sent_messages(wired.settings.names.stage))
    # WHEN a service pack is announced
    created = _announce(app_client, world)
    _sent_since(wired, runner, world, before, 0, about=created["id"])
    # THEN nobody of it is sent anything
    assert not set(mailer.accepted) & {*world.wanted, *world.others}


def test_customers_list_what_their_tier_and_contract_let_them_see(app_client: Client, wired: Any) -> None:
    world, other = _world(wired.table), _world(wired.table)
    created = _announce(app_client, world)
    elite = auth("customer", world.accounts["elite"].account_id, world.wanted[0])
    items = json.loads(app_client.http.get("/announcements", headers=elite).body)["items"]
    assert [a["id"] for a in items] == [created["id"]]
    stranger = auth("customer", other.accounts["elite"].account_id, other.wanted[0])
    assert json.loads(app_client.http.get("/announcements", headers=stranger).body)["items"] == []
    for tier in ("premium", "xtreme"):
        resp = app_client.http.get("/announcements", headers=auth("customer", world.accounts[tier].account_id))
        assert resp.status_code == 403 and json.loads(resp.body)["error"] == "not_entitled"
    assert app_client.http.post("/announcements", headers=elite, body=json.dumps(_body(world))).status_code == 403


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (date(2020, 1, 1), date.today() - timedelta(days=1), "support_period_ended"),
        (date.today() + timedelta(days=1), date(2040, 1, 1), "support_period_not_started"),
    ],
)
def test_an_elite_account_outside_its_support_period_lists_no_announcements(
    app_client: Client, wired: Any, start: date, end: date, code: str
) -> None:
    # GIVEN an announcement of an Elite account's product, and that account's support period not running
    world = _world(wired.table)
    _announce(app_client, world)
    lapsed = dataclasses.replace(world.accounts["elite"], support_start=start, support_end=end)
    wired.table.put_account(lapsed)
    # WHEN one of its contacts lists the announcements
    resp = app_client.http.get("/announcements", headers=auth("customer", lapsed.account_id, world.wanted[0]))
    # THEN 403 naming the support period, as a download or a notice would be refused: the tier alone is not enough
    body = json.loads(resp.body)
    assert resp.status_code == 403 and body["error"] == code and lapsed.account_id in body["message"], resp.body
    # AND a token naming an account without a contract is refused too
    stranger = app_client.http.get("/announcements", headers=auth("customer", f"none-{lapsed.account_id}"))
    assert stranger.status_code == 403 and json.loads(stranger.body)["error"] == "not_entitled"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"product": "NOPE"}, "product"),
        ({"planned_for": (datetime.now(UTC).date() - timedelta(days=1)).isoformat()}, "planned_for"),
        ({"kind": "hotfix"}, "kind"),
        ({"kind": "critical-solution"}, "kind"),
        ({"title": "Service\x07pack"}, "title"),
        ({"summary": "Speed\u202eups"}, "summary"),
        ({"known_issues": "none\x00"}, "known_issues"),
        ({"severity": 2}, "severity"),
    ],
)
def test_a_bad_announcement_is_a_400_naming_the_field_and_writes_and_sends_nothing(
    app_client: Client, wired: Any, runner: Any, mailer: FaultyMailer, changes: dict[str, Any], field: str
) -> None:
    world = _world(wired.table)
    resp = app_client.http.post(
        "/announcements", headers=auth("release-engineer"), body=json.dumps(_body(world, **changes))
    )
    assert resp.status_code == 400, resp.body
    body = json.loads(resp.body)
    assert field in body["message"] and body["error"]
    runner.pump()
    assert wired.table.product_announcements([world.product]) == []
    assert wired.table.announcement_of(world.product, "14.0") is None
    assert not set(mailer.accepted) & {*world.wanted, *world.others}


def test_release_engineers_page_through_every_announcement_with_a_cursor(app_client: Client, wired: Any) -> None:
    world = _world(wired.table)
    for n in range(3):
        _announce(app_client, world, version=f"14.{n}")
    engineer = auth("release-engineer")
    first = json.loads(app_client.http.get("/announcements?limit=2", headers=engineer).body)
    assert len(first["items"]) == 2 and first["next"]
    rest = json.loads(app_client.http.get(f"/announcements?limit=2&cursor={first['next']}", headers=engineer).body)
    assert not {a["id"] for a in first["items"]} & {a["id"] for a in rest["items"]}
    for query in ("limit=0", "limit=x", "cursor=bm9wZQ", "other=1"):
        resp = app_client.http.get(f"/announcements?{query}", headers=engineer)
        assert resp.status_code == 400, (query, resp.body)


@pytest.mark.parametrize(
    "change",
    [
        {"planned_for": (datetime.now(UTC).date() - timedelta(days=1)).isoformat()},
        {"planned_for": "next week"},
        {"title": "Moved\x1b[31m"},
        {"kind": "update"},
        {},
    ],
)
def test_a_bad_move_is_a_400_and_changes_and_sends_nothing(
    app_client: Client, wired: Any, runner: Any, mailer: FaultyMailer, change: dict[str, Any]
) -> None:
    world = _world(wired.table)
    created = _announce(app_client, world)
    resp = app_client.http.patch(
        f"/announcements/{created['id']}", headers=auth("release-engineer"), body=json.dumps(change)
    )
    assert resp.status_code == 400, resp.body
    assert wired.table.get_announcement(created["id"], consistent=True).sequence == 0
    assert wired.table.get_announcement(created["id"], consistent=True).title == created["title"]


def test_an_unknown_announcement_is_404_and_a_released_one_cannot_be_cancelled(app_client: Client, wired: Any) -> None:
    engineer = auth("release-engineer")
    assert app_client.http.delete("/announcements/an-none", headers=engineer).status_code == 404
    resp = app_client.http.patch("/announcements/an-none", headers=engineer, body=json.dumps({"title": "T"}))
    assert resp.status_code == 404
    world = _world(wired.table)
    created = _announce(app_client, world)
    wired.table.set_announcement(created["id"], status="released", release_id="rel-x")
    assert app_client.http.delete(f"/announcements/{created['id']}", headers=engineer).status_code == 409
    customer = auth("customer", world.accounts["elite"].account_id, world.wanted[0])
    assert app_client.http.delete(f"/announcements/{created['id']}", headers=customer).status_code == 403


def test_moved_twice_before_the_first_update_went_out_each_gets_one_update_with_the_latest(
    app_client: Client, wired: Any, runner: Any, mailer: FaultyMailer
) -> None:
    world = _world(wired.table)
    before = len(sent_messages(wired.settings.names.stage))
    created = _announce(app_client, world)
    _sent_since(wired, runner, world, before, len(world.wanted), about=created["id"])
    # WHEN it moves twice before the fan-out of the first move ran
    last = (date.fromisoformat(PLANNED) + timedelta(days=14)).isoformat()
    for planned in ((date.fromisoformat(PLANNED) + timedelta(days=7)).isoformat(), last):
        resp = app_client.http.patch(
            f"/announcements/{created['id']}",
            headers=auth("release-engineer"),
            body=json.dumps({"planned_for": planned}),
        )
        assert resp.status_code == 200
    before = len(sent_messages(wired.settings.names.stage))
    # THEN each recipient gets one update, the latest: SEQUENCE 2 on the last date
    moved = [m for m in _sent_since(wired, runner, world, before, len(world.wanted)) if str(m["To"]) in world.wanted]
    assert sorted(str(m["To"]) for m in moved) == sorted(world.wanted)
    assert {(int(_event(m)["SEQUENCE"]), _event(m).decoded("DTSTART").isoformat()) for m in moved} == {(2, last)}
