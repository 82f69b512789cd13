"""The scenarios of ``make scale`` and their figures: a release published by the schedule at a given
``MaxSendRate``, with or without faults, and a recall of it; each checked against the population's own
answer (exactly once, nobody missing, nobody beyond their entitlement) and timed in virtual seconds.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.scale import population as pop
from bench.scale.params import Params
from bench.scale.world import ENGINEER, World
from chalicelib.domain.core.entitlements import TIERS
from chalicelib.domain.core.models import Release, now_iso
from chalicelib.domain.core.states import ReleaseStatus
from chalicelib.domain.releases import recall

FAULTS: dict[str, Any] = {
    "sqs_duplicates": 0.05,  # one message in twenty delivered twice
    "kill_odds": 0.02,  # one delivery invocation in fifty killed mid-batch
    "throttle_bursts": ((20.0, 10.0), (120.0, 15.0)),  # SES refuses every send for 10 s, then 15 s
    "schedule_fired_twice": True,
}
ALLOWANCE_AT_500 = 60.0  # the target: the last email within emails / MaxSendRate + 60 s at 500/s


@dataclass(frozen=True)
class Scenario:
    name: str
    rate: float
    kind: str = "release"  # or "recall": the release's recall, once its notice is out
    severity: int = 2
    faults: tuple[str, ...] = ()  # the names of FAULTS injected
    channel: str = "ga"
    overrides: tuple[tuple[str, Any], ...] = ()  # other Params, by name


def standard(rates: list[float]) -> list[Scenario]:
    """The scenarios of ``make scale``, the most telling first (the report is written after each one)."""
    top = max(rates)
    return [
        Scenario(f"release-{top:g}", top),
        Scenario(f"release-faults-{top:g}", top, faults=tuple(FAULTS)),
        # a yanked beta (Elite's beta subscribers): a recall renders each message in full (recall.composer),
        # some 10x the CPU of a notice; a recall of everyone at a million would take the run past its budget
        Scenario(f"recall-beta-{top:g}", top, kind="recall", channel="beta"),
        *[Scenario(f"release-{r:g}", r) for r in sorted(rates, reverse=True) if r != top],
        Scenario(f"release-critical-{top:g}", top, severity=1),
    ]


def a_release(severity: int, channel: str = "ga") -> Release:
    return Release(
        f"r-sev{severity}", pop.PRODUCT, "10.1.7", "patch", severity, channel, "Fix for the scheduler",
        "Fixes a crash of the scheduler.", ReleaseStatus.SCHEDULED, now_iso(), "re-1",
        filename="m3-10.1.7.zip", object_key=f"uploads/r-sev{severity}/m3-10.1.7.zip",
        notify_at=now_iso(), applies_to=("10.1",),
    )  # fmt: skip


def run(scenario: Scenario, population: pop.Population, *, seed: int = 26) -> dict[str, Any]:
    started, cpu = time.monotonic(), time.process_time()
    faults = {name: FAULTS[name] for name in scenario.faults} | dict(scenario.overrides)
    params = Params(max_send_rate=scenario.rate, max_24h_send=4 * population.n + 1000, seed=seed, **faults)
    world = World(params, population)
    release = a_release(scenario.severity, scenario.channel)
    world.store.create_release(release)
    want = pop.expected(population, release)
    limit = 4 * len(want) / scenario.rate + 7200
    world.fire("publish_scheduled", twice=params.schedule_fired_twice)
    world.run_until_quiet(limit=limit)
    t0, notice, reached = 0.0, "release", want
    before = Phase.of(world)
    if scenario.kind == "recall":
        reached = {a.address for a in world.ses.accepted if a.notice == "release"}
        t0, notice = world.env.now, recall.RECALL
        world.call(lambda: recall.yank(world.db, world.sqs, ENGINEER, release.release_id, {"reason": "bad build"}))  # type: ignore[arg-type]
        world.run_until_quiet(limit=t0 + limit)
    else:
        before = Phase()
    out = figures(world, scenario, release, notice, t0, reached, before)
    out["targets_met"] = targets_met(out)
    spent = time.process_time() - cpu
    out.update(
        wall_seconds=round(time.monotonic() - started, 1),
        cpu_seconds=round(spent, 1),
        model_cpu_ms_per_email=round(1000 * spent / max(out["emails"], 1), 3),
    )
    return out


@dataclass
class Phase:
    """What the counters said when a phase began (a recall's figures leave the notice's out)."""

    requests: int = 0
    seconds: dict[str, float] | None = None
    throttles: int = 0

    @classmethod
    def of(cls, world: World) -> Phase:
        return cls(
            sum(world.counters.requests.values()) + _sqs_and_ses(world),
            {n: f.seconds for n, f in world.functions.items()},
            world.ses.throttles,
        )


def _sqs_and_ses(world: World) -> int:
    """ReceiveMessage and DeleteMessage per SQS invocation (batch size 1), and every SES call."""
    sqs = sum(2 * world.functions[f].invocations for f in world.queues)
    return sqs + world.ses.calls


def _percentiles(times: dict[str, list[float]]) -> tuple[dict[str, float], dict[str, float]]:
    p50, p99 = {}, {}
    for tier in sorted(times, key=lambda t: TIERS[t].rank):
        xs = sorted(times[tier])
        p50[tier] = round(statistics.median(xs), 1)
        p99[tier] = round(xs[min(len(xs) - 1, int(0.99 * len(xs)))], 1)
    return p50, p99


def figures(
    world: World, s: Scenario, release: Release, notice: str, t0: float, want: set[str], before: Phase
) -> dict[str, Any]:
    accepted = [a for a in world.ses.accepted if a.release_id == release.release_id and a.notice == notice]
    tiers = world.population.tier_of()
    times: dict[str, list[float]] = {}
    for a in accepted:
        if a.address.startswith("u"):  # a subscriber's (role copies are csm.* and oncall.*)
            times.setdefault(tiers[a.address.split("@")[1].split(".")[0]], []).append(a.at - t0)
    emails = len(accepted)
    floor = emails / s.rate
    p50, p99 = _percentiles(times)
    return {
        "name": s.name,
        "kind": s.kind,
        "subscribers": world.population.n,
        "accounts": len(world.population.accounts),
        "max_send_rate": s.rate,
        "severity": release.severity,
        "channel": release.channel,
        "faults": list(s.faults),
        "emails": emails,
        "floor_seconds": round(floor, 1),
        "last_email_seconds": round(max((a.at for a in accepted), default=t0) - t0, 1),
        "subscriber_emails": sum(len(x) for x in times.values()),
        "last_subscriber_seconds": round(max((max(x) for x in times.values()), default=0.0), 1),
        "target_seconds": round(floor + ALLOWANCE_AT_500 * 500 / s.rate, 1),
        **_exactly_once(Counter(a.address for a in accepted), want, notice, release),
        "throttles": world.ses.throttles - before.throttles,
        "p50_seconds": {str(release.severity): p50},
        "p99_seconds": {str(release.severity): p99},
        **_costs(world, emails, before),
        "fanout_last_page_seconds": round(world.functions["on_fanout"].last_end - t0, 1),
    }


def targets_met(f: dict[str, Any]) -> dict[str, bool]:
    """The issue's targets for a scenario: the last email by the target time, tiers in order within the
    severity (Elite's p99 before Premium's p50 before Xtreme's p50), exactly once."""
    p50, p99 = f["p50_seconds"][str(f["severity"])], f["p99_seconds"][str(f["severity"])]
    order = [p99.get("elite"), p50.get("premium"), p50.get("xtreme")]
    known = [x for x in order if x is not None]
    return {
        "last_email": f["last_email_seconds"] <= f["target_seconds"],
        "tier_order": all(a < b for a, b in zip(known, known[1:], strict=False)),
        "exactly_once": f["duplicates"] == f["missing"] == f["beyond_entitlement"] == 0,
    }


def _exactly_once(counts: Counter[str], want: set[str], notice: str, release: Release) -> dict[str, int]:
    """Duplicates per address; missing and beyond against the population's answer (for a release notice,
    its subscribers; for a recall, everyone the notice reached)."""
    role = {a for a in counts if not a.startswith("u")}
    people = set(counts) if notice != "release" else set(counts) - role
    beyond = people - want
    if notice == "release" and release.severity != 1:
        beyond |= {a for a in role if a.startswith("oncall.")}  # on-call copies are for severity 1 only
    return {
        "duplicates": sum(n - 1 for n in counts.values()),
        "missing": len(want - people),
        "beyond_entitlement": len(beyond),
    }


def _costs(world: World, emails: int, before: Phase) -> dict[str, Any]:
    used = {n: f for n, f in world.functions.items() if f.invocations}
    seconds = {n: f.seconds - (before.seconds or {}).get(n, 0.0) for n, f in used.items()}
    per_1000 = {n: round(1000 * x / max(emails, 1), 1) for n, x in seconds.items()}
    return {
        "requests_per_email": round((Phase.of(world).requests - before.requests) / max(emails, 1), 3),
        "peak_concurrency": {n: f.peak for n, f in used.items()},
        "lambda_seconds_per_1000_emails": {**per_1000, "total": round(sum(per_1000.values()), 1)},
        "invocations": {n: f.invocations for n, f in used.items()},
        "cold_starts": {n: f.cold_starts for n, f in used.items() if f.cold_starts},
        "errors": {n: f.errors for n, f in used.items() if f.errors},
        "dlq": {n: len(q.dlq) for n, q in world.queues.items()},
        "virtual_switches": world.vt.switches,
    }
