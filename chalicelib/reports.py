"""A release's report: notified, failed, suppressed, downloaded (and recalled), in total and per tier."""

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
    tier_of: dict[str, str] = {}
    for d in table.delivery_outcomes(release.release_id, "release"):
        tier = str(d.get("tier") or "unknown")
        tier_of.setdefault(str(d["account_id"]), tier)
        outcome = _OUTCOMES.get(str(d.get("status")))
        if outcome:
            tiers.setdefault(tier, _empty())[outcome] += 1
    for d in table.delivery_outcomes(release.release_id, "recall"):
        if d.get("status") == "sent":
            tiers.setdefault(str(d.get("tier") or "unknown"), _empty())["recalled"] += 1
    seen: set[str] = set()
    for click in table.download_audit(release.release_id, fields="account_id, subscription_id"):
        # A download comes from a notified account, so its tier is the one its notice recorded.
        tier = tier_of.get(str(click["account_id"]), "unknown")
        counts = tiers.setdefault(tier, _empty())
        counts["downloaded"] += 1
        who = f"{click['account_id']}#{click.get('subscription_id', '')}"
        if who not in seen:
            seen.add(who)
            counts["downloaders"] += 1
    totals = {c: sum(t[c] for t in tiers.values()) for c in _COUNTS}
    # Batches delivery gave up on (their recipients not notified yet), with why: a human looks at them.
    failed = table.failed_batches(release.release_id)
    return {"id": release.release_id, "status": release.status, "totals": totals, "tiers": tiers,
            "failed_batches": failed}  # fmt: skip
