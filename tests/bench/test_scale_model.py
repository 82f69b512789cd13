"""The model of AWS (``bench/scale``, ``make scale``) at 10,000 subscriptions, inside the suite: the real
domain code, run on the model's SQS, Lambda, SES and DynamoDB in virtual time, keeps its invariants
(exactly once, nobody missing or beyond their entitlement, tiers in order, the floor plus overhead), so
that the model and the code cannot drift apart. docs/delivery.md, "The model of AWS", explains it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.scale import population, scenarios
from bench.scale.params import Params
from chalicelib.domain.delivery import send as delivery_send
from chalicelib.domain.delivery import waits

ROOT = Path(__file__).resolve().parents[2]
N = 10_000
RATE = 500.0


@pytest.fixture(scope="module")
def people() -> population.Population:
    return population.make(N)


@pytest.fixture(scope="module")
def release(people: population.Population) -> dict[str, Any]:
    return scenarios.run(scenarios.Scenario("release-500", RATE), people)


def exactly_once(result: dict[str, Any]) -> tuple[int, int, int]:
    return result["duplicates"], result["missing"], result["beyond_entitlement"]


def test_a_release_reaches_everyone_entitled_exactly_once(release: dict[str, Any]) -> None:
    assert release["emails"] > N // 2  # most of the audience is entitled and wants it
    assert exactly_once(release) == (0, 0, 0)
    assert release["dlq"] == {"on_fanout": 0, "on_deliver": 0, "on_deliver_critical": 0}


def test_within_a_severity_elite_before_premium_before_xtreme(release: dict[str, Any]) -> None:
    p50, p99 = release["p50_seconds"]["2"], release["p99_seconds"]["2"]
    assert p99["elite"] < p50["premium"] < p50["xtreme"]


def test_the_last_email_within_the_floor_of_the_queues_share_plus_overhead(release: dict[str, Any]) -> None:
    """A severity-2 notice has the normal delivery queue's functions only: their shares of MaxSendRate at
    their reserved concurrency are its floor; the CSM copies wait for their accounts in steps of 30 s."""
    p = Params()
    normal = RATE * p.share("on_deliver") * p.reserved("on_deliver")
    assert release["floor_seconds"] == pytest.approx(release["emails"] / RATE, abs=0.1)
    assert release["subscriber_emails"] / normal * 0.95 <= release["last_subscriber_seconds"]
    assert release["last_email_seconds"] <= release["emails"] / normal + waits.WAIT_DELAY_SECONDS + 15


def test_duplicated_messages_throttling_and_a_schedule_fired_twice_lose_nothing_and_send_nothing_twice(
    people: population.Population,
) -> None:
    faults = ("sqs_duplicates", "throttle_bursts", "schedule_fired_twice")
    result = scenarios.run(scenarios.Scenario("faults", RATE, faults=faults), people)
    assert result["throttles"] > 0 and sum(result["invocations"].values()) > 0
    assert exactly_once(result) == (0, 0, 0)


def test_an_invocation_killed_mid_batch_loses_nothing_and_resends_at_most_what_it_had_not_recorded(
    people: population.Population,
) -> None:
    # The known window (docs/delivery.md, 'What the model found'): outcomes SES accepted but not yet recorded
    # (less than a chunk) are sent again by the retry. Held to that bound here, so that it cannot grow unseen;
    # closing it (recording before the send) is open work, not a passing test.
    result = scenarios.run(scenarios.Scenario("kills", RATE, faults=("kill_odds",)), people)
    kills = result["errors"]["on_deliver"]["killed"]
    assert kills > 0
    assert result["missing"] == 0 and result["beyond_entitlement"] == 0
    assert result["duplicates"] <= kills * (delivery_send.RECORD_CHUNK - 1)


def test_a_recall_reaches_everyone_the_notice_reached_once(people: population.Population) -> None:
    result = scenarios.run(scenarios.Scenario("recall", RATE, kind="recall", channel="beta"), people)
    assert result["emails"] > 0
    assert exactly_once(result) == (0, 0, 0)


def test_the_model_puts_delivery_back_as_it_found_it(release: dict[str, Any]) -> None:
    assert delivery_send.ThreadPoolExecutor.__module__ == "concurrent.futures.thread"
    assert delivery_send.clock.__module__ == delivery_send.__name__


def test_the_targets_are_read_from_the_figures() -> None:
    figures = {
        "severity": 2,
        "p50_seconds": {"2": {"elite": 5.0, "premium": 12.0, "xtreme": 30.0}},
        "p99_seconds": {"2": {"elite": 13.0, "premium": 20.0, "xtreme": 40.0}},
        "last_email_seconds": 75.0,
        "target_seconds": 74.9,
        "duplicates": 0,
        "missing": 0,
        "beyond_entitlement": 1,
    }
    assert scenarios.targets_met(figures) == {"last_email": False, "tier_order": False, "exactly_once": False}
    figures.update(last_email_seconds=74.9, beyond_entitlement=0)
    figures["p99_seconds"]["2"]["elite"] = 11.9
    assert scenarios.targets_met(figures) == {"last_email": True, "tier_order": True, "exactly_once": True}


def test_make_scale_writes_the_report_the_issue_asks_for(tmp_path: Any) -> None:
    # As `make scale` runs it: a process of its own (its main sets the environment, e.g. metrics off, that the
    # rest of a test session must not inherit)
    args = ["--n", "300", "--rates", "500", "--only", "release-500", "--jobs", "1", "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [report] = list(tmp_path.glob("scale-*.json"))
    [scenario] = json.loads(report.read_text())["scenarios"]
    asked = ["name", "kind", "subscribers", "accounts", "max_send_rate", "floor_seconds", "last_email_seconds"]
    asked += ["emails", "duplicates", "missing", "beyond_entitlement", "throttles", "p50_seconds", "p99_seconds"]
    asked += ["requests_per_email", "peak_concurrency", "lambda_seconds_per_1000_emails"]
    assert set(asked) <= set(scenario)
    assert scenario["kind"] == "release" and scenario["subscribers"] == 300
    assert set(scenario["p50_seconds"]["2"]) == {"elite", "premium", "xtreme"}
    assert done.stdout.count("release-500 ") == 1
