"""The digest run of ``make bench``: ``n`` subscribers, a third on daily digests of severity 3, 20 severity-3
releases fanned out, then the digest schedule at the window's end, its pages and its batches (driven inline from
an in-memory digest queue, ``patchcast_tools/digests.py``); AWS requests per digest email (the digest functions',
counted on the wiring's clients as ``bench.run`` counts a notice's; SQS not counted) and the exactly-once check.

The other two thirds want severity 2 and worse only: they stay in the audience every fan-out page reads,
but get no instant notice (sending 20 each would measure delivery again, and take hours locally).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.core.messages import DeliveryBatch, FanoutPage

RELEASES = 20


class _Queues:
    """Fan-out's queues kept in memory: the next page is planned here at once, no delivery batch expected."""

    def __init__(self) -> None:
        self.pages: list[FanoutPage] = []
        self.batches = 0

    def send_fanout_page(self, page: FanoutPage, *, delay: int = 0) -> None:
        self.pages.append(page)

    def send_batches(self, batches: Sequence[DeliveryBatch], *, critical: bool, delay: int = 0) -> None:
        self.batches += len(batches)


def _population(n: int) -> tuple[Any, list[Any], frozenset[str]]:
    from bench import population as pop

    people = pop.make(n, f"D{uuid.uuid4().hex[:6]}")
    subs, digested = [], set()
    for i, sub in enumerate(people.subscribers):
        if i % 3 == 0:
            subs.append(dataclasses.replace(sub, digest={"3": "daily"}))
            if sub.email in people.eligible:
                digested.add(sub.email)
        else:
            subs.append(dataclasses.replace(sub, max_severity=2))
    return people, subs, frozenset(digested)


def _fan_out(table: Any, release_id: str) -> int:
    from chalicelib.domain.fanout import pages as fanout

    queues = _Queues()
    message: FanoutPage | None = FanoutPage(release_id)
    while message is not None:
        fanout.run(table, queues, message)  # type: ignore[arg-type]
        message = queues.pages.pop() if queues.pages else None
    return queues.batches


def run(n: int, session: Any) -> dict[str, Any]:
    from bench.run import Accepted, RequestCounter, _release
    from chalicelib.adapters import wiring
    from chalicelib.adapters.store import Table
    from chalicelib.domain.core.models import now_iso
    from chalicelib.domain.digests import windows as digests
    from chalicelib.names import ResourceNames
    from chalicelib.routes import link_maker
    from patchcast_tools.digests import drain

    w = wiring.get()
    loader = Table(session.client("dynamodb"), ResourceNames("local").table)
    people, subs, digested = _population(n)
    loader.bulk_load(people.accounts, subs)
    fanout_counter, counter, accepted = RequestCounter(), RequestCounter(), Accepted()
    fanout_table = Table(session.client("dynamodb"), loader.name)
    t0 = time.monotonic()
    instant = 0
    with fanout_counter.hooked(fanout_table._db):
        for _ in range(RELEASES):
            release_id = _release(loader, people.product, "published")
            loader._db.update_item(
                TableName=loader.name,
                Key={"PK": {"S": f"RELEASE#{release_id}"}, "SK": {"S": "RELEASE"}},
                UpdateExpression="SET severity = :s, published_at = :p",
                ExpressionAttributeValues={":s": {"N": "3"}, ":p": {"S": now_iso()}},
            )
            instant += _fan_out(fanout_table, release_id)
    fanout_s = time.monotonic() - t0
    due = digests.due_after("daily", "UTC", datetime.now(UTC))
    loader.set_digest_cursor(digests.bucket(due))
    t1 = time.monotonic()
    with accepted.installed(), counter.hooked(w.table._db, w.mailer._ses):  # the digest functions' clients
        drain(w.table, w.mailer, link_maker(), due + timedelta(minutes=10))  # the schedule, pages and batches
        again = drain(w.table, w.mailer, link_maker(), due + timedelta(minutes=25)).sent
    runner_s = time.monotonic() - t1
    emails = accepted.total
    requests = sum(counter.calls.values())
    items = sum(fanout_counter.calls.values())
    return {
        "subscribers": n,
        "digest_subscribers": len(digested),
        "releases": RELEASES,
        "instant_batches_planned": instant,
        "fanout_seconds": round(fanout_s, 2),
        "fanout_requests": items,
        "fanout_requests_by_operation": dict(fanout_counter.calls.most_common()),
        "digest_emails": emails,
        "runner_seconds": round(runner_s, 2),
        "aws_requests": requests,
        "requests_per_digest_email": round(requests / max(emails, 1), 4),
        "requests_by_operation": dict(counter.calls.most_common()),
        "sent_by_second_run": again,
        "duplicates": sum(1 for a in digested if accepted.by_address[a] > 1),
        "missing": sum(1 for a in digested if accepted.by_address[a] == 0),
        "not_digested_emailed": sum(1 for a, c in accepted.by_address.items() if c and a not in digested),
    }


def report(d: dict[str, Any]) -> str:
    return (
        f"digests: {d['digest_emails']} digest emails of {d['releases']} releases to {d['digest_subscribers']} of "
        f"{d['subscribers']} subscribers; runner {d['runner_seconds']} s, requests/digest email "
        f"{d['requests_per_digest_email']} (target <= 1.3: a batch's claim, finish and range); exactly once: duplicates {d['duplicates']}, missing "
        f"{d['missing']}, others emailed {d['not_digested_emailed']} (target 0/0/0); fan-out of the releases "
        f"{d['fanout_requests']} requests in {d['fanout_seconds']} s"
    )
