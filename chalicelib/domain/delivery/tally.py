"""The counts of a delivery batch's outcomes: by status, for the batch's finish and its log, and the release
report's counters (per tier, role and status, and the time-to-notice histogram) that the finish adds.
"""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.domain.core.models import DeliveryOutcome
from chalicelib.domain.core.states import DeliveryStatus, Role
from chalicelib.domain.reports import release_report as reports


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
