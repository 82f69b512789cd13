"""Delivery of one batch: claim it, skip who was sent already, re-check opt-in with a consistent read,
build one MIME message per recipient, send them concurrently through SES paced to the account's rate,
record the outcomes as they arrive.

Transient failures (throttling) go back on the queue as a new delayed batch holding only the failed
recipients, and so do the recipients not reached before the function's timeout; a permanent rejection
(or a message that cannot be built) is recorded and never retried. A batch that fails as a whole is
given up after ``MAX_ATTEMPTS`` claims and its message goes to the DLQ. The only window for a duplicate
is a crash between SES accepting a message and its outcome being written (docs/delivery.md measures it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from chalicelib.domain import copies, mail, notice_template, reports
from chalicelib.domain.announced import AnnouncementMailStore, ThreadingStore
from chalicelib.domain.errors import Paused, Rejected, Throttled, TransientError
from chalicelib.domain.links import LinkMaker
from chalicelib.domain.messages import DeliveryBatch, MalformedMessage, retry_batch_id
from chalicelib.domain.models import Account, BatchClaim, DeliveryOutcome, Recipient, Release, Subscription
from chalicelib.domain.pacing import Pacer, QuotaCache, SendQuota
from chalicelib.domain.records import BatchState, DeliveryRecord, StuckBatch
from chalicelib.domain.states import (
    FOLLOW_UPS,
    ClaimStatus,
    DeliveryStatus,
    Notice,
    Role,
    SubscriptionStatus,
    notice_kind,
)
from chalicelib.observability import count_outcomes, logger

if TYPE_CHECKING:  # adapters (and boto3 under them) load when wiring makes them, not at import
    from chalicelib.adapters.mailer import Mailer
    from chalicelib.adapters.queues import Queues


LEASE_SECONDS = 120
RETRY_DELAY_SECONDS = 30
PAUSE_DELAY_SECONDS = 900  # SQS's longest delay: a paused account is re-asked every 15 minutes per message
WAIT_DELAY_SECONDS = 30
MAX_WAITS = 60  # a CSM copy waits at most ~30 minutes for the account's batches, then lists what is recorded
SEND_CONCURRENCY = 8
RECORD_CHUNK = 25  # BatchWriteItem's limit: write each full chunk while the rest are still sending
REDRIVE_AFTER_SECONDS = 2 * LEASE_SECONDS
MAX_REDRIVES = 5
RECALL = mail.RECALL
# Claims of one batch before it is given up: the delivery queues' maxReceiveCount (infra/template.py),
# so a batch re-enqueued as new messages (busy, re-driven) fails no more often than one SQS message would.
MAX_ATTEMPTS = 3
# Sends stop this long (at most a quarter of the time left) before the function's timeout, so that what
# was sent is recorded and the rest re-enqueued before Lambda kills the invocation.
DEADLINE_MARGIN_SECONDS = 15.0
STOPPED_FOR_DEADLINE = "not sent before the function's timeout: re-enqueued"


class DeliveryStore(ThreadingStore, AnnouncementMailStore, Protocol):
    """What delivering a batch (and re-driving a stuck one) needs from the store: the batch's claim, the
    consistent re-check, the delivery records, and a recall's context."""

    def claim_batch(
        self,
        release_id: str,
        batch_id: str,
        *,
        lease_seconds: int,
        max_attempts: int | None = None,
        queue: str = "",
        body: dict[str, Any] | None = None,
    ) -> BatchClaim: ...
    def finish_batch(
        self,
        release_id: str,
        batch_id: str,
        counts: dict[str, int],
        *,
        tally: Mapping[str, int] | None = None,
        records: Sequence[DeliveryOutcome] = (),
    ) -> bool: ...
    def note_batch_error(self, release_id: str, batch_id: str, error: str, *, lease_until: int) -> None: ...
    def fail_batch(self, release_id: str, batch_id: str, error: str) -> None: ...
    def batch_states(self, release_id: str, batch_ids: Sequence[str]) -> dict[str, BatchState]: ...
    def stuck_batches(self, now: int, *, limit: int = 100) -> list[StuckBatch]: ...
    def mark_redriven(self, stuck: StuckBatch, *, next_check: int) -> bool: ...
    def delivery_context(
        self, release_id: str, notice: str, recipients: Sequence[Recipient]
    ) -> tuple[Release | None, dict[str, Subscription], set[str], set[str]]: ...
    def recall_context(
        self, release: Release, recipients: Sequence[Recipient]
    ) -> tuple[dict[str, str], dict[str, Account], Release | None]: ...
    def account_deliveries(self, release_id: str, notice: str, account_id: str) -> Iterator[DeliveryRecord]: ...
    def record_deliveries(self, release_id: str, notice: str, outcomes: Sequence[DeliveryOutcome]) -> None: ...


