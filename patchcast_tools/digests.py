"""Digests driven inline, for tests and the bench: the schedule at ``now``, then every page and batch it leads to,
taken from an in-memory digest queue instead of SQS (delays not waited for), with SQS's redelivery of a message
whose handler raised (at most ``MAX_RECEIVES`` receives, then the dead letters), until the queue is empty or
``rounds`` messages were handled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.adapters.queues import Queues
from chalicelib.domain.digests import plan, run
from chalicelib.domain.digests.messages import DigestWork
from chalicelib.names import ResourceNames
from infra.template import MAX_RECEIVES


class InlineQueues(Queues):
    """The digest queue in memory: (message, delay) in the order sent."""

    def __init__(self) -> None:
        super().__init__(None, ResourceNames("local"))
        self.work: list[tuple[DigestWork, int]] = []

    def send_digest_work(self, work: Sequence[DigestWork], *, delay: int = 0) -> None:
        self.work += [(w, delay) for w in work]


@dataclass
class Drained:
    sent: int = 0
    handled: int = 0
    dead: list[DigestWork] = field(default_factory=list)  # messages that reached the DLQ
    errors: list[BaseException] = field(default_factory=list)


def drain(
    table: Any, mailer: Any, urls: Any, now: datetime, *, rounds: int = 10_000, schedule: bool = True, **deps: Any
) -> Drained:
    """Run the schedule at ``now`` (unless ``schedule`` is False), then the digest queue dry; ``deps``: more of
    ``run.DigestDeps`` (``quota``, ``share``, ``remaining_ms``, ``link_days``)."""
    queues = deps.pop("queues", None) or InlineQueues()
    if schedule:
        plan.schedule(table, queues, now)
    done, receives = Drained(), dict[int, int]()
    deps.setdefault("link_days", 30)
    while queues.work and done.handled < rounds:
        work, _delay = queues.work.pop(0)
        done.handled += 1
        try:
            if work.batch_id is None:
                plan.plan_page(table, queues, work)
            else:
                d = run.DigestDeps(table=table, mailer=mailer, queues=queues, urls=urls, clock=lambda: now, **deps)
                done.sent += run.run(d, work).get("sent", 0)
        except Exception as exc:  # noqa: BLE001 - SQS receives it again, then keeps it in the DLQ
            done.errors.append(exc)
            receives[id(work)] = receives.get(id(work), 0) + 1
            if receives[id(work)] < MAX_RECEIVES:
                queues.work.append((work, 0))
            else:
                done.dead.append(work)
    return done


def forget_pages(table: Any, bucket: str) -> None:
    """Tests share one table, so one window's bucket: a test sending a window once more as if it were new (its
    items added since it was planned, which fan-out's margin rules out in AWS) forgets its page claims first."""
    pk = f"RELEASE#{plan.claims(bucket)}"
    for page in range(100):
        table._db.delete_item(TableName=table.name, Key={"PK": {"S": pk}, "SK": {"S": f"PAGE#{plan.DIGEST}#{page}"}})
