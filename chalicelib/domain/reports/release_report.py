"""A release's report: per tier, subscribers notified / failed / skipped / suppressed, on-call and CSM copies apart,
downloads (clicks) and distinct downloaders, recalls, and the time to notice (p50, p95, max seconds from
publishing to SES accepting a subscriber's notice); the time to the first download.

Read from the release's counters (``Table.tallies``), which delivery and the download path keep as they
write: O(tiers) whatever the audience, where reading every delivery record would outgrow API Gateway's
29 seconds at a million recipients. The time to notice comes from a histogram in the same counters: each
delivery batch adds, per tier, how many notices SES accepted within each bucket of seconds after publishing
(``<tier>#after#<upper edge>``). The edges grow by a quarter, rounded up to whole seconds (1, 2, 3, 4, 5, 6,
8, 10, 12, 15, 19, … s, to about 9 days): a percentile read from them is the upper edge of its bucket, at
most 25 % + 1 s above the true value (and ``published_at`` is kept to the second: up to 1 s more).
"""

from __future__ import annotations

import bisect
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.core.entitlements import TIERS
from chalicelib.domain.core.models import Release
from chalicelib.domain.core.states import DeliveryStatus, Notice, Role

if TYPE_CHECKING:
    from chalicelib.domain.reports.ports import ReportStore


# Delivery outcomes as the report names them: "skipped", opted out since fan-out; "suppressed", an address on
# the suppression list (``suppressed`` once counted both: their sum is that older figure).
_OUTCOMES: dict[str, str] = {
    DeliveryStatus.SENT: "notified",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.SKIPPED: "skipped",
    DeliveryStatus.SUPPRESSED: "suppressed",
}
_COPIES: dict[str, str] = {Role.ONCALL: "oncall_copies", Role.CSM: "csm_copies"}
_COUNTS = ("notified", "failed", "skipped", "suppressed", "oncall_copies", "csm_copies", "copies_failed",
           "downloaded", "downloaders", "recalled")  # fmt: skip
AFTER = "after"  # the role slot of a histogram counter: <tier>#after#<edge>
# Upper edges of the seconds-after-publishing buckets: each a quarter more than the last, to about 9 days.
EDGES: tuple[int, ...] = tuple(sorted({math.ceil(1.25**k) for k in range(62)}))
PRECISION = (
    "the upper edge of a bucket growing by 25 %: at most 25 % + 1 s above the true value, and up to 1 s "
    "more as published_at is kept to the second"
)


def bucket(seconds: float) -> int:
    """The upper edge of the bucket ``seconds`` falls in (the last edge holds anything later)."""
    return EDGES[min(bisect.bisect_left(EDGES, max(seconds, 0.0)), len(EDGES) - 1)]


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def after_publishing(published_at: str | None, accepted_at: list[float]) -> dict[int, int]:
    """How many acceptances fall in each bucket of seconds after ``published_at`` (none without it)."""
    if not published_at:
        return {}
    start = _epoch(published_at)
    counts: dict[int, int] = {}
    for at in accepted_at:
        edge = bucket(at - start)
        counts[edge] = counts.get(edge, 0) + 1
    return counts


def percentile(histogram: dict[int, int], q: float) -> int | None:
    """The ``q`` quantile (0 < q <= 1) of a histogram, as the upper edge of the bucket it falls in."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = math.ceil(q * total), 0
    for edge in sorted(histogram):
        seen += histogram[edge]
        if seen >= rank:
            return edge
    return max(histogram)


def _empty() -> dict[str, int]:
    return dict.fromkeys(_COUNTS, 0)


def _add_delivery(tier: dict[str, int], role: str, status: str, n: int) -> None:
    if role in _COPIES:
        if status == DeliveryStatus.SENT:
            tier[_COPIES[role]] += n
        elif status == DeliveryStatus.FAILED:
            tier["copies_failed"] += n
        return
    outcome = _OUTCOMES.get(status)
    if outcome:
        tier[outcome] += n


def histograms(tallies: dict[str, dict[str, int]]) -> dict[str, dict[int, int]]:
    """Per tier, accepted subscriber notices per bucket of seconds after publishing."""
    found: dict[str, dict[int, int]] = {t: {} for t in TIERS}
    for name, n in tallies.get(Notice.RELEASE, {}).items():
        tier, role, edge = name.split("#")
        if role == AFTER:
            found.setdefault(tier, {})[int(edge)] = n
    return found


def _counts(tallies: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    tiers: dict[str, dict[str, int]] = {t: _empty() for t in TIERS}
    for name, n in tallies.get(Notice.RELEASE, {}).items():
        tier, role, status = name.split("#")
        if role != AFTER:
            _add_delivery(tiers.setdefault(tier, _empty()), role, status, n)
    for name, n in tallies.get(Notice.RECALL, {}).items():
        tier, role, status = name.split("#")
        if status == DeliveryStatus.SENT and role != AFTER:
            tiers.setdefault(tier, _empty())["recalled"] += n
    for name, n in tallies.get("download", {}).items():
        tier, count = name.split("#")
        if count in ("downloaded", "downloaders"):
            tiers.setdefault(tier, _empty())[count] += n
    return tiers


def _time_to_notice(histogram: dict[int, int]) -> dict[str, int | None]:
    return {"p50": percentile(histogram, 0.5), "p95": percentile(histogram, 0.95), "max": percentile(histogram, 1.0)}


def report(table: ReportStore, release: Release) -> dict[str, Any]:
    tallies = table.tallies(release.release_id)
    tiers: dict[str, dict[str, Any]] = dict(_counts(tallies))
    totals: dict[str, Any] = {c: sum(t[c] for t in tiers.values()) for c in _COUNTS}
    spread = histograms(tallies)
    everyone: dict[int, int] = {}
    for tier, histogram in spread.items():
        tiers.setdefault(tier, _empty())["time_to_notice_s"] = _time_to_notice(histogram)
        # The histogram itself (bucket upper edge in seconds -> notices accepted): what the report page draws.
        tiers[tier]["accepted_after_s"] = {str(edge): histogram[edge] for edge in sorted(histogram)}
        for edge, n in histogram.items():
            everyone[edge] = everyone.get(edge, 0) + n
    totals["time_to_notice_s"] = _time_to_notice(everyone)
    first = table.first_download(release.release_id)
    # Batches delivery gave up on (their recipients not notified yet), with why: a human looks at them.
    failed = table.failed_batches(release.release_id)
    return {
        "id": release.release_id,
        "status": release.status,
        "published_at": release.published_at,
        "totals": totals,
        "tiers": tiers,
        "time_to_first_download_s": (
            round(_epoch(first) - _epoch(release.published_at)) if first and release.published_at else None
        ),
        "time_precision": PRECISION,
        "failed_batches": [f.public() for f in failed],
    }


def delivery_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    """The report's counts of some delivery records (one account's, for its review): as delivery tallies them."""
    counts = _empty()
    for r in records:
        _add_delivery(counts, str(r.get("role", "subscriber")), str(r.get("status", "")), 1)
    return counts