class BatchFailed(Exception):
    """A batch given up after its attempts: raised so that its message goes to the DLQ (and its alarm)."""


@dataclass(frozen=True)
class Deps:
    table: DeliveryStore
    mailer: Mailer
    queues: Queues
    urls: LinkMaker
    link_days: int
    quota: QuotaCache | None = None
    share: float = 1.0  # the fraction of the account's MaxSendRate this invocation may use (settings.send_share)
    remaining_ms: Callable[[], int] | None = None  # the Lambda context's get_remaining_time_in_millis
    region: str = "us-east-1"  # SES's region: the Message-ID it gives a message, which a recall replies to


Compose = Callable[[Recipient], bytes]


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
    sent.extra["accepted"] = time.monotonic()
    sent.extra["accepted_at"] = time.time()  # the report's time to notice: seconds from publishing
    return sent


def _composer(deps: Deps, release: Release, notice: str, notified: list[str], todo: list[Recipient]) -> Compose:
    if notice == RECALL:
        from chalicelib.domain import recall  # only recall batches need it (and what it imports)

        return recall.composer(
            deps.table,
            deps.urls,
            sender=deps.mailer.sender,
            region=deps.region,
            link_days=deps.link_days,
            release=release,
            recipients=todo,
        )
    if notice.startswith(Notice.ANNOUNCE):
        from chalicelib.domain import announce_delivery  # only announcements' batches need it

        return announce_delivery.composer(deps.table, deps.urls, sender=deps.mailer.sender, region=deps.region,
                                          announcement_id=release.release_id, recipients=todo,
                                          notified=notified)  # fmt: skip
    expires = int(time.time()) + deps.link_days * 86400
    sender, until = deps.mailer.sender, datetime.fromtimestamp(expires, UTC)
    notice_for = notice_template.NoticeTemplate(
        mail.NOTICES[notice], sender=sender, release=release, expires=until, download=bool(release.object_key)
    )

    def compose(r: Recipient) -> bytes:
        if r.role == Role.ONCALL:
            return copies.oncall_copy(sender=sender, to=r.email, release=release, account_id=r.account_id)
        if r.role == Role.CSM:
            return copies.csm_copy(
                sender=sender, to=r.email, release=release, account_id=r.account_id, notified=notified
            )
        links = mail.Links(
            download=deps.urls.download(r.account_id, r.subscription_id, release.release_id, expires=expires)
            if release.object_key
            else None,
            unsubscribe=deps.urls.unsubscribe(r.account_id, r.subscription_id),
            expires=until,
        )
        return notice_for.render(r.email, links)

    if release.announcement_id:  # its notice threads under the announcement, for those who got that
        from chalicelib.domain import announcements

        return announcements.threaded(deps.table, release, todo, deps.region, compose)
    return compose


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


def _still_wanted(sub: Subscription | None, release: Release, notice: str) -> bool:
    if notice_kind(notice) in FOLLOW_UPS:  # whoever got the first, preferences as now, unless they left
        return sub is not None and sub.status == SubscriptionStatus.ACTIVE
    return sub is not None and sub.wants(
        product=release.product, kind=release.kind, severity=release.severity, channel=release.channel,
        applies_to=release.applies_to,
    )  # fmt: skip


