"""The sends of a delivery batch: concurrent, paced to the account's share of SES's rate, stopped before the
function's timeout, their outcomes recorded in chunks while the rest are still sending.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING

from chalicelib.domain.core.clock import epoch
from chalicelib.domain.core.errors import Paused, Rejected, Throttled, TransientError
from chalicelib.domain.core.models import DeliveryOutcome, Recipient
from chalicelib.domain.core.states import DeliveryStatus
from chalicelib.domain.mail.pacing import Pacer, SendQuota
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.delivery.compose import Compose
    from chalicelib.domain.delivery.ports import Deps

SEND_CONCURRENCY = 8
RECORD_CHUNK = 25  # BatchWriteItem's limit: write each full chunk while the rest are still sending
# Sends stop this long (at most a quarter of the time left) before the function's timeout, so that what
# was sent is recorded and the rest re-enqueued before Lambda kills the invocation.
DEADLINE_MARGIN_SECONDS = 15.0
STOPPED_FOR_DEADLINE = "not sent before the function's timeout: re-enqueued"


def clock() -> float:
    """Now (``time.monotonic``) for the sends' deadline, pacing and duplicate window; a seam so a test can run
    a batch against a deadline without taking the time."""
    return time.monotonic()


def _ticks(deps: Deps) -> Callable[[], float]:
    """The monotonic clock of this delivery: its ``Deps.clock``'s, or (none given) the module's seam."""
    return deps.clock.monotonic if deps.clock is not None else clock


def _wall(deps: Deps) -> float:
    """Epoch seconds by this delivery's clock (the system's when none is given)."""
    return epoch(deps.clock) if deps.clock is not None else time.time()


def _send_one(deps: Deps, pacer: Pacer, recipient: Recipient, raw: bytes, until: float | None) -> DeliveryOutcome:
    if not pacer.wait(until):
        return DeliveryOutcome(recipient, DeliveryStatus.RETRY, detail=STOPPED_FOR_DEADLINE, extra={"deferred": True})
    try:
        sent = DeliveryOutcome(recipient, DeliveryStatus.SENT, message_id=deps.mailer.send_raw(recipient.email, raw))
    except Paused as exc:
        return DeliveryOutcome(recipient, DeliveryStatus.RETRY, detail=str(exc), extra={"paused": True})
    except Throttled as exc:
        return DeliveryOutcome(recipient, DeliveryStatus.RETRY, detail=str(exc))
    except Rejected as exc:
        return DeliveryOutcome(recipient, DeliveryStatus.FAILED, detail=str(exc)[:500])
    sent.extra["accepted"] = _ticks(deps)()
    sent.extra["accepted_at"] = _wall(deps)  # the report's time to notice: seconds from publishing
    return sent


def _build_and_send(deps: Deps, pacer: Pacer, compose: Compose, r: Recipient, until: float | None) -> DeliveryOutcome:
    try:
        raw = compose(r)
    except TransientError:
        raise
    except Exception as exc:  # noqa: BLE001 - this recipient's message cannot be built: the rest of the batch goes on
        logger.warning("message could not be built", extra={"recipient": r.key, "error": repr(exc)})
        return DeliveryOutcome(
            r, DeliveryStatus.FAILED, detail=f"message could not be built: {type(exc).__name__}: {exc}"[:500]
        )
    return _send_one(deps, pacer, r, raw, until)


def quota(deps: Deps) -> SendQuota:
    return deps.quota.get() if deps.quota else SendQuota(0.0)


def send_all(
    deps: Deps, release_id: str, notice: str, todo: list[Recipient], compose: Compose
) -> tuple[list[DeliveryOutcome], list[DeliveryOutcome]]:
    """Send concurrently; write outcomes in chunks as they complete, so a crash loses as few as possible.
    Answers every outcome, and the last chunk's, not written yet: the batch's finish writes them in its
    own transaction (one request fewer per batch than a BatchWriteItem of their own).

    Sends stop before the function's deadline (the rest come back as ``retry``). An unexpected error
    stops the sends not started yet, records what SES accepted, then raises.
    """
    pacer, until = _pacer(deps), _stop_at(deps)
    outcomes: list[DeliveryOutcome] = []
    pending: list[DeliveryOutcome] = []
    error: Exception | None = None
    with ThreadPoolExecutor(max_workers=max(1, min(SEND_CONCURRENCY, len(todo)))) as pool:
        futures = [pool.submit(_build_and_send, deps, pacer, compose, r, until) for r in todo]
        try:
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - re-raised below, once the accepted ones are recorded
                    error = error or exc
                    _cancel(futures)
                    continue
                outcomes.append(outcome)
                pending += [outcome] if outcome.status != DeliveryStatus.RETRY else []
                if len(pending) >= RECORD_CHUNK:
                    record(deps, release_id, notice, pending)
                    pending = []
        finally:
            _cancel(futures)  # a kill mid-batch (modelled by a BaseException) stops the rest too
    if error is not None:
        record(deps, release_id, notice, pending)
        raise error
    _written(pending, at=_ticks(deps)())  # within the one request that finishes the batch
    return outcomes, pending


def _pacer(deps: Deps) -> Pacer:
    """This invocation's share of SES's rate, paced by the delivery's clock (sleeping in it, if virtual)."""
    if deps.clock is None:
        return Pacer.share(quota(deps), deps.share, clock=_ticks(deps))
    return Pacer.share(quota(deps), deps.share, clock=deps.clock.monotonic, sleep=deps.clock.sleep)


def _stop_at(deps: Deps) -> float | None:
    """When (``time.monotonic``) to stop starting sends: a safety margin before the function's timeout."""
    if deps.remaining_ms is None:
        return None
    left = deps.remaining_ms() / 1000
    return _ticks(deps)() + left - min(DEADLINE_MARGIN_SECONDS, left / 4)


def _cancel(futures: list[Future[DeliveryOutcome]]) -> None:
    for f in futures:
        f.cancel()


def record(deps: Deps, release_id: str, notice: str, outcomes: list[DeliveryOutcome]) -> None:
    if not outcomes:
        return
    deps.table.record_deliveries(release_id, notice, outcomes)
    _written(outcomes, at=_ticks(deps)())


def _written(outcomes: list[DeliveryOutcome], *, at: float) -> None:
    """The duplicate window of each accepted send: from SES's acceptance to its record's write."""
    for o in outcomes:
        if "accepted" in o.extra:
            o.extra["window"] = at - o.extra["accepted"]
