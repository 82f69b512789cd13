"""``GET /releases/{id}/report`` at a large audience: the report reads the release's counters, never
its delivery records, so it answers in well under a second at 100,000 recipients on the local stack.

Writes, on a moto server of its own, a release's delivery records (``--n`` recipients, a third per tier)
and its counters the way delivery writes them (``Table.finish_batch`` once per batch of 49, in the same
transaction), then times the report through the real route (median of ``--repeat``). ``--compare``
also times one read of every delivery record, which is what a report used to cost (moto's Query walks
the whole partition for every page, so this part grows with N locally; DynamoDB's grows with the pages).
Prints one JSON line; not a timed test (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.downloads import _local_aws, _settings

BATCH = 49
TIERS = ("elite", "premium", "xtreme")


def _recipients(n: int) -> list[Any]:
    from chalicelib.domain.core.models import Recipient

    return [Recipient(f"{TIERS[i % 3]}-a{i // 100}", f"s{i}", f"u{i}@bench.example", TIERS[i % 3]) for i in range(n)]


def _load(table: Any, release_id: str, n: int, *, records: bool) -> None:
    from chalicelib.domain.core.models import DeliveryOutcome
    from chalicelib.domain.core.states import DeliveryStatus
    from chalicelib.domain.delivery import tally as delivery_tally

    people = _recipients(n)
    for start in range(0, n, BATCH):
        outcomes = [
            DeliveryOutcome(r, DeliveryStatus.SENT, message_id=f"m{start}") for r in people[start : start + BATCH]
        ]
        if records:
            table.record_deliveries(release_id, "release", outcomes)
        batch = f"release#0-{start // BATCH}"
        table.claim_batch(release_id, batch, lease_seconds=60)
        table.finish_batch(release_id, batch, {"sent": len(outcomes)}, tally=delivery_tally.tally_of(outcomes))


def run(n: int, repeat: int, *, records: bool, compare: bool) -> dict[str, Any]:
    import boto3
    from chalice.test import Client

    import app as app_module
    from chalicelib.adapters import wiring
    from chalicelib.domain.core.models import Release, now_iso
    from chalicelib.domain.core.states import ReleaseStatus
    from patchcast_tools.local import issuer
    from patchcast_tools.local.provision import provision

    state = Path(tempfile.mkdtemp(prefix="patchcast-bench-report-"))
    keys = issuer.ensure_keys(state)
    settings = _settings()
    settings = type(settings)(
        **{
            **settings.__dict__,
            "jwt_issuer": issuer.ISSUER,
            "jwt_audience": issuer.AUDIENCE,
            "jwks_url": keys.resolve().as_uri(),
        }
    )
    with _local_aws():
        provision("bench", sender=settings.sender, session=boto3.session.Session(region_name="us-east-1"))
        w = wiring.Wiring(settings)
        release = Release(
            "rel-report", "M3", "1.0", "patch", 2, "ga", "Fix", "Fixes", ReleaseStatus.PUBLISHED, now_iso(), "bench"
        )
        w.table.create_release(release)
        started = time.perf_counter()
        _load(w.table, release.release_id, n, records=records)
        load_s = time.perf_counter() - started
        previous = wiring._current
        wiring.use(w)
        headers = {"Authorization": f"Bearer {issuer.mint(state, role='release-engineer')}"}
        timings, body = [], {}
        try:
            with Client(app_module.app, stage_name="local") as client:
                for _ in range(repeat):
                    started = time.perf_counter()
                    resp = client.http.get(f"/releases/{release.release_id}/report", headers=headers)
                    timings.append(time.perf_counter() - started)
                    assert resp.status_code == 200, resp.body
                    body = json.loads(resp.body)
        finally:
            wiring.use(previous)
        result: dict[str, Any] = {
            "recipients": n,
            "delivery_records": n if records else 0,
            "load_s": round(load_s, 1),
            "report_ms_median": round(1000 * statistics.median(timings), 1),
            "report_ms_max": round(1000 * max(timings), 1),
            "notified": body["totals"]["notified"],
        }
        if compare and records:
            started = time.perf_counter()
            read = sum(1 for _ in w.table.delivery_outcomes(release.release_id, "release"))
            result["read_every_record_s"] = round(time.perf_counter() - started, 1)
            result["records_read"] = read
    assert result["notified"] == n, result
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="recipients (default 100,000)")
    parser.add_argument("--repeat", type=int, default=5, help="report requests to time (median)")
    parser.add_argument("--no-records", action="store_true", help="write the counters only, not the records")
    parser.add_argument("--compare", action="store_true", help="also time reading every delivery record once")
    args = parser.parse_args()
    print(json.dumps(run(args.n, args.repeat, records=not args.no_records, compare=args.compare)))


if __name__ == "__main__":
    import os

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    main()
