"""The CSM copy's wait for its account's batches (and the retry batches they spawned), and the list of the
account's contacts those batches notified, which the copy carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from chalicelib.domain.core.messages import DeliveryBatch, retry_batch_id
from chalicelib.domain.core.models import Recipient
from chalicelib.domain.core.states import FOLLOW_UPS, DeliveryStatus, Role, notice_kind

if TYPE_CHECKING:
    from chalicelib.domain.delivery.ports import Deps

WAIT_DELAY_SECONDS = 30
MAX_WAITS = 60  # a CSM copy waits at most ~30 minutes for the account's batches, then lists what is recorded


def waiting(deps: Deps, batch: DeliveryBatch) -> bool:
    """Whether the batch (a CSM copy) is to wait longer for the batches it lists in ``after``."""
    return bool(
        batch.after and batch.waits < MAX_WAITS and _unfinished(deps, batch.release_id, batch.notice, batch.after)
    )


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


def notified(deps: Deps, release_id: str, notice: str, recipients: list[Recipient]) -> list[str]:
    if notice_kind(notice) in FOLLOW_UPS:
        return []  # a CSM's recall lists nobody: no Query of the account's deliveries
    accounts = {r.account_id for r in recipients if r.role == Role.CSM}
    return [
        f"{d.email} ({d.role})"
        for a in sorted(accounts)
        for d in deps.table.account_deliveries(release_id, notice, a)
        if d.status == DeliveryStatus.SENT and d.role != Role.CSM
    ]
