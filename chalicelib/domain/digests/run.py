"""One batch of digests from the digest queue (``plan`` cut it), exactly once per subscription, as a delivery
batch: claimed (``Table.claim_batch``, beside a release's claims), its subscriptions' items and markers read in one
consistent Query of its range, those with a marker (sent already) left out, what each lists decided at send time
(``choose``: still published, still wanted, still entitled), sent paced to the function's share of SES's rate
(``infra/package.py``) and stopped before the function's timeout; markers and counters written in chunks
(``chunk``), what SES accepted recorded even when a send raises.

SES throttling, a paused account or the deadline stops the batch: what was sent is recorded, then the batch goes
back on the queue as a new one (after a delay that grows with its attempts, 15 minutes after a pause, at once
after the deadline), whose markers keep anyone from being sent twice. A batch that fails as a whole is given up
after delivery's ``MAX_ATTEMPTS`` claims and its message goes to the DLQ; a malformed message raises at once (the
DLQ). Only a kill between SES accepting a digest and its chunk's write can send it again (at most one batch).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.core.messages import MalformedMessage
from chalicelib.domain.core.states import ClaimStatus
from chalicelib.domain.delivery import batch as delivery
from chalicelib.domain.digests import send
from chalicelib.domain.digests.chunk import Chunk
from chalicelib.domain.digests.messages import DigestWork
from chalicelib.domain.digests.plan import DIGEST, claims
from chalicelib.domain.digests.ports import DigestDeps
from chalicelib.observability import logger

if TYPE_CHECKING:
    pass

STOP_MARGIN_MS = 15_000  # stop starting sends this long (at most a quarter of the time left) before the timeout
# (DigestDeps, what a batch is given, is in ``ports``: ``send`` takes it too, and does not import this module back.)


def clock() -> datetime:
    """Now, for the sender; a seam so a test can send a window's batches at its end."""
    return datetime.now(UTC)


def run(deps: DigestDeps, work: DigestWork) -> dict[str, int]:
    """Send one batch: claimed once, given up after its attempts (raised, so its message reaches the DLQ)."""
    if work.batch_id is None or work.first is None or work.last is None:
        raise MalformedMessage("digest batch: fields 'batch_id', 'first' and 'last' are required")
    if deps.quota and not deps.quota.get().sending_enabled:
        deps.queues.send_digest_work([work], delay=delivery.PAUSE_DELAY_SECONDS)
        return {"paused": 1}
    key, claim_id = claims(work.bucket), f"{DIGEST}#{work.batch_id}"
    queue = deps.queues.names.digest_queue
    claim = deps.table.claim_batch(
        key,
        claim_id,
        lease_seconds=delivery.LEASE_SECONDS,
        max_attempts=delivery.MAX_ATTEMPTS,
        queue=queue,
        body=work.to_json(),
    )
    if claim.status == ClaimStatus.DONE:
        return {}
    if claim.status == ClaimStatus.BUSY:  # another invocation holds it: look again once its lease could run out
        deps.queues.send_digest_work([work], delay=delivery.LEASE_SECONDS)
        return {"busy": 1}
    if claim.status != ClaimStatus.CLAIMED:
        error = claim.last_error or f"{claim.attempts} attempts ended without finishing (timeout or crash)"
        if claim.status == ClaimStatus.EXHAUSTED:
            deps.table.fail_batch(key, claim_id, error)
        raise delivery.BatchFailed(f"digest batch {claim_id} of {work.bucket} given up: {error}")
    try:
        counts = _send_batch(deps, work)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if claim.attempts >= delivery.MAX_ATTEMPTS:
            deps.table.fail_batch(key, claim_id, error)
            logger.error("digest batch given up: its message goes to the DLQ", extra={"batch": claim_id})
        else:
            deps.table.note_batch_error(key, claim_id, error, lease_until=claim.lease_until)
        raise
    deps.table.finish_batch(key, claim_id, counts)
    logger.info("digest batch sent", extra={"bucket": work.bucket, "batch": work.batch_id, **counts})
    return counts


def _send_batch(deps: DigestDeps, work: DigestWork) -> dict[str, int]:
    deps.now = (deps.clock or clock)()
    if deps.remaining_ms is not None:  # at most a quarter of a short timeout is kept in hand
        deps.margin_ms = min(STOP_MARGIN_MS, deps.remaining_ms() / 4)
    groups = _groups(deps.table.digest_range(work.bucket, str(work.first), str(work.last)))
    if not groups:
        return {"sent": 0}
    wanted = sorted({i["release_id"] for g in groups.values() for i in g})
    owners = [tuple(k.split("#", 1)) for k in groups]
    subs, deps.releases, deps.accounts = deps.table.digest_context(owners, wanted)  # type: ignore[arg-type]
    late = [i for g in groups.values() for i in g if i.get("late")]
    already = deps.table.queued_before(late) if late else set()
    chunk = Chunk(deps.table, work.bucket, deps.releases)
    stop: send.Stop | None = None
    try:
        for group in groups.values():
            if deps.remaining_ms is not None and deps.remaining_ms() < deps.margin_ms:
                stop = send.Stop("the function's timeout is near", deadline=True)
                break
            try:
                chunk.add(send.one(deps, group, subs, already))
            except send.Stop as stopped:
                stop = stopped
                break
    finally:
        chunk.flush()  # what SES accepted is recorded, even when a send raised
    if stop is not None:
        _again(deps, work, stop)
    return {"sent": chunk.sent, "digests": len(groups), "stopped": int(stop is not None)}


def _again(deps: DigestDeps, work: DigestWork, stop: send.Stop) -> None:
    """The batch back on the queue as a new one (its markers keep the sent ones from going twice)."""
    retry = work.retry()
    delay = (
        delivery.PAUSE_DELAY_SECONDS
        if stop.paused
        else 0
        if stop.deadline
        else delivery.RETRY_DELAY_SECONDS * retry.attempt
    )
    deps.queues.send_digest_work([retry], delay=min(delay, delivery.PAUSE_DELAY_SECONDS))
    if stop.paused and deps.quota:
        deps.quota.mark_paused()
    logger.warning("digests stopped: the rest go again", extra={"batch": work.batch_id, "why": str(stop)})


def _groups(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The batch's subscriptions not sent yet, each with its queued items."""
    groups: dict[str, list[dict[str, Any]]] = {}
    done: set[str] = set()
    for i in items:
        owner = f"{i['account_id']}#{i['subscription_id']}" if "account_id" in i else str(i["SK"]).rsplit("#", 1)[0]
        if i.get("type") == "digest":
            done.add(owner)
        elif i.get("type") == "digest_item":
            groups.setdefault(owner, []).append(i)
    return {k: v for k, v in groups.items() if k not in done}
