"""``make bench`` at a few hundred subscribers: it runs and the pipeline is exactly once (not its speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from patchcast_tools.local.stack import ROOT


def test_the_benchmark_delivers_exactly_once_to_every_eligible_subscriber(tmp_path: Path) -> None:
    # GIVEN a clean environment, as `make bench` has (the bench starts its own local AWS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PATCHCAST_", "POWERTOOLS_"))}
    env["PATCHCAST_STATE_DIR"] = str(tmp_path)

    # WHEN it runs on 300 subscribers, in two rounds
    args = ["--n", "300", "--out", str(tmp_path), "--naive", "20", "--ceiling", "100", "--rounds", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )

    # THEN it prints the table and writes JSON in which nobody was missed, doubled or wrongly emailed
    assert done.returncode == 0, done.stderr[-3000:]
    assert "local SES ceiling" in done.stdout and "naive baseline" in done.stdout
    result = json.loads(next(tmp_path.glob("delivery-300-*.json")).read_text())
    p = result["pipeline"]
    assert p["eligible"] > 0 and p["emails"] == p["eligible"]
    assert (p["duplicates"], p["missing"], p["ineligible_emailed"]) == (0, 0, 0)
    assert p["requests_per_email"] > 1 and result["cold_start"]["import_boto3_ms"] > 0
    # ... with DynamoDB served by a local AWS process of its own (provisioned there), CPU measured per email
    assert result["dynamodb_process"] is True
    assert p["local_aws_cpu_ms_per_email"] > 0 and p["client_cpu_ms_per_email"] > 0
    # ... and its digest run sent each digest subscriber one digest, nobody else
    d = result["digests"]
    assert d["digest_subscribers"] > 0 and d["digest_emails"] == d["digest_subscribers"]
    assert (d["duplicates"], d["missing"], d["not_digested_emailed"], d["sent_by_second_run"]) == (0, 0, 0, 0)
    assert "requests/digest email" in done.stdout
    # ... and each round, each measurement on a local AWS of its own (new processes and state), was exactly once
    rounds = result["rounds"]
    assert len(rounds) == 2 and result["median_round"] in (1, 2)
    for r in rounds:
        assert r["emails"] == r["eligible"] > 0
        assert (r["duplicates"], r["missing"], r["ineligible_emailed"]) == (0, 0, 0)
        assert 1 < r["requests_per_email"] < 1.5 and r["ceiling_cpu_ms_per_email"] > 0
    assert "the median of 2 rounds" in done.stdout
