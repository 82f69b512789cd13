"""Delivery of one batch: claim it, skip who was sent already, re-check opt-in with a consistent read,
build one MIME message per recipient, send them concurrently through SES, record the outcomes.

Transient failures (throttling) go back on the queue as a new delayed batch holding only the failed
recipients; a permanent rejection is recorded and never retried. The only window for a duplicate is
a crash between SES accepting a message and the outcome being written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib import mail
from chalicelib.errors import TransientError
from chalicelib.links import LinkMaker
from chalicelib.mailer import Mailer, Rejected, Throttled
from chalicelib.models import DeliveryOutcome, Recipient, Release, Subscription
from chalicelib.observability import logger
from chalicelib.queues import Queues
from chalicelib.store import Table

LEASE_SECONDS = 120
RETRY_DELAY_SECONDS = 30
SEND_CONCURRENCY = 8


class BatchBusy(TransientError):
    """Another invocation holds this batch; let SQS hand the message back later."""


@dataclass(frozen=True)
class Deps:
    table: Table
    mailer: Mailer
    queues: Queues
    links: LinkMaker
    link_days: int


def _send_one(
    deps: Deps, release: Release, recipient: Recipient, expires: int, notice: str = "release"
) -> DeliveryOutcome:
    links = mail.Links(
        download=deps.links.download(
            recipient.account_id, recipient.subscription_id, release.release_id, expires=expires
        )
        if release.object_key
        else None,
        unsubscribe=deps.links.unsubscribe(recipient.account_id, recipient.subscription_id),
        expires=datetime.fromtimestamp(expires, UTC),
    )
    raw = mail.NOTICES[notice](sender=deps.mailer.sender, to=recipient.email, release=release, links=links)
    try:
        return DeliveryOutcome(recipient, "sent", message_id=deps.mailer.send_raw(recipient.email, raw))
    except Throttled as exc:
        return DeliveryOutcome(recipient, "retry", detail=str(exc))
    except Rejected as exc:
        return DeliveryOutcome(recipient, "failed", detail=str(exc)[:500])


def _still_wanted(sub: Subscription | None, release: Release) -> bool:
    return sub is not None and sub.wants(
        product=release.product, kind=release.kind, severity=release.severity, channel=release.channel
    )


def _partition(
    recipients: list[Recipient], already: set[str], subs: dict[str, Subscription], release: Release
) -> tuple[list[Recipient], list[DeliveryOutcome]]:
    """Who to send to now, and the outcomes already known (opted out since fan-out)."""
    todo: list[Recipient] = []
    skipped: list[DeliveryOutcome] = []
    for r in recipients:
        if r.key in already:
            continue
        sub = subs.get(f"{r.account_id}#{r.subscription_id}")
        if r.role == "subscriber" and not _still_wanted(sub, release):
            suppressed = sub is not None and sub.status == "suppressed"  # SES feedback: bounced or complained
            skipped.append(DeliveryOutcome(r, "suppressed" if suppressed else "skipped", detail="no longer subscribed"))
        else:
            todo.append(r)
    return todo, skipped


def _requeue(deps: Deps, queue: str, message: dict[str, Any], retry: list[Recipient]) -> None:
    """Only the recipients that failed transiently go back, as a new batch, later."""
    attempt = int(message.get("attempt", 0)) + 1
    body = {
        "release_id": message["release_id"],
        "notice": message.get("notice", "release"),
        "batch_id": f"{message['batch_id']}.r{attempt}",
        "attempt": attempt,
        "recipients": [r.to_message() for r in retry],
    }
    deps.queues.send(queue, body, delay=min(RETRY_DELAY_SECONDS * attempt, 900))


def run(
    deps: Deps, message: dict[str, Any], *, queue: str, send: Callable[..., DeliveryOutcome] = _send_one
) -> dict[str, int]:
    release_id = str(message["release_id"])
    notice = str(message.get("notice", "release"))
    if notice not in mail.NOTICES:
        raise ValueError(f"unknown notice kind {notice!r}")  # a poison message: let it reach the DLQ
    recipients = [Recipient.from_message(r) for r in message["recipients"]]
    claim_id = f"{notice}#{message['batch_id']}"
    claim = deps.table.claim_batch(release_id, claim_id, lease_seconds=LEASE_SECONDS)
    if claim == "done":
        return {}
    if claim == "busy":
        raise BatchBusy(f"batch {release_id}/{claim_id} is held by another invocation")
    release = deps.table.get_release(release_id)
    counts: dict[str, int] = {"sent": 0, "failed": 0, "skipped": 0, "retry": 0}
    if release is None or release.status not in mail.SENDABLE[notice]:
        deps.table.finish_batch(release_id, claim_id, counts)
        return counts
    subs, already = deps.table.recheck(release_id, notice, recipients)
    todo, outcomes = _partition(recipients, already, subs, release)
    expires = int(time.time()) + deps.link_days * 86400
    with ThreadPoolExecutor(max_workers=max(1, min(SEND_CONCURRENCY, len(todo)))) as pool:
        outcomes += list(pool.map(lambda r: send(deps, release, r, expires, notice), todo))
    final = [o for o in outcomes if o.status != "retry"]
    if final:
        deps.table.record_deliveries(release_id, notice, final)
    retry = [o.recipient for o in outcomes if o.status == "retry"]
    if retry:
        _requeue(deps, queue, message, retry)
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    deps.table.finish_batch(release_id, claim_id, counts)
    logger.info("batch delivered", extra={"release_id": release_id, "batch": claim_id, **counts})
    return counts
