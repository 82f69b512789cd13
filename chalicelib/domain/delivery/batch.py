"""Delivery of one batch: claim it, skip who was sent already, re-check opt-in with a consistent read,
send one message per recipient (``delivery_compose`` builds them, ``delivery_send`` sends them paced and
records the outcomes as they arrive), then finish the batch with its counts.

Transient failures (throttling) go back on the queue as a new delayed batch holding only the failed
recipients, and so do the recipients not reached before the function's timeout; a permanent rejection
(or a message that cannot be built) is recorded and never retried. A batch that fails as a whole is
given up after ``MAX_ATTEMPTS`` claims and its message goes to the DLQ. The only window for a duplicate
is a crash between SES accepting a message and its outcome being written (docs/delivery.md measures it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from chalicelib.domain.core.messages import DeliveryBatch, MalformedMessage
from chalicelib.domain.core.models import BatchClaim, DeliveryOutcome
from chalicelib.domain.core.states import ClaimStatus, DeliveryStatus, Notice, Role, notice_kind
from chalicelib.domain.delivery import compose as delivery_compose
from chalicelib.domain.delivery import recheck as delivery_recheck
from chalicelib.domain.delivery import send as delivery_send
from chalicelib.domain.delivery import tally as delivery_tally
from chalicelib.domain.delivery import waits as delivery_waits
from chalicelib.domain.delivery.ports import Deps
from chalicelib.domain.mail import notices as mail
from chalicelib.observability import count_outcomes, logger

LEASE_SECONDS = 120
RETRY_DELAY_SECONDS = 30
PAUSE_DELAY_SECONDS = 900  # SQS's longest delay: a paused account is re-asked every 15 minutes per message
# Claims of one batch before it is given up: the delivery queues' maxReceiveCount (infra/template.py),
# so a batch re-enqueued as new messages (busy, re-driven) fails no more often than one SQS message would.
MAX_ATTEMPTS = 3


class BatchFailed(Exception):
    """A batch given up after its attempts: raised so that its message goes to the DLQ (and its alarm)."""


def _postpone(deps: Deps, critical: bool, batch: DeliveryBatch, delay: int) -> None:
    """The same batch back on the queue as a new message: no receive is burnt on waiting."""
    deps.queues.send_batch(batch, critical=critical, delay=delay)


def _requeue(deps: Deps, critical: bool, batch: DeliveryBatch, retry: list[DeliveryOutcome]) -> None:
    """Only the recipients not sent (failed transiently, or not reached before the timeout) go back, as a
    new batch: later after a failure, at once when only the deadline stopped them."""
    successor = batch.retry(o.recipient for o in retry)
    paused = any(o.extra.get("paused") for o in retry)
    failed = any(not o.extra.get("deferred") for o in retry)
    delay = PAUSE_DELAY_SECONDS if paused else min(RETRY_DELAY_SECONDS * successor.attempt, 900) if failed else 0
    deps.queues.send_batch(successor, critical=critical, delay=delay)


@dataclass(frozen=True)
class Delivered:
    """What delivering a claimed batch leaves for its finish: the counts by status, the report's tally,
    and the outcomes of the last chunk, which the finish records in the same transaction."""

    counts: dict[str, int]
    tally: dict[str, int] = field(default_factory=dict)
    unrecorded: list[DeliveryOutcome] = field(default_factory=list)


def _deliver_claimed(deps: Deps, batch: DeliveryBatch, critical: bool) -> Delivered:
    release_id, notice = batch.release_id, batch.notice
    recipients = list(batch.recipients)
    release, subs, already, suppressed = deps.table.delivery_context(release_id, notice, recipients)
    counts: dict[str, int] = {str(status): 0 for status in DeliveryStatus}
    if release is None or release.status not in mail.SENDABLE[notice_kind(notice)]:
        return Delivered(counts)
    todo, outcomes = delivery_recheck.partition(recipients, already, subs, suppressed, release, notice)
    notified = delivery_waits.notified(deps, release_id, notice, todo) if any(r.role == Role.CSM for r in todo) else []
    delivery_send.record(deps, release_id, notice, outcomes)
    compose = delivery_compose.composer(deps, release, notice, notified, todo)
    sent, unrecorded = delivery_send.send_all(deps, release_id, notice, todo, compose)
    outcomes += sent
    retry = [o for o in outcomes if o.status == DeliveryStatus.RETRY]
    if retry:
        _requeue(deps, critical, batch, retry)
        if any(o.extra.get("paused") for o in retry) and deps.quota:
            deps.quota.mark_paused()
    for status, n in delivery_tally.outcomes_by_status(outcomes).items():
        counts[status] += n
    counts["window_ms"] = int(1000 * max((o.extra.get("window", 0.0) for o in outcomes), default=0.0))
    published_at = release.published_at if notice == Notice.RELEASE else None
    return Delivered(counts, delivery_tally.tally_of(outcomes, published_at=published_at), unrecorded)


def run(deps: Deps, batch: DeliveryBatch, *, critical: bool = False) -> dict[str, int]:
    """Deliver one batch from the delivery queue (``critical``: the severity-1 one, where it goes back to)."""
    release_id, notice = batch.release_id, batch.notice
    if notice_kind(notice) not in mail.SENDABLE:
        raise MalformedMessage(f"unknown notice kind {notice!r}")  # a poison message: let it reach the DLQ
    if not delivery_send.quota(deps).sending_enabled:
        _postpone(deps, critical, batch, PAUSE_DELAY_SECONDS)
        logger.warning("SES sending is paused: batch postponed", extra={"release_id": release_id})
        return {"paused": 1}
    if delivery_waits.waiting(deps, batch):
        _postpone(deps, critical, replace(batch, waits=batch.waits + 1), delivery_waits.WAIT_DELAY_SECONDS)
        return {"waiting": 1}
    claim_id = f"{notice}#{batch.batch_id}"
    claim = deps.table.claim_batch(
        release_id,
        claim_id,
        lease_seconds=LEASE_SECONDS,
        max_attempts=MAX_ATTEMPTS,
        queue=deps.queues.delivery_queue(critical=critical),
        body=batch.to_json(),
    )
    if claim.status == ClaimStatus.DONE:
        return {}
    if claim.status == ClaimStatus.BUSY:
        # Another invocation holds it: look again once its lease could have run out (no receive burnt; the
        # claims, not the receives, count the attempts).
        _postpone(deps, critical, batch, LEASE_SECONDS)
        return {"busy": 1}
    if claim.status != ClaimStatus.CLAIMED:
        _refuse(deps, release_id, claim_id, claim)
    delivered = _attempt(deps, batch, critical, claim_id, claim)
    counts = delivered.counts
    deps.table.finish_batch(release_id, claim_id, counts, tally=delivered.tally, records=delivered.unrecorded)
    count_outcomes(counts)
    logger.info("batch delivered", extra={"release_id": release_id, "batch": claim_id, **counts})
    return counts


def _attempt(deps: Deps, batch: DeliveryBatch, critical: bool, claim_id: str, claim: BatchClaim) -> Delivered:
    """Deliver a claimed batch; if that fails, keep the error on the claim and give the batch up on its
    last attempt, then raise (SQS retries the message, and after the last moves it to the DLQ)."""
    release_id = batch.release_id
    try:
        return _deliver_claimed(deps, batch, critical)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if claim.attempts >= MAX_ATTEMPTS:
            deps.table.fail_batch(release_id, claim_id, error)
            logger.error("batch given up: its message goes to the DLQ", extra=_failed(release_id, claim_id, claim))
        else:
            deps.table.note_batch_error(release_id, claim_id, error, lease_until=claim.lease_until)
        raise


def _refuse(deps: Deps, release_id: str, claim_id: str, claim: BatchClaim) -> NoReturn:
    """A batch given up, or whose attempts all ended without finishing (timeouts, kills): never again."""
    error = claim.last_error or f"{claim.attempts} attempts ended without finishing (timeout or crash)"
    if claim.status == ClaimStatus.EXHAUSTED:
        deps.table.fail_batch(release_id, claim_id, error)
        logger.error("batch given up: its message goes to the DLQ", extra=_failed(release_id, claim_id, claim))
    raise BatchFailed(f"batch {claim_id} given up after {claim.attempts} attempts: {error}")


def _failed(release_id: str, claim_id: str, claim: BatchClaim) -> dict[str, Any]:
    return {"release_id": release_id, "batch": claim_id, "attempts": claim.attempts}
