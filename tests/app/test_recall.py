"""Recalls and one notice per address, at the app level: the real handlers fed by the runner, DynamoDB, SQS
and SES on the session's moto server. A yanked release's recall reaches each subscriber, on-call contact
and CSM who got its notice once, as a recall of their kind, threaded under that notice; an address held
twice in an account gets one notice and one recall."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import boto3
from chalice.test import Client

from chalicelib.adapters.store import Table
from chalicelib.domain.core.entitlements import oncall_copy_due
from chalicelib.domain.core.models import Account, Release, Subscription, now_iso
from chalicelib.domain.fanout import plan as fanout_plan
from chalicelib.domain.mail.notices import ses_message_id_header
from chalicelib.domain.releases import recall
from chalicelib.names import ResourceNames
from tests.app import delivery_world
from tests.app.delivery_world import FaultyMailer, drain
from tests.app.flows import create_release, emails_to, subscribe_and_confirm, subscribed_world, upload
from tests.conftest import account_body, auth, sent_messages, unique
from tests.helpers import ENGINEER, link, parse, text_of

NAMES = ResourceNames("local")


mailer = delivery_world.mailer  # the shared fixture: the app's mailer, faulty, delivery's waits shortened


@dataclasses.dataclass
class Population:
    release: Release
    successor: Release
    accounts: list[Account]
    subscribers: list[Subscription]


def _load(table: Table, *, per_tier: int, emails: Callable[[Account, int], str] | None = None) -> Population:
    """Elite, premium and xtreme accounts whose business hours never include now, each with its own on-call
    and CSM address; a published severity-1 release and a published newer one to supersede it."""
    tag = uuid.uuid4().hex[:8]
    product = f"P{tag}"
    accounts = [
        Account(
            f"{tier}-{tag}",
            tier,
            tier,
            (product,),
            date(2026, 1, 1),
            date(2030, 12, 31),
            business_hours=(0, 0),
            csm_email=f"csm.{tier}-{tag}@vendor.example",
            oncall_email=f"oncall@{tier}-{tag}.example",
        )
        for tier in ("elite", "premium", "xtreme")
    ]
    subs = [
        Subscription(
            a.account_id,
            f"s{i}",
            emails(a, i) if emails else f"u{i}@{a.account_id}.example",
            (product,),
            ("patch",),
            4,
            ("ga", "beta"),
            "active",
            now_iso(),
        )
        for a in accounts
        for i in range(per_tier)
    ]
    table.bulk_load(accounts, subs)
    release = Release(
        f"rel-{tag}",
        product,
        "1.0",
        "patch",
        1,
        "ga",
        "Fix",
        "Fixes",
        "published",
        now_iso(),
        "test",
        filename="fix.zip",
        object_key=f"uploads/rel-{tag}/fix.zip",
    )
    successor = dataclasses.replace(
        release, release_id=f"next-{tag}", version="1.1", object_key=f"uploads/next-{tag}/fix.zip"
    )
    table.create_release(release)
    table.create_release(successor)
    return Population(release, successor, accounts, subs)


def _publish(wired: Any, runner: Any, world: Population, expected: int) -> None:
    wired.table.mark_queued(world.release.release_id, "fanout")  # what publish stamps: the recall needs it
    wired.queues.send(NAMES.fanout_queue, {"release_id": world.release.release_id})
    drain(
        runner,
        timeout=60,
        done=lambda: len(list(wired.table.delivery_outcomes(world.release.release_id, "release"))) >= expected,
    )


def _yank(wired: Any, runner: Any, world: Population, expected: int) -> list[EmailMessage]:
    """Yank the release (superseded by the newer one) and return every email sent meanwhile."""
    before = len(sent_messages(wired.settings.names.stage))
    recall.yank(
        wired.table,
        wired.queues,
        ENGINEER,
        world.release.release_id,
        {"reason": "corrupts ledgers", "superseded_by": world.successor.release_id},
    )
    drain(
        runner,
        timeout=60,
        done=lambda: len(list(wired.table.delivery_outcomes(world.release.release_id, "recall"))) >= expected,
    )
    runner.pump()
    return [parse(m["raw"]) for m in sent_messages(wired.settings.names.stage)[before:]]


def _set_subscription(wired: Any, sub: Subscription, **fields: Any) -> None:
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    values = {f":v{i}": boto3.dynamodb.types.TypeSerializer().serialize(v) for i, v in enumerate(fields.values())}
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=wired.table.name,
        Key={"PK": {"S": f"ACCOUNT#{sub.account_id}"}, "SK": {"S": f"SUB#{sub.subscription_id}"}},
        UpdateExpression="SET " + ", ".join(f"{n} = {v}" for n, v in zip(names, values, strict=True)),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def _address(msg: EmailMessage) -> str:
    return str(msg["To"])


def test_a_yanked_severity_1_release_sends_one_recall_of_its_kind_to_everyone_it_reached_and_nothing_else(
    wired: Any, runner: Any, mailer: FaultyMailer
) -> None:
    # GIVEN a severity-1 release sent to subscribers, on-call contacts (where due) and the elite CSM
    world = _load(wired.table, per_tier=3)
    due = [
        a
        for a in world.accounts
        if oncall_copy_due(a.tier, severity=1, local_now=datetime.now(UTC), business_hours=(0, 0))
    ]
    reached = len(world.subscribers) + len(due) + 1
    _publish(wired, runner, world, reached)
    notices = {
        r.email: r
        for a in world.accounts
        for r in wired.table.account_deliveries(world.release.release_id, "release", a.account_id)
    }
    assert len(notices) == reached and {r.status for r in notices.values()} == {"sent"}
    # AND since then one premium subscriber changed preferences (no more patches), one xtreme one unsubscribed
    changed = next(s for s in world.subscribers if s.account_id.startswith("premium"))
    gone = next(s for s in world.subscribers if s.account_id.startswith("xtreme"))
    _set_subscription(wired, changed, kinds=["service-pack"], max_severity=4)
    _set_subscription(wired, gone, status="unsubscribed")
    # AND the premium account's support period has ended: it may no longer download anything
    ended = dataclasses.replace(world.accounts[1], support_end=datetime.now(UTC).date() - timedelta(days=1))
    wired.table.bulk_load([ended], [])

    # WHEN it is yanked, superseded by a newer release
    sent = _yank(wired, runner, world, reached)

    # THEN exactly one email to each who got the notice but the unsubscribed one, each a recall of its kind
    assert sorted(_address(m) for m in sent) == sorted(set(notices) - {gone.email})
    kinds = {_address(m): str(m["Subject"]).split(" [Sev")[0] for m in sent}
    assert kinds == {
        **{s.email: "[RECALL]" for s in world.subscribers if s is not gone},
        **{a.oncall_email: "[RECALL] [On-call]" for a in due},
        world.accounts[0].csm_email: "[RECALL] [CSM]",
    }
    assert changed.email in kinds
    still_entitled = {s.email for s in world.subscribers if s.account_id != ended.account_id}
    for m in sent:
        # AND each replies to the Message-ID SES gave the notice it recalls
        parent = ses_message_id_header(notices[_address(m)].message_id, "us-east-1")
        assert m["In-Reply-To"] == parent and m["References"] == parent
        # AND the successor's download is linked for the subscribers still entitled to it; role copies have no link
        body = text_of(m)
        entitled = _address(m) in still_entitled
        assert ("/d/" in body) == entitled, (_address(m), body)
        assert ("Download 1.1 instead" in body) == entitled
        assert "corrupts ledgers" in body


def _downloaded_release(link: str, wired: Any) -> str:
    from chalicelib.domain.access.tokens import Purpose, verify
    from chalicelib.routes import link_maker

    return verify(link_maker().ring, link.rsplit("/d/", 1)[1].split()[0], Purpose.DOWNLOAD).release_id


def test_the_successor_link_in_a_recall_is_a_download_of_the_successor(
    wired: Any, runner: Any, mailer: FaultyMailer
) -> None:
    world = _load(wired.table, per_tier=1)
    _publish(wired, runner, world, 3 + 1)
    sent = _yank(wired, runner, world, 3)
    elite = next(m for m in sent if _address(m) == world.subscribers[0].email)
    line = next(x for x in text_of(elite).splitlines() if x.startswith("Download 1.1 instead: "))
    assert _downloaded_release(line, wired) == world.successor.release_id


def test_one_address_held_twice_and_as_a_role_gets_one_notice_and_one_recall(
    wired: Any, runner: Any, mailer: FaultyMailer
) -> None:
    # GIVEN in each account two subscriptions of one address (the domain in another case), which is also the
    # account's on-call address, and a third subscription whose address is the elite account's CSM's
    def emails(account: Account, n: int) -> str:
        return [
            f"ops@{account.account_id}.example",
            f"ops@{account.account_id.upper()}.EXAMPLE",
            account.csm_email or "",
        ][n]

    world = _load(wired.table, per_tier=3, emails=emails)
    accounts = [dataclasses.replace(a, oncall_email=f"ops@{a.account_id}.example") for a in world.accounts]
    wired.table.bulk_load(accounts, [])

    # WHEN the severity-1 release goes out and is then yanked
    _publish(wired, runner, world, 2 * 3)
    notices = Counter(fanout_plan.address_key(a) for a, n in mailer.accepted.items() for _ in range(n))
    sent = _yank(wired, runner, world, 2 * 3)

    # THEN each address got one notice (no on-call or CSM copy: those addresses were subscribers) and one recall
    addresses = {fanout_plan.address_key(s.email) for s in world.subscribers}
    assert notices == Counter(dict.fromkeys(addresses, 1))
    assert Counter(fanout_plan.address_key(_address(m)) for m in sent) == Counter(dict.fromkeys(addresses, 1))
    assert all(str(m["Subject"]).startswith("[RECALL] [Sev 1]") for m in sent)


def test_the_410_of_a_yanked_release_links_to_its_successor_only_where_the_contract_is_entitled_now(
    app_client: Client, runner: Any, provisioned: str
) -> None:
    # GIVEN an elite and a premium subscriber of a product, notified of a release
    product, _, elite_address = subscribed_world(app_client, provisioned, "elite")
    premium, premium_address = unique("acct"), f"{unique('ops')}@customer.example"
    app_client.http.put(
        f"/accounts/{premium}", headers=auth("support-admin"), body=json.dumps(account_body("premium", [product]))
    )
    subscribe_and_confirm(app_client, provisioned, premium, premium_address, [product])
    release = create_release(app_client, product, b"bad fix")
    upload(release, b"bad fix")
    # AND a newer release, published, and a beta one
    successor = create_release(app_client, product, b"good fix", version=f"{release['version']}.1")
    upload(successor, b"good fix")
    beta = create_release(app_client, product, b"beta fix", channel="beta", version=f"{release['version']}.2")
    upload(beta, b"beta fix")
    runner.pump()
    # AND the premium account's support period has since ended
    app_client.http.put(
        f"/accounts/{premium}",
        headers=auth("support-admin"),
        body=json.dumps(account_body("premium", [product], end=datetime.now(UTC).date() - timedelta(days=1))),
    )

    def yank(successor_id: str) -> Any:
        body = json.dumps({"reason": "corrupts ledgers", "superseded_by": successor_id})
        return app_client.http.post(f"/releases/{release['id']}/yank", headers=auth("release-engineer"), body=body)

    # WHEN the release is yanked, superseded by the beta one: refused, as premium recipients may not see beta
    refused = yank(beta["id"])
    assert refused.status_code == 400 and json.loads(refused.body)["error"] == "invalid_successor"
    # AND then superseded by the newer GA one
    assert yank(successor["id"]).status_code == 200
    runner.pump()

    # THEN the elite link's 410 offers a fresh link to the successor's download, which works
    def gone(address: str, accept: str = "application/json") -> Any:
        notice = next(m for m in emails_to(provisioned, address) if release["version"] in str(m["Subject"]))
        got = app_client.http.get(urlsplit(link(notice, "/d/")).path, headers={"Accept": accept})
        assert got.status_code == 410
        return got

    action = json.loads(gone(elite_address).body)["action"]
    assert action["method"] == "GET" and action["label"] == f"Download version {successor['version']}"
    assert app_client.http.get(urlsplit(action["href"]).path).status_code == 302
    assert "<a href='https://patchcast.test/d/" in gone(elite_address, "text/html").body.decode()
    # AND the premium link's 410 (its support over) names the successor but offers no download of it
    refusal = json.loads(gone(premium_address).body)
    assert successor["version"] in refusal["message"] and "action" not in refusal


def test_a_fresh_link_email_threads_under_the_release_notice(
    app_client: Client, runner: Any, provisioned: str, wired: Any
) -> None:
    # GIVEN a subscriber notified of a release, whose link has expired
    from chalicelib.routes import link_maker

    admin = auth("support-admin")
    product, account, address = unique("P"), unique("acct"), f"{unique('ops')}@customer.example"
    app_client.http.put(f"/products/{product}", headers=admin, body=json.dumps({"name": "Product"}))
    app_client.http.put(f"/accounts/{account}", headers=admin, body=json.dumps(account_body("premium", [product])))
    sub_id = subscribe_and_confirm(app_client, provisioned, account, address, [product])
    release = create_release(app_client, product, b"fix")
    upload(release, b"fix")
    runner.pump()
    (notice,) = [d for d in wired.table.account_deliveries(release["id"], "release", account) if d.status == "sent"]
    expired = link_maker().download(account, sub_id, release["id"], expires=int(time.time()) - 60)

    # WHEN a fresh link is asked for
    resp = app_client.http.post(f"{urlsplit(expired).path}/renew", headers={"Content-Type": "application/json"})

    # THEN it is emailed as a reply to the notice SES sent
    assert resp.status_code == 202, resp.body
    fresh = [m for m in emails_to(provisioned, address) if m["In-Reply-To"]]
    assert len(fresh) == 1 and fresh[0]["In-Reply-To"] == ses_message_id_header(notice.message_id, "us-east-1")
