"""A release's report: notified, failed, suppressed, downloaded (and recalled), in total and per tier.

Read from the release's counters (``Table.tallies``), which delivery and the download path keep as they
write: O(tiers) whatever the audience, where reading every delivery record would outgrow API Gateway's
29 seconds at a million recipients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.entitlements import TIERS
from chalicelib.models import Release

if TYPE_CHECKING:  # adapters (and boto3 under them) load when wiring makes them, not at import
    from chalicelib.store import Table


# Delivery outcomes as the report names them: "skipped" (opted out since fan-out, or a suppressed address).
_OUTCOMES = {"sent": "notified", "failed": "failed", "skipped": "suppressed", "suppressed": "suppressed"}
_COUNTS = ("notified", "failed", "suppressed", "downloaded", "downloaders", "recalled")


def _empty() -> dict[str, int]:
    return dict.fromkeys(_COUNTS, 0)


def report(table: Table, release: Release) -> dict[str, Any]:
    tiers: dict[str, dict[str, int]] = {t: _empty() for t in TIERS}
    tallies = table.tallies(release.release_id)
    for name, n in tallies.get("release", {}).items():
        tier, _role, status = name.split("#")
        outcome = _OUTCOMES.get(status)
        if outcome:
            tiers.setdefault(tier, _empty())[outcome] += n
    for name, n in tallies.get("recall", {}).items():
        tier, _role, status = name.split("#")
        if status == "sent":
            tiers.setdefault(tier, _empty())["recalled"] += n
    for name, n in tallies.get("download", {}).items():
        tier, count = name.split("#")
        if count in ("downloaded", "downloaders"):
            tiers.setdefault(tier, _empty())[count] += n
    totals = {c: sum(t[c] for t in tiers.values()) for c in _COUNTS}
    # Batches delivery gave up on (their recipients not notified yet), with why: a human looks at them.
    failed = table.failed_batches(release.release_id)
    return {"id": release.release_id, "status": release.status, "totals": totals, "tiers": tiers,
            "failed_batches": failed}  # fmt: skip
