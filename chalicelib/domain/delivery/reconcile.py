"""The reconciler of stuck delivery batches (a schedule): re-drives batches claimed but never finished, their
message kept in the claim (a digest batch's to the digest queue), at most ``MAX_REDRIVES`` times before a human
looks at them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from chalicelib.domain.core.messages import DeliveryBatch, MalformedMessage
from chalicelib.domain.core.records import StuckBatch
from chalicelib.domain.delivery.batch import LEASE_SECONDS
from chalicelib.domain.digests.messages import DigestWork
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.core.ports import Clock
    from chalicelib.domain.delivery.ports import DeliveryStore, RedriveQueues

REDRIVE_AFTER_SECONDS = 2 * LEASE_SECONDS
MAX_REDRIVES = 5


def clock() -> float:
    """Now, for the reconciler; a seam so a test can run the scheduled handler as if the lease had run out."""
    return time.time()


def _now() -> float:
    return clock()  # the module's seam, looked up at each call (a test replaces it)


def reconcile(
    table: DeliveryStore, queues: RedriveQueues, *, now: int | None = None, clock: Clock | None = None
) -> int:
    """Re-drive batches claimed but never finished (the invocation died): their message is in the claim. The time
    is ``now`` (epoch seconds) if given, else ``clock``'s, else the module's seam's (the system clock)."""
    if now is None:
        now = int(clock.now().timestamp() if clock is not None else _now())
    redriven = 0
    for stuck in table.stuck_batches(now):
        if not table.mark_redriven(stuck, next_check=now + REDRIVE_AFTER_SECONDS):
            continue  # another reconciler run, or the batch finished meanwhile
        if stuck.redrives >= MAX_REDRIVES or not stuck.queue or not stuck.body:
            logger.error("batch stuck beyond re-drives: look at it by hand", extra=_ids(stuck))
            continue
        try:
            if stuck.queue == queues.names.digest_queue:  # a digest batch: its markers keep the copy from resending
                queues.send_digest_work([DigestWork.from_json(stuck.body)])
                redriven += 1
                continue
            batch = DeliveryBatch.from_json(stuck.body)
        except MalformedMessage as exc:
            logger.error(
                "stuck batch's message is malformed: look at it by hand", extra={**_ids(stuck), "error": str(exc)}
            )
            continue
        queues.redrive(stuck.queue, batch)
        redriven += 1
    if redriven:
        logger.warning("re-drove stuck batches", extra={"count": redriven})
    return redriven


def _ids(stuck: StuckBatch) -> dict[str, Any]:
    return {"release_id": stuck.release_id, "batch": stuck.batch_id, "redrives": stuck.redrives}