def _partition(
    recipients: list[Recipient],
    already: set[str],
    subs: dict[str, Subscription],
    suppressed: set[str],
    release: Release,
    notice: str = Notice.RELEASE,
) -> tuple[list[Recipient], list[DeliveryOutcome]]:
    """Who to send to now, and the outcomes already known (opted out or suppressed since fan-out; for a
    recall, only unsubscribed or suppressed since the notice)."""
    todo: list[Recipient] = []
    skipped: list[DeliveryOutcome] = []
    for r in recipients:
        sub = subs.get(f"{r.account_id}#{r.subscription_id}")
        if r.key in already:
            continue
        if r.email.lower() in suppressed or (sub is not None and sub.status == SubscriptionStatus.SUPPRESSED):
            skipped.append(DeliveryOutcome(r, DeliveryStatus.SUPPRESSED, detail="address suppressed"))
        elif r.role == Role.SUBSCRIBER and not _still_wanted(sub, release, notice):
            skipped.append(DeliveryOutcome(r, DeliveryStatus.SKIPPED, detail="no longer subscribed"))
        else:
            todo.append(r)
    return todo, skipped


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


def _quota(deps: Deps) -> SendQuota:
    return deps.quota.get() if deps.quota else SendQuota(0.0)


def _unfinished(deps: Deps, release_id: str, notice: str, after: Iterable[str]) -> list[str]:
    """Of the batches a CSM copy waits for (and the retry batches they spawned), those not finished."""
    pending, waiting = list(after), []
    while pending:
        states = deps.table.batch_states(release_id, [f"{notice}#{b}" for b in pending])
        successors = []
        for b in pending:
            state = states.get(f"{notice}#{b}")
            if state is None or not state.done:
                waiting.append(b)
            elif state.retried:
                successors.append(retry_batch_id(b))
        pending = successors
    return waiting


def _notified(deps: Deps, release_id: str, notice: str, recipients: list[Recipient]) -> list[str]:
    if notice_kind(notice) in FOLLOW_UPS:
        return []  # a CSM's recall lists nobody: no Query of the account's deliveries
    accounts = {r.account_id for r in recipients if r.role == Role.CSM}
    return [
        f"{d.email} ({d.role})"
        for a in sorted(accounts)
        for d in deps.table.account_deliveries(release_id, notice, a)
        if d.status == DeliveryStatus.SENT and d.role != Role.CSM
    ]


def _send_all(
    deps: Deps, release_id: str, notice: str, todo: list[Recipient], compose: Compose
) -> tuple[list[DeliveryOutcome], list[DeliveryOutcome]]:
    """Send concurrently; write outcomes in chunks as they complete, so a crash loses as few as possible.
    Answers every outcome, and the last chunk's, not written yet: the batch's finish writes them in its
    own transaction (one request fewer per batch than a BatchWriteItem of their own).

    Sends stop before the function's deadline (the rest come back as ``retry``). An unexpected error
    stops the sends not started yet, records what SES accepted, then raises.
    """
    pacer = Pacer.share(_quota(deps), deps.share)
    until = _stop_at(deps)
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
                    _record(deps, release_id, notice, pending)
                    pending = []
        finally:
            _cancel(futures)  # a kill mid-batch (modelled by a BaseException) stops the rest too
    if error is not None:
        _record(deps, release_id, notice, pending)
        raise error
    _written(pending, at=time.monotonic())  # within the one request that finishes the batch
    return outcomes, pending


def _stop_at(deps: Deps) -> float | None:
    """When (``time.monotonic``) to stop starting sends: a safety margin before the function's timeout."""
    if deps.remaining_ms is None:
        return None
    left = deps.remaining_ms() / 1000
    return time.monotonic() + left - min(DEADLINE_MARGIN_SECONDS, left / 4)


def _cancel(futures: list[Future[DeliveryOutcome]]) -> None:
    for f in futures:
        f.cancel()


def _record(deps: Deps, release_id: str, notice: str, outcomes: list[DeliveryOutcome]) -> None:
    if not outcomes:
        return
    deps.table.record_deliveries(release_id, notice, outcomes)
    _written(outcomes, at=time.monotonic())


