"""The scheduled mail (CSM reviews, support warnings) planned from the due index and sent in paced batches,
as a release is delivered (docs/reviews.md, "How the schedules send").

- ``plan``: the schedule's invocation (hourly) reads one page of the due index, leases each item (its sort
  key moves to the lease's end, so the next page or run skips it), sends a message per ``BATCH_ACCOUNTS``
  accounts to the scheduled queue and, when the page was full, a message to plan the next page.
- ``run``: one message, in the sending function: each account's review or warning once (the claims of
  ``review.send_one`` / ``support_warnings.send_one``), every email paced to the function's share of
  ``MaxSendRate``. Throttled, paused or short of time, it gives the account's claim back and puts it and the
  rest on the queue again (throttled: in ``RETRY_SECONDS``); a crash returns the message to the queue, and
  what was sent is found done; an account that fails on its own is logged and left to its lease (planned
  again later, and parked after ``MAX_PLANS`` plans: a poison account never loops).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.domain.accounts import due
from chalicelib.domain.accounts.due import ScheduledBatch
from chalicelib.domain.accounts.ports import Deps
from chalicelib.domain.core.errors import Paused, TransientError
from chalicelib.domain.mail.pacing import Pacer, SendQuota
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.accounts.ports import SchedulesStore
    from chalicelib.domain.core.ports import Queues

PAGE = 100  # due items planned per invocation
# A planned item comes back to the index after this if it was not sent. Longer than a day's backlog: 10 k Elite
# reviews at on_scheduled's share of 14/s (2 x 14/23 = 1.2/s) take 2.3 h; a re-plan counts towards MAX_PLANS.
LEASE = timedelta(hours=12)
RETRY_SECONDS = 60  # a throttled batch is tried again this soon
PAUSED_SECONDS = 900  # SES paused the account's sending: SQS's longest delay
DEADLINE_MARGIN_SECONDS = 15.0  # sends stop this long (at most a quarter of the time left) before the timeout


class OutOfTime(TransientError):
    """The next send's slot comes after the function's deadline."""


class PacedMailer:
    """The mailer as the review and warning senders use it, each send held to this invocation's share of
    ``MaxSendRate`` and refused (``OutOfTime``) when its slot would come after the deadline."""

    def __init__(self, deps: Deps) -> None:
        quota = deps.quota.get() if deps.quota else SendQuota(0.0)
        self.pacer = Pacer.share(quota, deps.share, clock=deps.clock)
        self.mailer, self.sender, self.until = deps.mailer, deps.mailer.sender, _stop_at(deps)

    def send_raw(self, to: str, raw: bytes) -> str:
        if not self.pacer.wait(self.until):
            raise OutOfTime("the next send would come after the function's deadline")
        return self.mailer.send_raw(to, raw)


def _stop_at(deps: Deps) -> float | None:
    if deps.remaining_ms is None:
        return None
    left = deps.remaining_ms() / 1000
    return deps.clock() + left - min(DEADLINE_MARGIN_SECONDS, left / 4)


def plan(table: SchedulesStore, queues: Queues, kind: str, now: datetime) -> int:
    """One page of what is due of ``kind``: leased, and sent to the scheduled queue in batches. Answers how many."""
    found = table.due_page(kind, now, limit=PAGE)
    taken = [a for a, seen in found if table.lease_due(kind, a, seen, now + LEASE)]
    size = due.BATCH_ACCOUNTS
    batches = [ScheduledBatch(kind, tuple(taken[i : i + size])) for i in range(0, len(taken), size)]
    if len(found) == PAGE:  # more may be due: the next page in an invocation of its own
        batches.append(ScheduledBatch(kind, plan=True))
    if batches:
        queues.send_scheduled([b.to_json() for b in batches])
    logger.info("scheduled mail planned", extra={"schedule": kind, "due": len(found), "planned": len(taken)})
    return len(taken)


def run(deps: Deps, batch: ScheduledBatch, *, now: datetime | None = None) -> dict[str, int]:
    """One message of the scheduled queue: a page to plan, or a batch of accounts to send to."""
    now = now or datetime.now(UTC)
    if batch.plan:
        return {"planned": plan(deps.table, deps.queues, batch.kind, now)}
    from chalicelib.domain.accounts.scheduled_send import SENDERS

    mailer, send = PacedMailer(deps), SENDERS[batch.kind]
    outcomes: Counter[str] = Counter()
    left = list(batch.accounts)
    while left:
        try:
            outcomes[send(deps, mailer, left[0], now)] += 1
        except TransientError as exc:  # throttled, paused or out of time: this account and the rest again
            delay = 0 if isinstance(exc, OutOfTime) else PAUSED_SECONDS if isinstance(exc, Paused) else RETRY_SECONDS
            deps.queues.send_scheduled([batch.retry(left).to_json()], delay=delay)
            outcomes["requeued"] += len(left)
            break
        except Exception:  # noqa: BLE001 - this account alone: its lease plans it again, MAX_PLANS parks it
            logger.exception("scheduled mail not sent", extra={"schedule": batch.kind, "account_id": left[0]})
            outcomes["failed"] += 1
        left.pop(0)
    logger.info("scheduled batch", extra={"schedule": batch.kind, **outcomes})
    return dict(outcomes)
