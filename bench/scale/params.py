"""The model's parameters, each with where it comes from (docs/delivery.md, "The model of AWS", lists them
with the AWS documentation page). Figures the code or the packaged template owns are read from there, not
copied: reserved concurrency and timeouts from .chalice/config.json, the send shares from
``infra.package.send_shares``, visibility and receive counts from ``infra.template``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import package, template

ROOT = Path(__file__).resolve().parents[2]
# The functions the model runs, by the SQS queue or schedule that triggers them.
FUNCTIONS = ("on_fanout", "on_deliver", "on_deliver_critical", "publish_scheduled", "reconcile_deliveries")


def chalice_functions() -> dict[str, dict[str, Any]]:
    """Each Lambda function's timeout and reserved concurrency as .chalice/config.json sets them."""
    doc = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return dict(doc["lambda_functions"])


def send_shares() -> dict[str, float]:
    """The packaged template's PATCHCAST_SEND_SHARE per sending function, by packaging's own function, from a
    template holding only what it reads (each function's handler and reserved concurrency)."""
    resources = {
        name: {
            "Type": "AWS::Serverless::Function",
            "Properties": {"Handler": f"app.{name}", "ReservedConcurrentExecutions": f.get("reserved_concurrency")},
        }
        for name, f in chalice_functions().items()
        if name in package.SEND_WEIGHT
    }
    return package.send_shares({"Resources": resources})


@dataclass(frozen=True)
class Params:
    max_send_rate: float = 14.0  # SES MaxSendRate, per second (the scenario's)
    max_24h_send: int = 2_000_000  # SES Max24HourSend: set to allow the run (issue 26)
    ses_latency: tuple[float, float] = (0.03, 0.09)  # s per SendEmail call, uniform (assumption, see docs)
    ses_burst_seconds: float = 1.0  # SES's bucket holds one second of MaxSendRate (assumption)
    dynamodb_latency: tuple[float, float] = (0.003, 0.008)  # s per request, uniform ("single-digit ms")
    dynamodb_page_bytes: int = 1024 * 1024  # a Query page stops at 1 MB
    audience_entry_bytes: int = 260  # an audience index item as the real table stores it (estimate)
    transaction_actions: int = 100  # TransactWriteItems limit
    batch_write_items: int = 25  # BatchWriteItem limit
    sqs_pickup: tuple[float, float] = (0.01, 0.2)  # s from visible to received by a poller (long polling)
    sqs_latency: tuple[float, float] = (0.005, 0.02)  # s per SendMessageBatch (assumption)
    sqs_max_receives: int = template.MAX_RECEIVES  # the redrive policy's maxReceiveCount
    visibility_factor: int = template.VISIBILITY_FACTOR  # visibility timeout = factor x function timeout
    pollers_initial: int = 5  # Lambda's SQS pollers at first
    pollers_per_minute: int = 300  # and their scale-up while messages wait
    account_concurrency: int = 1000  # Lambda's default per-Region concurrency quota
    cold_start: float = 0.8  # s of init for a new execution environment (assumption, see docs)
    idle_expiry: float = 600.0  # s an idle execution environment is kept (assumption)
    schedule_twice: float = 0.01  # odds that EventBridge delivers a scheduled event twice (assumption)
    reconcile_every: float = 300.0  # the reconciler's rate(5 minutes)
    # faults
    sqs_duplicates: float = 0.0  # odds a sent message is delivered twice
    kill_odds: float = 0.0  # odds a delivery invocation is killed mid-batch
    throttle_bursts: tuple[tuple[float, float], ...] = ()  # (start, seconds): SES refuses every send
    schedule_fired_twice: bool = False  # the publishing schedule fires twice
    seed: int = 26
    functions: dict[str, dict[str, Any]] = field(default_factory=chalice_functions)
    shares: dict[str, float] = field(default_factory=send_shares)

    def timeout(self, function: str) -> float:
        return float(self.functions[function]["lambda_timeout"])

    def reserved(self, function: str) -> int:
        return int(self.functions[function]["reserved_concurrency"])

    def share(self, function: str) -> float:
        return self.shares.get(function, 1.0)