def _written(outcomes: list[DeliveryOutcome], *, at: float) -> None:
    """The duplicate window of each accepted send: from SES's acceptance to its record's write."""
    for o in outcomes:
        if "accepted" in o.extra:
            o.extra["window"] = at - o.extra["accepted"]


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
    todo, outcomes = _partition(recipients, already, subs, suppressed, release, notice)
    notified = _notified(deps, release_id, notice, todo) if any(r.role == Role.CSM for r in todo) else []
    _record(deps, release_id, notice, outcomes)
    sent, unrecorded = _send_all(deps, release_id, notice, todo, _composer(deps, release, notice, notified, todo))
    outcomes += sent
    retry = [o for o in outcomes if o.status == DeliveryStatus.RETRY]
    if retry:
        _requeue(deps, critical, batch, retry)
        if any(o.extra.get("paused") for o in retry) and deps.quota:
            deps.quota.mark_paused()
    for status, n in outcomes_by_status(outcomes).items():
        counts[status] = counts.get(status, 0) + n
    counts["window_ms"] = int(1000 * max((o.extra.get("window", 0.0) for o in outcomes), default=0.0))
    published_at = release.published_at if notice == Notice.RELEASE else None
    return Delivered(counts, tally_of(outcomes, published_at=published_at), unrecorded)


def run(deps: Deps, batch: DeliveryBatch, *, critical: bool = False) -> dict[str, int]:
    """Deliver one batch from the delivery queue (``critical``: the severity-1 one, where it goes back to)."""
    release_id, notice = batch.release_id, batch.notice
    if notice_kind(notice) not in mail.SENDABLE:
        raise MalformedMessage(f"unknown notice kind {notice!r}")  # a poison message: let it reach the DLQ
    if not _quota(deps).sending_enabled:
        _postpone(deps, critical, batch, PAUSE_DELAY_SECONDS)
        logger.warning("SES sending is paused: batch postponed", extra={"release_id": release_id})
        return {"paused": 1}
    if batch.after and batch.waits < MAX_WAITS and _unfinished(deps, release_id, notice, batch.after):
        _postpone(deps, critical, replace(batch, waits=batch.waits + 1), WAIT_DELAY_SECONDS)
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


def clock() -> float:
    """Now, for the reconciler; a seam so a test can run the scheduled handler as if the lease had run out."""
    return time.time()


def reconcile(table: DeliveryStore, queues: Queues, *, now: int | None = None) -> int:
    """Re-drive batches claimed but never finished (the invocation died): their message is in the claim."""
    now = int(clock()) if now is None else now
    redriven = 0
    for stuck in table.stuck_batches(now):
        if not table.mark_redriven(stuck, next_check=now + REDRIVE_AFTER_SECONDS):
            continue  # another reconciler run, or the batch finished meanwhile
        if stuck.redrives >= MAX_REDRIVES or not stuck.queue or not stuck.body:
            logger.error("batch stuck beyond re-drives: look at it by hand", extra=_ids(stuck))
            continue
        try:
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


def outcomes_by_status(outcomes: Iterable[DeliveryOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts


def tally_of(outcomes: Iterable[DeliveryOutcome], *, published_at: str | None = None) -> dict[str, int]:
    """The report's counters of a batch: recorded outcomes per tier, role and status (a transient failure
    is counted by the retry batch that settles it), and with ``published_at`` the subscribers' notices SES
    accepted per tier and bucket of seconds after publishing (``reports.after_publishing``)."""
    tally: dict[str, int] = {}
    accepted: dict[str, list[float]] = {}
    for o in outcomes:
        if o.status != DeliveryStatus.RETRY:
            name = f"{o.recipient.tier or 'unknown'}#{o.recipient.role}#{o.status}"
            tally[name] = tally.get(name, 0) + 1
        if o.status == DeliveryStatus.SENT and o.recipient.role == Role.SUBSCRIBER and "accepted_at" in o.extra:
            accepted.setdefault(o.recipient.tier or "unknown", []).append(o.extra["accepted_at"])
    for tier, times in accepted.items():
        for edge, n in reports.after_publishing(published_at, times).items():
            tally[f"{tier}#{reports.AFTER}#{edge}"] = n
    return tally
