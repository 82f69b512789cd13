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


def _send_one(deps: Deps, release: Release, recipient: Recipient, expires: int) -> DeliveryOutcome:
    links = mail.Links(
        download=deps.links.download(
            recipient.account_id, recipient.subscription_id, release.release_id, expires=expires
        )
        if release.object_key
        else None,
        unsubscribe=deps.links.unsubscribe(recipient.account_id, recipient.subscription_id),
        expires=datetime.fromtimestamp(expires, UTC),
    )
    raw = mail.release_notice(sender=deps.mailer.sender, to=recipient.email, release=release, links=links)
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


def run(
    deps: Deps, message: dict[str, Any], *, queue: str, send: Callable[..., DeliveryOutcome] = _send_one
) -> dict[str, int]:
    release_id = str(message["release_id"])
    batch_id = str(message["batch_id"])
    recipients = [Recipient.from_message(r) for r in message["recipients"]]
    claim = deps.table.claim_batch(release_id, batch_id, lease_seconds=LEASE_SECONDS)
    if claim == "done":
        return {}
    if claim == "busy":
        raise BatchBusy(f"batch {release_id}/{batch_id} is held by another invocation")
    release = deps.table.get_release(release_id)
    counts: dict[str, int] = {"sent": 0, "failed": 0, "skipped": 0, "retry": 0}
    if release is None or release.status != "published":
        deps.table.finish_batch(release_id, batch_id, counts)
        return counts
    subs, already = deps.table.recheck(release_id, recipients)
    todo: list[Recipient] = []
    outcomes: list[DeliveryOutcome] = []
    for r in recipients:
        if r.key in already:
            continue
        if r.role == "subscriber" and not _still_wanted(subs.get(f"{r.account_id}#{r.subscription_id}"), release):
            outcomes.append(DeliveryOutcome(r, "skipped", detail="no longer subscribed"))
        else:
            todo.append(r)
    expires = int(time.time()) + deps.link_days * 86400
    with ThreadPoolExecutor(max_workers=max(1, min(SEND_CONCURRENCY, len(todo)))) as pool:
        outcomes += list(pool.map(lambda r: send(deps, release, r, expires), todo))
    final = [o for o in outcomes if o.status != "retry"]
    if final:
        deps.table.record_deliveries(release_id, final)
    retry = [o.recipient for o in outcomes if o.status == "retry"]
    if retry:
        attempt = int(message.get("attempt", 0)) + 1
        deps.queues.send(
            queue,
            {
                "release_id": release_id,
                "batch_id": f"{batch_id}.r{attempt}",
                "attempt": attempt,
                "recipients": [r.to_message() for r in retry],
            },
            delay=min(RETRY_DELAY_SECONDS * attempt, 900),
        )
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    deps.table.finish_batch(release_id, batch_id, counts)
    logger.info("batch delivered", extra={"release_id": release_id, "batch_id": batch_id, **counts})
    return counts
